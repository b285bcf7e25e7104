-- Push notifications (client-server spec: "Push Notifications"): push rules,
-- per-user notification rows (unread counts, GET /notifications) and pushers.
-- JSON columns hold canonical JSON.

-- A user's own push rules. Within (user_id, kind) rules are ordered by
-- priority ascending: 0 is the most important. Server-default rules are not
-- stored here (see push_rule_defaults).
CREATE TABLE push_rules (
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    priority BIGINT NOT NULL,
    -- override/underride: JSON array of conditions; NULL for other kinds
    conditions TEXT,
    -- content rules: the glob
    pattern TEXT,
    actions TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    PRIMARY KEY (user_id, kind, rule_id)
);

-- A user's changes to server-default rules (ids starting with '.'): only
-- the enabled flag and the actions can change; NULL keeps the default.
CREATE TABLE push_rule_defaults (
    user_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    enabled BOOLEAN,
    actions TEXT,
    PRIMARY KEY (user_id, rule_id)
);

-- One row per (user, event) whose push rules said "notify". thread_id is
-- 'main' for the main timeline, else the thread root's event id.
-- Unread counts are the rows after the user's read position in the room.
CREATE TABLE event_push_actions (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    thread_id TEXT NOT NULL,
    notif BOOLEAN NOT NULL,
    highlight BOOLEAN NOT NULL,
    actions TEXT NOT NULL,
    -- when the notification was created (ms), the "ts" of GET /notifications
    ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, event_id)
);
CREATE INDEX event_push_actions_user_room ON event_push_actions (user_id, room_id, stream_ordering);
CREATE INDEX event_push_actions_user_stream ON event_push_actions (user_id, stream_ordering);

-- Read positions that are not receipts: sending an event in a room marks
-- everything up to it as read for the sender (spec "Marking notifications
-- as read"). thread_id '' = the whole room, else as in event_push_actions.
-- The effective read position is the greater of this and the m.read /
-- m.read.private receipts (table receipts).
CREATE TABLE push_read_positions (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, thread_id)
);

-- Pushers (POST /pushers/set). id is a random 62-bit integer.
CREATE TABLE pushers (
    id BIGINT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    -- the access token / device that created the pusher, when known
    access_token_id BIGINT,
    device_id TEXT,
    kind TEXT NOT NULL,
    app_id TEXT NOT NULL,
    pushkey TEXT NOT NULL,
    -- when the pushkey was last set, in seconds (the gateway's pushkey_ts)
    pushkey_ts BIGINT NOT NULL,
    app_display_name TEXT NOT NULL,
    device_display_name TEXT NOT NULL,
    profile_tag TEXT,
    lang TEXT NOT NULL,
    -- the client's data object, including url and format
    data TEXT NOT NULL,
    -- ms since the first delivery failure of a run of failures; NULL when healthy
    failing_since BIGINT,
    -- stream ordering of the last event delivered
    last_stream_ordering BIGINT,
    UNIQUE (user_id, app_id, pushkey)
);
CREATE INDEX pushers_app_pushkey ON pushers (app_id, pushkey);
