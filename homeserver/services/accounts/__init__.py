"""Accounts and authentication: registration, login, tokens, devices,
user-interactive auth, password changes and deactivation.

- ``passwords``: argon2id hashing (off the event loop) and the password policy.
- ``tokens``: access/refresh/login tokens; ``TokenService.requester_for_token``
  is what the HTTP edge authenticates every request with.
- ``devices``: listing, renaming and deleting devices (deleting a device
  revokes its tokens).
- ``login``: password and token login, new sessions (device + tokens), logout.
- ``registration``: username checks, account creation, registration tokens,
  shared-secret registration.
- ``uia``: user-interactive auth sessions, flows and stages.
- ``account``: password change and deactivation.
"""
