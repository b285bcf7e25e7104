-- Profiles and account data (client-server spec: "Profiles", "Client Config").

-- One row per local user, created in the registration transaction.
-- displayname / avatar_url are columns (the user directory and membership
-- events read them); every other profile field (spec v1.16 extended
-- profiles, e.g. m.tz) lives in extra_fields as a canonical JSON object.
CREATE TABLE profiles (
    user_id TEXT NOT NULL PRIMARY KEY,
    displayname TEXT,
    avatar_url TEXT,
    extra_fields TEXT NOT NULL DEFAULT '{}'
);

-- Account data, global (room_id = '') and per room. content is canonical
-- JSON. stream_id is the position of the row's latest change in the
-- account-data stream: /sync asks "what changed after position X".
CREATE TABLE account_data (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    stream_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, type)
);

CREATE INDEX account_data_user_stream ON account_data (user_id, stream_id);

-- The account-data stream's head: one row. A write bumps it with
-- UPDATE ... RETURNING inside its transaction; the row lock serialises
-- concurrent writers on PostgreSQL until commit, so positions are unique and
-- commit in increasing order (a reader never sees position N+1 before N).
CREATE TABLE account_data_stream_head (
    singleton INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
    position BIGINT NOT NULL
);

INSERT INTO account_data_stream_head (singleton, position) VALUES (1, 0);
