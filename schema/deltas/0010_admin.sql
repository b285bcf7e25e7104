-- Server administration (the /_synapse/admin API): account restrictions,
-- per-user rate limit overrides, blocked rooms, long-running admin tasks
-- (room deletion, history purges) and the per-user server notices rooms.

-- A shadow-banned user's events are accepted but never sent to anyone; a
-- locked account can do nothing but log out; a suspended account can read
-- but not send (spec: "Account suspension" / "Account locking").
ALTER TABLE users ADD COLUMN shadow_banned BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN locked BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN suspended BOOLEAN NOT NULL DEFAULT FALSE;

-- Per-user rate limit override; 0 and 0 mean "no limit".
CREATE TABLE ratelimit_overrides (
    user_id TEXT NOT NULL PRIMARY KEY,
    messages_per_second BIGINT NOT NULL,
    burst_count BIGINT NOT NULL
);

-- Rooms local users may not join; user_id is the admin who blocked it.
CREATE TABLE blocked_rooms (
    room_id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL
);

-- One row per admin task: kind is 'delete_room' or 'purge_history';
-- status is 'scheduled', 'active', 'complete' or 'failed'; result is
-- canonical JSON (NULL until done).
CREATE TABLE admin_tasks (
    task_id TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL,
    room_id TEXT,
    status TEXT NOT NULL,
    result TEXT,
    error TEXT,
    created_ts BIGINT NOT NULL
);
CREATE INDEX admin_tasks_room ON admin_tasks (room_id, created_ts);

-- The room each user receives server notices in.
CREATE TABLE server_notice_rooms (
    user_id TEXT NOT NULL PRIMARY KEY,
    room_id TEXT NOT NULL
);
