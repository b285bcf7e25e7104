-- Rooms, the event DAG, compact state storage and the room event stream.
--
-- State is stored as *state groups*: a group is either a full snapshot
-- (prev_group IS NULL) or a delta against prev_group. A message event shares
-- the group of the state it was sent in, so only state events create groups,
-- and each of those stores one row of delta. Every `snapshot_interval`
-- deltas a full snapshot bounds the cost of reading a group.

CREATE TABLE rooms (
    room_id TEXT PRIMARY KEY,
    room_version TEXT NOT NULL,
    creator TEXT,
    created_ts BIGINT NOT NULL,
    -- published in the public room directory
    is_public BOOLEAN NOT NULL DEFAULT FALSE
);

-- Every event we hold. stream_ordering is the position in the room event
-- stream (sync); (depth, stream_ordering) is the topological order (history).
CREATE TABLE events (
    stream_ordering BIGINT PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT,
    sender TEXT NOT NULL,
    depth BIGINT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    received_ts BIGINT NOT NULL,
    -- the wire PDU as canonical JSON (never rewritten; redaction is applied on read)
    json TEXT NOT NULL,
    -- state group of the room state *after* this event
    state_group BIGINT,
    outlier BOOLEAN NOT NULL DEFAULT FALSE,
    rejected_reason TEXT,
    -- the redaction event that applies to this event, if any
    redacted_by TEXT,
    -- for local events sent with a transaction id: the sender's device
    -- and txn id, so /sync can echo unsigned.transaction_id to that device
    txn_device_id TEXT,
    txn_id TEXT
);
CREATE INDEX events_room_stream ON events (room_id, stream_ordering);
CREATE INDEX events_room_topological ON events (room_id, depth, stream_ordering);
CREATE INDEX events_room_type_state ON events (room_id, type, state_key);

CREATE TABLE state_groups (
    id BIGINT PRIMARY KEY,
    room_id TEXT NOT NULL,
    -- NULL: state_group_entries hold the full state; else a delta on prev_group
    prev_group BIGINT,
    -- number of deltas between this group and the nearest full snapshot
    delta_depth INTEGER NOT NULL
);

CREATE TABLE state_group_entries (
    state_group BIGINT NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT NOT NULL,
    -- NULL in a delta: the entry is removed (only state resolution does that)
    event_id TEXT,
    PRIMARY KEY (state_group, type, state_key)
);

-- The room's current state, kept in step with the forward extremities.
CREATE TABLE current_state_events (
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    -- content.membership for m.room.member, else NULL
    membership TEXT,
    PRIMARY KEY (room_id, type, state_key)
);
CREATE INDEX current_state_members ON current_state_events (state_key, membership);

CREATE TABLE room_forward_extremities (
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, event_id)
);

-- Membership history: every m.room.member event, for "rooms of a user at a
-- stream position" (sync, history visibility) without reading event JSON.
CREATE TABLE room_memberships (
    event_id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    membership TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    forgotten BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX room_memberships_user ON room_memberships (user_id, stream_ordering);
CREATE INDEX room_memberships_room ON room_memberships (room_id, stream_ordering);

-- Idempotency of PUT .../send/{eventType}/{txnId} and friends: one row per
-- (user, device, request path). The event and this row commit together.
CREATE TABLE event_txn_ids (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_path TEXT NOT NULL,
    event_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_path)
);

-- m.relates_to of every event that has one (edits, reactions, threads, references).
CREATE TABLE event_relations (
    event_id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    relates_to_id TEXT NOT NULL,
    rel_type TEXT NOT NULL,
    aggregation_key TEXT,
    sender TEXT NOT NULL,
    type TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL
);
CREATE INDEX event_relations_target ON event_relations (relates_to_id, rel_type, stream_ordering);

CREATE TABLE room_aliases (
    room_alias TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    creator TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);
