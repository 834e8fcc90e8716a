"""The hub's per-pass fan-out: one write per member per pass, in the order things happened."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import cast

from websockets.frames import Frame, Opcode

from tcpchat.core.events import Event, Leave, Message, Notice
from tcpchat.core.hub import QUEUE_EXCEEDED, Peer
from tcpchat.core.pacing import FlushGate
from tcpchat.core.render import Rendering, encode
from tcpchat.server.local_hub import LocalHub
from tests.support.fakes import FakeTransport, next_pass, writes

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LOBBY = "#lobby"


def member(hub: LocalHub, nick: str, *rooms: str) -> Peer:
    """A peer registered as ``nick`` and in ``rooms`` (default: the default room)."""
    peer = Peer(cast(asyncio.WriteTransport, FakeTransport()), nick)
    hub.register(peer, nick)
    for room in rooms or (LOBBY,):
        hub.join_room(peer, room)
    return peer


def publish(hub: LocalHub, event: Event, exclude: Peer | None = None, room: str = LOBBY) -> None:
    """Publish ``event`` to ``room`` (default: the default room)."""
    where = hub.room(room)
    assert where is not None
    hub.publish(event, room=where, exclude=exclude)


def message(number: int, nick: str = "alice") -> Event:
    return Message(number, NOW, nick, f"line {number}")


async def test_a_pass_is_one_write_per_member_with_the_same_bytes() -> None:
    """Members who sent nothing in a pass share one joined bytes object, written once."""
    hub = LocalHub()
    alice, bob, carol = member(hub, "alice"), member(hub, "bob"), member(hub, "carol")
    for number in range(3):
        publish(hub, message(number), exclude=alice)
    await next_pass()
    assert len(writes(bob)) == len(writes(carol)) == 1
    assert writes(bob)[0] is writes(carol)[0]
    assert writes(bob)[0].count(b"\n") == 3
    assert writes(alice) == []


async def test_a_sender_gets_everything_but_its_own_lines_in_order() -> None:
    """A member who sent in the pass gets the others' lines, in order, without its own."""
    hub = LocalHub()
    alice, bob = member(hub, "alice"), member(hub, "bob")
    publish(hub, message(1, "bob"), exclude=bob)
    publish(hub, message(2, "alice"), exclude=alice)
    publish(hub, message(3, "bob"), exclude=bob)
    await next_pass()
    assert [line.split(b"> ")[1] for line in b"".join(writes(alice)).splitlines()] == [
        b"line 1",
        b"line 3",
    ]
    assert b"line 2" in b"".join(writes(bob))
    assert b"line 1" not in b"".join(writes(bob))


async def test_senders_get_the_others_lines_in_one_write_in_each_rendering() -> None:
    """Every member a sender: each gets exactly the others' lines, in order, in one write."""
    hub = LocalHub()
    peers = [member(hub, f"m{number}") for number in range(4)]
    peers[1].rendering = peers[3].rendering = Rendering.JSON
    said = [(number, peers[number % 4]) for number in range(1, 11)]
    for number, sender in said:
        publish(hub, message(number, sender.nick or ""), exclude=sender)
    await next_pass()
    for peer in peers:
        assert len(writes(peer)) == 1
        expected = [
            encode(message(number, sender.nick or ""), peer.wire_rendering)
            for number, sender in said
            if sender is not peer
        ]
        assert writes(peer)[0] == b"".join(expected)


async def test_websocket_members_are_written_whole_frames_cut_around_their_own() -> None:
    """A browser gets one text frame an event, the same bytes for every browser that sent
    nothing, and a sender the others' frames: never a JSON line, never a frame framed twice."""
    hub = LocalHub()
    alice, bob, carol = member(hub, "alice"), member(hub, "bob"), member(hub, "carol")
    for peer in (alice, bob, carol):
        peer.json_only = True
    said = [(1, alice), (2, bob), (3, alice)]
    for number, sender in said:
        publish(hub, message(number, sender.nick or ""), exclude=sender)
    await next_pass()

    def frames(numbers: list[int]) -> bytes:
        lines = [encode(message(n, said[n - 1][1].nick or ""), Rendering.JSON) for n in numbers]
        return b"".join(Frame(Opcode.TEXT, line[:-1]).serialize(mask=False) for line in lines)

    assert writes(carol) == [frames([1, 2, 3])]
    assert writes(alice) == [frames([2])]
    assert writes(bob) == [frames([1, 3])]


async def test_a_leaving_in_one_room_is_shared_like_a_line_and_keeps_its_place() -> None:
    """A member of one room leaving reaches the others in the pass's shared bytes, in order."""
    hub = LocalHub()
    alice, bob, carol = member(hub, "alice"), member(hub, "bob"), member(hub, "carol")
    publish(hub, message(1, "bob"))
    hub.announce(Leave(2, NOW, "alice", "quit"), about=alice, exclude=alice)
    hub.leave(alice)
    publish(hub, message(3, "bob"))
    await next_pass()
    assert writes(bob) == writes(carol)
    assert writes(bob)[0] is writes(carol)[0]
    first, leaving, last = writes(bob)[0].splitlines()
    assert (b"line 1" in first, b"alice" in leaving, b"line 3" in last) == (True, True, True)
    assert b"quit" not in b"".join(writes(alice))


