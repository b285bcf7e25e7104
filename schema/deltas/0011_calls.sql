-- Calls: OpenID tokens for widgets and call services, and delayed events
-- (MSC4140) that MatrixRTC clients schedule to leave a call reliably.

-- Tokens from POST /user/{userId}/openid/request_token; another server or a
-- widget backend checks them at GET /_matrix/federation/v1/openid/userinfo.
CREATE TABLE openid_tokens (
    token TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_ts BIGINT NOT NULL
);
CREATE INDEX openid_tokens_expiry ON openid_tokens (expires_ts);

-- One row per delayed event. status: 'scheduled' until it is sent
-- ('sent', with event_id) or cancelled ('cancelled', with error when a
-- failure cancelled it). send_ts = running_since + delay_ms.
CREATE TABLE delayed_events (
    delay_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    device_id TEXT,
    room_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    -- NULL for a message event
    state_key TEXT,
    content TEXT NOT NULL,
    delay_ms BIGINT NOT NULL,
    running_since BIGINT NOT NULL,
    send_ts BIGINT NOT NULL,
    status TEXT NOT NULL,
    event_id TEXT,
    error TEXT,
    finalised_ts BIGINT
);
CREATE INDEX delayed_events_user ON delayed_events (user_id, status);
CREATE INDEX delayed_events_due ON delayed_events (status, send_ts);
CREATE INDEX delayed_events_state ON delayed_events (room_id, event_type, state_key, status);
