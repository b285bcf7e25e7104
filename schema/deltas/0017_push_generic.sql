-- Unread counts that stay cheap in big rooms. Most members of a room have
-- the server-default push rules and are not named by a given event, so
-- their rules all give the same answer: that answer is stored once per
-- event here, not once per member. Members with rules of their own, and
-- members an event may single out (mentions, their name in the body, an
-- invite), still get a row of their own in event_push_actions, which
-- overrides this one for them (notif = FALSE there means "not for me").
CREATE TABLE event_push_generic (
    event_id TEXT NOT NULL PRIMARY KEY,
    room_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    thread_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    highlight BOOLEAN NOT NULL,
    actions TEXT NOT NULL,
    ts BIGINT NOT NULL
);
CREATE INDEX event_push_generic_room ON event_push_generic (room_id, stream_ordering);

-- Who a generic row applies to: the members joined when the event was
-- sent. One row per joined member and room, with the stream ordering of the
-- join that began the current membership (a display name change keeps it).
CREATE TABLE push_room_members (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);

-- The members joined now: since is the first join after their last
-- non-join membership (older events keep their per-member rows).
INSERT INTO push_room_members (user_id, room_id, since)
SELECT c.state_key, c.room_id, COALESCE((
    SELECT MIN(j.stream_ordering) FROM room_memberships j
    WHERE j.room_id = c.room_id AND j.user_id = c.state_key AND j.membership = 'join'
    AND j.stream_ordering > COALESCE((
        SELECT MAX(o.stream_ordering) FROM room_memberships o
        WHERE o.room_id = c.room_id AND o.user_id = c.state_key AND o.membership <> 'join'
    ), -1)
), 0)
FROM current_state_events c
WHERE c.type = 'm.room.member' AND c.membership = 'join';
