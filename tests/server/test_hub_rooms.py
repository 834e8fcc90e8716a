"""Rooms in the hub: each room's events reach its members only, once each, in server order."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpchat.core.errors import RoomLimit
from tcpchat.core.events import Join, Leave, Message, NickChange, Notice, Part
from tcpchat.core.hub import Peer
from tcpchat.core.render import Rendering
from tcpchat.core.rooms import RoomRules
from tcpchat.server.local_hub import LocalHub
from tests.support.fakes import FakeTransport, next_pass, writes

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def member(hub: LocalHub, nick: str, *rooms: str, json_mode: bool = False) -> Peer:
    peer = Peer(cast(asyncio.WriteTransport, FakeTransport()), nick)
    if json_mode:
        peer.rendering = Rendering.JSON
    hub.register(peer, nick)
    for room in rooms:
        hub.join_room(peer, room)
    return peer


def say(hub: LocalHub, number: int, sender: Peer, room: str) -> None:
    where = hub.room(room)
    assert where is not None
    event = Message(number, NOW, sender.nick or "", f"line {number}", where.name)
    hub.publish(event, room=where, exclude=sender)


def ids(peer: Peer) -> list[int]:
    """The ids of the JSON events written to ``peer``."""
    return _ids(peer)


async def test_a_member_of_two_rooms_gets_both_in_server_order_in_one_write() -> None:
    """a1 b1 a2 published in one pass reach a member of #a and #b as a1 b1 a2, in one write."""
    hub = LocalHub()
    alice = member(hub, "alice", "#a", "#b")
    both = member(hub, "both", "#a", "#b", json_mode=True)
    say(hub, 1, alice, "#a")
    say(hub, 2, alice, "#b")
    say(hub, 3, alice, "#a")
    await next_pass()
    assert len(writes(both)) == 1
    assert ids(both) == [1, 2, 3]


async def test_members_of_one_active_room_share_its_bytes() -> None:
    """Members who hear from one room only get that room's joined bytes, the same object."""
    hub = LocalHub()
    alice = member(hub, "alice", "#a", "#b")
    bob = member(hub, "bob", "#a", json_mode=True)
    carol = member(hub, "carol", "#a", "#c", json_mode=True)
    dave = member(hub, "dave", "#b")
    say(hub, 1, alice, "#a")
    say(hub, 2, alice, "#b")
    say(hub, 3, alice, "#a")
    await next_pass()
    assert writes(bob)[0] is writes(carol)[0]
    assert b"line 2" not in writes(bob)[0]
    assert writes(dave)[0].count(b"\n") == 1


async def test_a_text_member_of_several_rooms_sees_the_room_on_each_line() -> None:
    """A text member in two rooms gets `#room` after the time; one in one room does not."""
    hub = LocalHub()
    alice = member(hub, "alice", "#a")
    both, one = member(hub, "both", "#a", "#b"), member(hub, "one", "#a")
    say(hub, 1, alice, "#a")
    await next_pass()
    assert writes(both)[0].endswith(b"] #a <alice> line 1\n")
    assert writes(one)[0].endswith(b"] <alice> line 1\n")


async def test_a_nick_change_reaches_a_member_sharing_two_rooms_once() -> None:
    """Announced nick changes reach each co-member once, and the renamed member too."""
    hub = LocalHub()
    alice = member(hub, "alice", "#a", "#b")
    bob = member(hub, "bob", "#a", "#b", json_mode=True)
    outsider = member(hub, "outsider", "#c", json_mode=True)
    hub.rename(alice, "alicia")
    hub.announce(NickChange(1, NOW, "alice", "alicia"), about=alice)
    await next_pass()
    assert ids(bob) == [1]
    assert b"alicia" in b"".join(writes(alice))
    assert ids(outsider) == []


async def test_an_empty_room_disappears_but_the_default_room_stays() -> None:
    """Parting the last member removes a room; the default room outlives its members."""
    hub = LocalHub()
    alice = member(hub, "alice", "#lobby", "#dev")
    dev = hub.room("#dev")
    assert dev is not None
    hub.set_topic(dev, "ship it", "alice")
    hub.leave(alice)
    assert hub.room("#dev") is None
    assert hub.room("#lobby") is not None


async def test_a_kept_room_survives_empty_with_its_topic() -> None:
    """A room the keeps_room policy keeps (history, later) stays with its topic."""
    hub = LocalHub(keeps_room=lambda room: room.key == "#dev")
    alice = member(hub, "alice", "#dev")
    dev = hub.room("#dev")
    assert dev is not None
    hub.set_topic(dev, "ship it", "alice")
    hub.leave(alice)
    kept = hub.room("#DEV")
    assert kept is dev
    assert kept.topic == "ship it"


async def test_the_room_limits_are_enforced() -> None:
    """A server's last room and a member's last room are refused with room_limit."""
    hub = LocalHub(rules=RoomRules(max_rooms=2, max_rooms_per_member=2))
    alice = member(hub, "alice", "#lobby", "#a")
    with pytest.raises(RoomLimit, match="2 rooms, the most one may be in"):
        hub.join_room(alice, "#b")
    bob = member(hub, "bob")
    with pytest.raises(RoomLimit, match="the server has its 2 rooms"):
        hub.join_room(bob, "#b")


