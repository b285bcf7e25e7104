-- The framework's own state: what it handled and what it already did on the homeserver.

-- Transactions (and other inbound deliveries, by kind) already handled: a
-- redelivery with the same id is acknowledged without being handled again.
CREATE TABLE as_handled_deliveries (
    kind TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    handled_ts BIGINT NOT NULL,
    PRIMARY KEY (kind, delivery_id)
);

-- Users we registered (or found already registered) on the homeserver.
CREATE TABLE as_registered_users (
    user_id TEXT NOT NULL PRIMARY KEY
);

-- Memberships of our users as we last saw or set them.
CREATE TABLE as_room_members (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    membership TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- Small per-room facts a bridge keeps (is this a DM, ...).
CREATE TABLE as_room_flags (
    room_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (room_id, name)
);
