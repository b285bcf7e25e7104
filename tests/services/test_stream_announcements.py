"""Streams and the notifier move together.

A stream position becomes current in the same step in which the notifier
learns what it changed. So a reader that takes the current position and
then asks the notifier which rooms or users changed since its last token
gets every change at or below that position, whatever order concurrent
writers finish in. These tests drive a generator and a notifier through
random interleavings of writers (hypothesis state machine).
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from homeserver.core.tokens import StreamToken
from homeserver.notifier import Notifier
from homeserver.storage.streams import Announcement, PositionBatch, StreamIdGenerator

ROOMS = ["!a:x", "!b:x", "!c:x"]
USERS = ["@u:x", "@v:x"]


class StreamAndNotifier(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.stream = StreamIdGenerator(0)
        self.notifier = Notifier(StreamToken())
        self.notifier.follow("to_device", self.stream)
        self.heard: list[Announcement] = []
        self.stream.on_advance(lambda _position, changes: self.heard.extend(changes))
        self.open: list[PositionBatch] = []
        #: every committed change: (position, rooms, users)
        self.committed: list[Announcement] = []
        #: positions of batches that failed
        self.abandoned: set[int] = set()
        #: tokens readers took, with the changes they were told of
        self.readers: list[int] = [0]

    @rule(size=st.integers(1, 3))
    def begin(self, size: int) -> None:
        batch = PositionBatch(self.stream)
        for _ in range(size):
            batch.next()
        self.open.append(batch)

    @rule(
        data=st.data(),
        rooms=st.lists(st.sampled_from(ROOMS), max_size=2),
        users=st.lists(st.sampled_from(USERS), max_size=1),
        commits=st.booleans(),
    )
    def end(self, data: st.DataObject, rooms: list[str], users: list[str], commits: bool) -> None:
        if not self.open:
            return
        batch = data.draw(st.sampled_from(self.open))
        self.open.remove(batch)
        if commits:
            for position in batch.positions:
                batch.announce(rooms=rooms, users=users, position=position)
                self.committed.append(Announcement(position, tuple(rooms), tuple(users)))
        else:
            self.abandoned.update(batch.positions)
        self.stream.finish_many(batch.positions, batch.announcements)

    @rule()
    def reader_takes_a_token(self) -> None:
        """A /sync: current position, then the notifier's view below it."""
        since = self.readers[-1]
        now = self.stream.current_position()
        expected_rooms = {r for c in self.committed if since < c.position <= now for r in c.rooms}
        expected_users = {u for c in self.committed if since < c.position <= now for u in c.users}
        told = self.notifier.rooms_changed_since("to_device", since, ROOMS)
        assert expected_rooms <= told, (since, now, expected_rooms, told)
        for user in expected_users:
            assert self.notifier.changed_since("to_device", since, users=[user])
        self.readers.append(now)

    @invariant()
    def nothing_is_heard_above_the_current_position(self) -> None:
        now = self.stream.current_position()
        assert all(a.position <= now for a in self.heard)
        assert self.notifier.stream_position("to_device") == now

    @invariant()
    def every_change_at_or_below_the_position_was_heard_once_in_order(self) -> None:
        now = self.stream.current_position()
        expected = sorted(
            (c.position for c in self.committed if c.position <= now),
        )
        assert [a.position for a in self.heard] == expected

    @invariant()
    def the_position_stops_below_the_oldest_open_batch(self) -> None:
        open_positions = [p for b in self.open for p in b.positions]
        if open_positions:
            assert self.stream.current_position() == min(open_positions) - 1


TestStreamAndNotifier = StreamAndNotifier.TestCase
TestStreamAndNotifier.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)


def test_a_change_finishing_above_an_open_position_waits_for_it() -> None:
    stream = StreamIdGenerator(10)
    notifier = Notifier(StreamToken(room=10))
    notifier.follow("room", stream)
    low, high = PositionBatch(stream), PositionBatch(stream)
    low.next()
    high.next()
    high.announce(rooms=["!b:x"])
    stream.finish_many(high.positions, high.announcements)
    # Position 12 committed, but 11 is still open: nobody may see 12 yet.
    assert stream.current_position() == 10
    assert notifier.rooms_changed_since("room", 10, ["!b:x"]) == set()
    low.announce(rooms=["!a:x"])
    stream.finish_many(low.positions, low.announcements)
    assert stream.current_position() == 12
    assert notifier.rooms_changed_since("room", 10, ["!a:x", "!b:x"]) == {"!a:x", "!b:x"}
    assert notifier.position == 12


def test_a_failed_batch_announces_nothing_and_leaves_a_gap() -> None:
    stream = StreamIdGenerator(0)
    notifier = Notifier(StreamToken())
    notifier.follow("room", stream)
    try:
        with stream.allocating() as positions:
            positions.next()
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert stream.current_position() == 1
    assert notifier.rooms_changed_since("room", 0, ROOMS) == set()
    assert notifier.position == 1
