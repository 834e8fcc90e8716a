"""What a cluster node sends Redis for its members: commands that do not grow with them.

Every command a node sends costs its event loop redis-py's packing and parsing
(about 25 µs on a busy machine), during which no member is served. These tests
watch a real redis-server's MONITOR and count the commands that come from a
client (those that a script runs inside Redis are not the node's to pay).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import cast

import pytest
import redis.asyncio as aioredis

from tcpchat.core.events import Join, Message
from tcpchat.core.hub import Peer, Room
from tcpchat.core.nicks import nick_key
from tcpchat.server import redis_hub
from tcpchat.server.cluster_view import ClusterRoom
from tcpchat.server.redis_hub import RedisHub, _entries
from tests.support.cluster import quiet_node
from tests.support.fakes import FakeTransport

MEMBERS = 50
END = "end-of-the-watched-commands"


async def with_members(hub: RedisHub, count: int) -> list[Peer]:
    """``count`` members in #lobby, registered and described to Redis."""
    peers = []
    for index in range(count):
        peer = Peer(FakeTransport(), now=time.monotonic())
        hub.register(peer, f"member{index}")
        hub.join_room(peer, "#lobby")
        peers.append(peer)
    await hub._send(hub._take_outbox())
    return peers


def say_lines(hub: RedisHub, room: Room, count: int) -> None:
    """``count`` lines of member0's in ``room``, as its session publishes them."""
    for number in range(count):
        hub.publish(
            Message(0, datetime.now(UTC), "member0", f"line {number}", room.name), room=room
        )


def written_to(peer: Peer) -> str:
    return bytes(cast(FakeTransport, peer.transport).written).decode()


async def commands_sent(url: str, action: Callable[[], Awaitable[object]]) -> list[str]:
    """The commands that clients sent Redis while ``action`` ran (MONITOR's view)."""
    watcher = aioredis.Redis.from_url(url, decode_responses=True)
    marker = aioredis.Redis.from_url(url, decode_responses=True)
    sent: list[str] = []
    try:
        await marker.ping()  # connected before watching: its handshake is not counted
        async with watcher.monitor() as monitor:
            await action()
            await marker.echo(END)
            while True:
                command = await monitor.next_command()
                if END in command["command"]:
                    return sent
                if command["client_type"] != "lua":
                    sent.append(command["command"].split(" ")[0].upper())
    finally:
        await watcher.aclose()
        await marker.aclose()


async def test_a_heartbeat_holds_every_nickname_in_a_fixed_number_of_commands(
    redis_url: str,
) -> None:
    """A heartbeat of a node of 50 members sends at most four commands, and holds every nick."""
    async with quiet_node(redis_url) as hub:
        peers = await with_members(hub, MEMBERS)
        client = hub._connected()
        owners = [hub.keys.owner(peer.nick or "") for peer in peers]
        for owner in owners:
            await client.expire(owner, 1)
        sent = await commands_sent(redis_url, lambda: hub._beat(client))
        assert len(sent) <= 4, sent
        assert [await client.ttl(owner) for owner in owners] == [hub._owner_ttl] * MEMBERS
        described = await client.hkeys(hub.keys.users(hub.node))
        assert sorted(described) == sorted(nick_key(peer.nick or "") for peer in peers)


async def test_the_members_who_spoke_are_described_in_one_command(redis_url: str) -> None:
    """50 members who spoke are described at the heartbeat in one command, each on the feed."""
    async with quiet_node(redis_url) as hub:
        peers = await with_members(hub, MEMBERS)
        for peer in peers:
            peer.active_at += 1.0
        hub._describe_changes()
        sent = await commands_sent(redis_url, lambda: hub._send(hub._take_outbox()))
        assert sent == ["EVALSHA"]
        client = hub._connected()
        feed = _entries(await client.xrevrange(hub.keys.presence, count=MEMBERS))
        assert [fields["key"] for _, fields in reversed(feed)] == [
            nick_key(peer.nick or "") for peer in peers
        ]
        assert {(fields["node"], fields["op"]) for _, fields in feed} == {(hub.node, "user")}


async def test_lines_a_node_too_far_behind_cannot_keep_are_refused_to_their_author(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the outbox's bound, the oldest lines go: their author is told, none waits for
    them to come back, and the members described in what went are described again."""
    monkeypatch.setattr(redis_hub, "MAX_OUTBOX", 3)
    async with quiet_node(redis_url) as hub:
        (alice,) = await with_members(hub, 1)
        room = next(iter(alice.rooms))
        hub.describe(alice)  # a description waiting in the outbox, then five lines
        say_lines(hub, room, 5)
        hub.flush(alice)
        assert written_to(alice).count(redis_hub.OVERLOADED) == 2  # two went with it
        assert len(hub._in_flight) == 3
        assert hub._described == {}


async def test_a_join_the_outbox_could_not_keep_leaves_its_member_joining_no_more(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A join pushed out of a full outbox never reaches the stream: its member is told,
    and is a full member here at once, where it would have waited for the join to come
    back, the room counted as being joined and read for it, for as long as it stays."""
    monkeypatch.setattr(redis_hub, "MAX_OUTBOX", 3)
    async with quiet_node(redis_url) as hub:
        (alice,) = await with_members(hub, 1)
        lobby = next(iter(alice.rooms))
        # As /join does: the room, then the join.
        new = cast(ClusterRoom, hub.join_room(alice, "#new"))
        event_id, ts = hub.clock.stamp()
        hub.publish(Join(event_id, ts, "member0", "#new"), room=new)
        assert nick_key("member0") in new.joining
        say_lines(hub, lobby, 4)  # its description, the join and four lines: three go
        hub.flush(alice)
        assert written_to(alice).count(redis_hub.OVERLOADED) == 2  # the join, the first line
        assert not any(op.room_key == new.key for op in hub._in_flight.values())
        assert new.joining == {}
        assert new not in hub._joining.get(alice, [])
        assert alice in new.members.values()