# -- the property: random joins, parts, nick changes, quits and lines ----------------


@dataclass
class Model:
    """What each member should receive: the ids of the events of its rooms, in order."""

    rooms: dict[str, set[str]] = field(default_factory=dict)  # nick -> its rooms
    expected: dict[str, list[int]] = field(default_factory=dict)


NICKS = ("m0", "m1", "m2", "m3")
ROOMS = ("#a", "#b", "#c")
operations = st.lists(
    st.tuples(
        st.sampled_from(
            ("join", "part", "nick", "quit", "say", "say", "say", "say", "send", "pass", "pass")
        ),
        st.sampled_from(NICKS),
        st.sampled_from(ROOMS),
    ),
    max_size=60,
)


async def _run(steps: list[tuple[str, str, str]], start_rooms: int = 2) -> None:
    hub = LocalHub()
    model = Model()
    peers: dict[str, Peer] = {}  # the current peer of each member name
    names: dict[str, str] = {}  # member name -> its nickname now
    received: dict[Peer, list[int]] = {}
    passes_written: dict[Peer, int] = {}
    counter = iter(range(1, 10_000))

    def connect(name: str) -> Peer:
        peer = Peer(cast(asyncio.WriteTransport, FakeTransport()), name)
        peer.rendering = Rendering.JSON
        hub.register(peer, name)
        peers[name], names[name] = peer, name
        model.rooms[name] = set()
        model.expected[name] = []
        received[peer] = []
        return peer

    def co_members(name: str) -> set[str]:
        return {other for other, rooms in model.rooms.items() if rooms & model.rooms[name]}

    def room_members(room: str) -> set[str]:
        return {name for name, rooms in model.rooms.items() if room in rooms}

    for name in NICKS:
        connect(name)
    # Everyone starts in two rooms, so that lines from several rooms meet in one pass
    # (or in one, so that most passes take the one-room paths).
    start = [("join", name, room) for name in NICKS for room in ROOMS[:start_rooms]]
    for action, name, room in [*start, ("pass", "m0", "#a"), *steps]:
        peer = peers[name]
        number = next(counter)
        match action:
            case "join" if room not in model.rooms[name]:
                where = hub.join_room(peer, room)
                model.rooms[name].add(room)
                hub.publish(Join(number, NOW, names[name], room), room=where)
                for other in room_members(room):
                    model.expected[other].append(number)
            case "part" if room in model.rooms[name]:
                parted = hub.room(room)
                assert parted is not None
                hub.publish(Part(number, NOW, names[name], room, ""), room=parted)
                for other in room_members(room):
                    model.expected[other].append(number)
                hub.part_room(peer, parted)
                model.rooms[name].discard(room)
            case "say" if room in model.rooms[name]:
                say(hub, number, peer, room)
                for other in room_members(room) - {name}:
                    model.expected[other].append(number)
            case "nick":
                new = f"{name}x{number}"
                hub.rename(peer, new)
                hub.announce(NickChange(number, NOW, names[name], new), about=peer)
                names[name] = new
                for other in co_members(name) | {name}:
                    model.expected[other].append(number)
            case "quit":
                hub.announce(Leave(number, NOW, names[name], "quit"), about=peer, exclude=peer)
                for other in co_members(name) - {name}:
                    model.expected[other].append(number)
                hub.leave(peer)
                hub.flush(peer)
                assert _ids(peer) == model.expected[name], name
                connect(name)  # the same member comes back as a new connection
            case "send":
                hub.send(peer, Notice(number, NOW, "just for you"))
                model.expected[name].append(number)
            case "pass":
                await next_pass()
                for each in received:
                    assert len(_t(each).writes) - passes_written.get(each, 0) <= 1
                    passes_written[each] = len(_t(each).writes)
            case _:
                pass
    await next_pass()
    for name, peer in peers.items():
        assert _ids(peer) == model.expected[name], name


def _t(peer: Peer) -> FakeTransport:
    return cast(FakeTransport, peer.transport)


def _ids(peer: Peer) -> list[int]:
    return [json.loads(line)["id"] for line in bytes(_t(peer).written).splitlines()]


@settings(max_examples=150, deadline=None)
@given(operations)
def test_every_member_gets_exactly_its_rooms_events_once_in_server_order(
    steps: list[tuple[str, str, str]],
) -> None:
    """Random joins, parts, nick changes, quits and lines: each member receives the events
    of its rooms (and its own), each once, in the order the server made them."""
    asyncio.run(_run(steps))


@settings(max_examples=150, deadline=None)
@given(operations)
def test_members_of_one_room_each_get_its_events_once_in_server_order(
    steps: list[tuple[str, str, str]],
) -> None:
    """The same, starting from one room each, where senders take the shared bytes cut
    around their own lines: each member still gets its rooms' events once, in order."""
    asyncio.run(_run(steps, start_rooms=1))
