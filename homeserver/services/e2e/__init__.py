"""End-to-end encryption support on the server side.

- ``keys``: device, one-time and fallback keys (upload, query, claim), the
  device-list changes they cause, and the counts /sync reports;
- ``cross_signing``: master / self-signing / user-signing keys and the
  signatures made with them;
- ``backup``: server-side room key backups;
- ``validation``: shape checks shared by the three.

The server never sees a private key or a plaintext: it stores what clients
upload, checks signatures where the spec asks it to, and hands keys out.
"""
