-- Reports of users (POST /users/{userId}/report), kept for the server's admins.

CREATE TABLE user_reports (
    id BIGINT PRIMARY KEY,
    target_user_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_ts BIGINT NOT NULL
);
CREATE INDEX user_reports_received ON user_reports (received_ts);
CREATE INDEX user_reports_target ON user_reports (target_user_id);
