-- Identical uploads share one stored file: each upload looks its hash up.
CREATE INDEX local_media_sha256 ON local_media (sha256);
