"""Backup and restore: ``homeserver backup`` / ``homeserver restore``.

An operations tool at the composition-root level: it reads the database
through ``homeserver.storage.db`` and the configuration, never through the
services.

- ``archive.py``: the archive format (a tar.gz with ``manifest.json``),
  writing it, and checking every member against the manifest's sizes and
  SHA-256 sums before anything is trusted.
- ``dump.py``: a logical, backend-neutral dump of every table, read inside
  one consistent snapshot while the server keeps writing, plus the media
  files, the signing key and the config file.
- ``restore.py``: loads an archive into an empty database of either backend
  (so it is also the SQLite → PostgreSQL migration path) and puts the media
  files and signing key in place.
- ``staging.py``: the scratch directories both write under
  ``<data_dir>/backup-staging/``, and removing what killed runs left there.

See docs/backup.md for the operator's view.
"""

from homeserver.backup.archive import BackupError

__all__ = ["BackupError"]
