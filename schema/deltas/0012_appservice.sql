-- Application services: per-appservice delivery position and pending transactions.

-- How far each appservice's event feed has been read (events stream
-- ordering, inclusive), and the last transaction id handed out.
CREATE TABLE appservice_positions (
    as_id TEXT PRIMARY KEY,
    event_position BIGINT NOT NULL,
    last_txn_id BIGINT NOT NULL
);

-- Transactions built but not yet acknowledged by the appservice (200 OK).
-- Sent oldest first; deleted on success; survive restarts of either side.
CREATE TABLE appservice_txns (
    as_id TEXT NOT NULL,
    txn_id BIGINT NOT NULL,
    -- canonical JSON body of PUT /_matrix/app/v1/transactions/{txnId}
    body TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (as_id, txn_id)
);
