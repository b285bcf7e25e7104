-- Accounts, devices, tokens and user-interactive auth
-- (client-server spec: "Account registration and management", "Login",
-- "Device management", "User-Interactive Authentication API").
--
-- Secrets are never stored: access, refresh and login tokens are kept as the
-- hex SHA-256 of the token. Numeric ids (access_tokens.id, refresh_tokens.id)
-- are random 62-bit integers chosen by the server, so the same DDL works on
-- both backends without sequences.

-- One row per local account. A deactivated account keeps its row so that its
-- user id is never handed out again.
CREATE TABLE users (
    user_id TEXT NOT NULL PRIMARY KEY,
    -- argon2id PHC string; NULL when the account cannot log in with a password.
    password_hash TEXT,
    created_ts BIGINT NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    is_guest BOOLEAN NOT NULL DEFAULT FALSE,
    deactivated BOOLEAN NOT NULL DEFAULT FALSE,
    erased BOOLEAN NOT NULL DEFAULT FALSE,
    -- e.g. 'bot', 'support'; NULL for ordinary users.
    user_type TEXT,
    -- The application service that registered the user, if any.
    appservice_id TEXT
);

CREATE TABLE devices (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    display_name TEXT,
    created_ts BIGINT NOT NULL,
    last_seen_ts BIGINT,
    last_seen_ip TEXT,
    user_agent TEXT,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE access_tokens (
    id BIGINT NOT NULL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    device_id TEXT,
    created_ts BIGINT NOT NULL,
    -- Expiry in ms since the epoch; NULL: never expires.
    valid_until_ms BIGINT,
    -- The refresh token issued together with this access token, if any.
    refresh_token_id BIGINT,
    -- Whether the token has authorised a request yet: the first use of a
    -- refreshed access token revokes the refresh token it replaced.
    used BOOLEAN NOT NULL DEFAULT FALSE,
    last_used_ts BIGINT,
    -- Set when an admin acts as another user: the admin's user id.
    puppets_user_id TEXT
);

CREATE INDEX access_tokens_user_device ON access_tokens (user_id, device_id);

CREATE TABLE refresh_tokens (
    id BIGINT NOT NULL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    -- NULL: never expires.
    expiry_ts BIGINT,
    -- The refresh token that replaced this one; this one is deleted once the
    -- replacement (or its access token) is used.
    next_token_id BIGINT
);

CREATE INDEX refresh_tokens_user_device ON refresh_tokens (user_id, device_id);
CREATE INDEX refresh_tokens_next ON refresh_tokens (next_token_id);

-- Short-lived single-use tokens for m.login.token.
CREATE TABLE login_tokens (
    token_hash TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    expiry_ts BIGINT NOT NULL
);

-- Tokens for m.login.registration_token (spec v1.2). ``pending`` counts UIA
-- sessions that passed the stage but have not registered yet; ``completed``
-- counts registrations. A token is valid while pending + completed is below
-- uses_allowed (NULL: unlimited) and expiry_time (ms, NULL: never) is ahead.
CREATE TABLE registration_tokens (
    token TEXT NOT NULL PRIMARY KEY,
    uses_allowed INTEGER,
    pending INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    expiry_time BIGINT
);

-- User-interactive auth sessions. serverdict and clientdict are canonical JSON
-- objects; a session is bound to the uri and method of the request that
-- started it.
CREATE TABLE ui_auth_sessions (
    session_id TEXT NOT NULL PRIMARY KEY,
    created_ts BIGINT NOT NULL,
    serverdict TEXT NOT NULL,
    clientdict TEXT NOT NULL,
    uri TEXT NOT NULL,
    method TEXT NOT NULL,
    description TEXT NOT NULL
);

CREATE INDEX ui_auth_sessions_created ON ui_auth_sessions (created_ts);

-- The stages a session has completed; result is canonical JSON (the user id
-- a password stage authenticated, or true).
CREATE TABLE ui_auth_sessions_credentials (
    session_id TEXT NOT NULL,
    stage_type TEXT NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (session_id, stage_type)
);

-- Single-use nonces of shared-secret registration (/_synapse/admin/v1/register).
CREATE TABLE registration_nonces (
    nonce TEXT NOT NULL PRIMARY KEY,
    expiry_ts BIGINT NOT NULL
);
