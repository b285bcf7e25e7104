-- Sync: filters, receipts, to-device messages, presence and the device-list
-- change stream (client-server spec: "Filtering", "Receipts", "Send-to-Device
-- messaging", "Presence", "End-to-End Encryption" device list tracking).
-- Typing notifications are in memory only.
--
-- Each stream table has a stream_id column: /sync asks "what changed after
-- position X, up to position Y". Positions are allocated by the process's
-- stream writer (storage/streams.py) starting after MAX(stream_id).

-- Uploaded filters; filter_id is per user, allocated as MAX + 1 in the
-- writing transaction. filter_json is canonical JSON.
CREATE TABLE user_filters (
    user_id TEXT NOT NULL,
    filter_id BIGINT NOT NULL,
    filter_json TEXT NOT NULL,
    PRIMARY KEY (user_id, filter_id)
);

-- The latest receipt of each (room, type, user, thread). thread_id is ''
-- for an unthreaded receipt. data is canonical JSON (at least {"ts": …}).
-- m.read.private rows are only ever served to their own user.
CREATE TABLE receipts (
    room_id TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    user_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    data TEXT NOT NULL,
    stream_id BIGINT NOT NULL,
    PRIMARY KEY (room_id, receipt_type, user_id, thread_id)
);
CREATE INDEX receipts_stream ON receipts (stream_id);
CREATE INDEX receipts_room_stream ON receipts (room_id, stream_id);

-- To-device inbox. A row is deleted once the device syncs with a since
-- token at or past its stream_id (the client acknowledged it).
CREATE TABLE device_inbox (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    stream_id BIGINT NOT NULL,
    message_json TEXT NOT NULL
);
CREATE INDEX device_inbox_device_stream ON device_inbox (user_id, device_id, stream_id);

-- Idempotency of PUT /sendToDevice/{eventType}/{txnId}.
CREATE TABLE to_device_txns (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_path TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_path)
);

-- The latest presence of each local user.
CREATE TABLE presence (
    user_id TEXT NOT NULL PRIMARY KEY,
    state TEXT NOT NULL,
    status_msg TEXT,
    last_active_ts BIGINT NOT NULL,
    currently_active BOOLEAN NOT NULL DEFAULT FALSE,
    stream_id BIGINT NOT NULL
);
CREATE INDEX presence_stream ON presence (stream_id);

-- Device-list changes: one row per user whose devices (or keys) changed at
-- stream_id. /sync reports users sharing a room with the syncing user.
CREATE TABLE device_lists_stream (
    stream_id BIGINT NOT NULL,
    user_id TEXT NOT NULL
);
CREATE INDEX device_lists_stream_id ON device_lists_stream (stream_id);
CREATE INDEX device_lists_stream_user ON device_lists_stream (user_id, stream_id);
