-- Reports of events and rooms (POST /rooms/{roomId}/report[/{eventId}]),
-- kept for the server's admins. event_id is NULL for a report of a room.

CREATE TABLE content_reports (
    id BIGINT PRIMARY KEY,
    room_id TEXT NOT NULL,
    event_id TEXT,
    user_id TEXT NOT NULL,
    reason TEXT,
    score BIGINT,
    received_ts BIGINT NOT NULL
);
CREATE INDEX content_reports_received ON content_reports (received_ts);
