-- Media a server admin has protected from quarantine (the /_synapse/admin
-- media API: protect / unprotect).
ALTER TABLE local_media ADD COLUMN safe_from_quarantine BOOLEAN NOT NULL DEFAULT FALSE;
