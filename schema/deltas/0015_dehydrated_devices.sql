-- The dehydrated device of each user (MSC3814): at most one per user. The
-- device itself is an ordinary row of `devices`; this row says which one it
-- is and holds the opaque `device_data` the client stored with it.
CREATE TABLE dehydrated_devices (
    user_id TEXT NOT NULL PRIMARY KEY,
    device_id TEXT NOT NULL,
    device_data TEXT NOT NULL
);