async def test_room_and_private_deliveries_keep_their_order() -> None:
    """A line sent to one member between two broadcasts arrives between them."""
    hub = LocalHub()
    member(hub, "alice")
    bob = member(hub, "bob")
    publish(hub, message(1))
    hub.send(bob, Notice(2, NOW, "just for bob"))
    publish(hub, message(3))
    await next_pass()
    lines = b"".join(writes(bob)).splitlines()
    assert [b"line 1" in lines[0], b"just for bob" in lines[1], b"line 3" in lines[2]] == [
        True,
        True,
        True,
    ]


async def test_a_member_who_joins_mid_pass_gets_only_what_follows() -> None:
    """Joining does not deliver what the room heard earlier in the same pass."""
    hub = LocalHub()
    member(hub, "alice")
    publish(hub, message(1))
    late = member(hub, "late")
    publish(hub, message(2))
    await next_pass()
    received = b"".join(writes(late))
    assert b"line 1" not in received
    assert b"line 2" in received


async def test_a_member_who_leaves_is_still_flushed_what_it_was_owed() -> None:
    """What was published while a peer was a member reaches it when its connection flushes."""
    hub = LocalHub()
    member(hub, "alice")
    bob = member(hub, "bob")
    publish(hub, message(1))
    hub.leave(bob)
    publish(hub, message(2))
    hub.flush(bob)
    await next_pass()
    received = b"".join(writes(bob))
    assert b"line 1" in received
    assert b"line 2" not in received


async def test_each_rendering_is_encoded_for_its_members() -> None:
    """Text and JSON members each get the pass in their own rendering."""
    hub = LocalHub()
    text, json_member = member(hub, "text"), member(hub, "json")
    json_member.rendering = Rendering.JSON
    publish(hub, message(1))
    await next_pass()
    assert writes(text)[0].endswith(b"<alice> line 1\n")
    assert writes(json_member)[0].startswith(b'{"type": "message"')


async def test_changing_rendering_mid_pass_keeps_earlier_lines_as_they_were() -> None:
    """Lines published before a /format switch are written in the old rendering."""
    hub = LocalHub()
    member(hub, "alice")
    bob = member(hub, "bob")
    publish(hub, message(1))
    bob.rendering = Rendering.JSON
    publish(hub, message(2))
    await next_pass()
    first, second = b"".join(writes(bob)).splitlines()
    assert first.endswith(b"<alice> line 1")
    assert second.startswith(b"{")


async def test_a_member_past_its_queue_bound_is_dropped_and_others_still_served() -> None:
    """A full send queue cuts that member off; the rest of the pass is delivered."""
    hub = LocalHub(max_queue_bytes=10)
    slow, fast = member(hub, "slow"), member(hub, "fast")
    cast(FakeTransport, slow.transport).buffer_size = 11
    publish(hub, message(1))
    await next_pass()
    assert slow.drop_reason == QUEUE_EXCEEDED
    assert cast(FakeTransport, slow.transport).aborted
    assert b"line 1" in b"".join(writes(fast))


def busy_gate(window: float) -> FlushGate:
    """A gate that finds the loop busy from its second pass on (any CPU share will do)."""
    return FlushGate(window=window, enter_share=0.0, leave_share=0.0, sample_seconds=1e-9)


async def test_a_quiet_gate_leaves_every_pass_at_once() -> None:
    """With a gate that has not found the loop busy, a pass is written on the next loop turn."""
    hub = LocalHub()
    hub.pacer = FlushGate()
    alice, bob = member(hub, "alice"), member(hub, "bob")
    publish(hub, message(1), exclude=alice)
    await next_pass()
    assert [data.count(b"\n") for data in writes(bob)] == [1]


async def test_a_busy_hub_holds_the_next_pass_and_coalesces_what_follows() -> None:
    """While busy, lines published within the window of the last pass wait and go in one write."""
    hub = LocalHub()
    hub.pacer = busy_gate(window=60.0)
    alice, bob = member(hub, "alice"), member(hub, "bob")
    for number in (1, 2):  # two passes at once: the gate's first sample ends busy
        publish(hub, message(number), exclude=alice)
        await next_pass()
    assert hub.pacer.busy
    assert len(writes(bob)) == 2
    for number in (3, 4, 5):
        publish(hub, message(number), exclude=alice)
        await next_pass()
    assert len(writes(bob)) == 2  # held back: the window has not passed
    hub.flush(bob)  # a member leaving is still written at once, held lines and all
    assert [line.split(b"> ")[1] for line in writes(bob)[2].splitlines()] == [
        b"line 3",
        b"line 4",
        b"line 5",
    ]
