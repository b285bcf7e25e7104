-- The media repository (client-server spec: "Content repository").
--
-- File bytes live on the filesystem under media.store_path; these tables hold
-- what is known about them. A row with upload_name/content_type/size NULL and
-- unused_expires_at set is an id reserved by POST /_matrix/media/v1/create
-- that has not been uploaded to yet.

CREATE TABLE local_media (
    media_id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    content_type TEXT,
    upload_name TEXT,
    size BIGINT,
    sha256 TEXT,
    created_ts BIGINT NOT NULL,
    quarantined BOOLEAN NOT NULL DEFAULT FALSE,
    -- Uploaded while media.allow_legacy_unauthenticated was false: never served
    -- by the unauthenticated /_matrix/media/v3/download and /thumbnail.
    authenticated_only BOOLEAN NOT NULL DEFAULT TRUE,
    -- Set while a /create'd id waits for its upload; NULL once uploaded.
    unused_expires_at BIGINT
);

-- Quota checks sum a user's sizes.
CREATE INDEX local_media_user ON local_media (user_id);

-- Thumbnails generated on demand and cached on disk. ``path`` is relative
-- to the store path.
CREATE TABLE local_media_thumbnails (
    media_id TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    method TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (media_id, width, height, method, content_type)
);
