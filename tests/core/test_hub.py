"""Which events a big room keeps to whom they are about, by plain calls."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tcpchat.core.events import Event, Join, Kick, Leave, Message, NickChange, Part
from tcpchat.core.hub import Peer, Room, kept_quiet
from tcpchat.core.rooms import RoomRules
from tests.support.fakes import FakeTransport

TS = datetime(2026, 1, 1, tzinfo=UTC)
RULES = RoomRules(quiet_joins_above=2)


def room_of(size: int) -> Room:
    room = Room("#big")
    for number in range(size):
        peer = Peer(FakeTransport())
        peer.nick = f"user{number}"
        room.add(peer.nick, peer)
    return room


@pytest.mark.parametrize(
    "event",
    [Join(1, TS, "user0", "#big"), Part(1, TS, "user0", "#big", ""), Leave(1, TS, "user0", "quit")],
)
def test_comings_and_goings_are_kept_quiet_in_a_big_room(event: Event) -> None:
    """A join, a part and a quit in a room past the threshold reach only their subject."""
    assert kept_quiet(event, room_of(3), RULES)
    assert not kept_quiet(event, room_of(2), RULES)


@pytest.mark.parametrize(
    "event",
    [
        Message(1, TS, "user0", "hi", "#big"),
        NickChange(1, TS, "user0", "user9"),
        Kick(1, TS, "user0", "user1", "#big", "spam"),
    ],
)
def test_what_members_say_and_moderation_are_told_to_a_big_room(event: Event) -> None:
    """Messages, nick changes and kicks reach the whole of a big room."""
    assert not kept_quiet(event, room_of(3), RULES)


def test_a_part_read_after_the_parter_left_counts_the_parter() -> None:
    """A cluster node reads a part once the parter is gone: the room is counted with it."""
    assert kept_quiet(Part(1, TS, "gone", "#big", ""), room_of(2), RULES)
