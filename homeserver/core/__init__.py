"""The pure protocol core: values in, values out, no I/O.

Nothing in this package touches the network, the disk, the clock or a source
of randomness, and nothing here is async; ``tests/core/test_purity.py`` checks
that. Time (``now_ms``, ``origin_server_ts``) and randomness (event id
localparts, key seeds) are passed in by the caller.

Contents:

- ``ids``: identifier NewTypes (``UserID``, ``RoomID``, ...) and the
  ``parse_*`` grammar checks that create them.
- ``canonical_json``: the canonical JSON encoding and the number rules of
  each room version.
- ``room_versions``: one record of feature flags per room version.
- ``redaction``: the redaction algorithm of every room version.
- ``signing``: content hashes, reference hashes, event ids, signing and
  verifying JSON and events, the signing key file format.
- ``events``: the immutable ``PDU`` type.
- ``validation``: format checks on received PDUs (``pdu_from_wire``).
- ``build``: assembling, hashing and signing a new PDU (``build_pdu``).
- ``auth``: the authorization rules.
- ``state_res``: state resolution.
- ``errors``: error codes, the ``MatrixError`` family and the core's domain
  errors.
"""
