"""The media repository: uploads, downloads and thumbnails of local media.

- ``files.py``: the on-disk layout; uploads stream to a temp file (hashed as
  they go, never held whole in memory) and are renamed into place.
- ``thumbnail.py``: picking a configured thumbnail size and rendering it with
  Pillow in a thread.
- ``service.py``: the use cases (upload, ``/create`` + async upload, download
  with waiting for a pending upload, thumbnails, quotas), over
  ``storage.stores.media``.

Media of other servers is not fetched (there is no federation client yet):
asking for it answers 404 M_NOT_FOUND.
"""

from homeserver.services.media.service import MediaFile, MediaService

__all__ = ["MediaFile", "MediaService"]
