"""A cluster's faults: a node killed, Redis stopped, hung or back empty, a slow node."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import hiredis
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import (
    NoPermissionError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
)

from tcpchat.config import ClusterSettings, ServerSettings
from tcpchat.core.errors import StoreError
from tcpchat.core.events import Join, Leave, Message
from tcpchat.core.hub import Peer, Room
from tcpchat.core.nicks import nick_key
from tcpchat.core.pacing import FlushGate
from tcpchat.core.rooms import room_key
from tcpchat.server import redis_hub
from tcpchat.server.chat import ChatServer
from tcpchat.server.cluster_wire import id_number, stream_document
from tcpchat.server.redis_hub import (
    RECONNECT_INTERVAL,
    REDIS_UNREACHABLE,
    SCRIPTS_IN_FLIGHT,
    Claim,
    Describe,
    RedisHub,
    RoomEvent,
    _cancel,
    _entries,
    _hash,
    _KnownConnection,
)
from tcpchat.store.redis import REPLY_TIMEOUT
from tests.server.test_cluster_history import cluster_history
from tests.support.cluster import (
    TEST_NODE_TIMEOUT,
    Cluster,
    heartbeat_stopped,
    hub_of,
    quiet_node,
    running_cluster,
    settled,
)
from tests.support.fakes import FakeTransport
from tests.support.faults import wait_until
from tests.support.helpers import LineClient
from tests.support.http import http_get, scrape, value
from tests.support.programs import start_server
from tests.support.proxy import holding_proxy
from tests.support.redis import RedisServer, running_redis
from tests.support.redis_connection import StandInTransport, connection_on


async def alice_and_bob_in_dev(cluster: Cluster) -> tuple[LineClient, LineClient]:
    """alice, on the first node, made #dev (its operator); bob, on the second, is in it too."""
    alice, bob = await cluster.alice_and_bob()
    for member in (alice, bob):
        await member.send("/join #dev")
        await member.expect("now talking in #dev")
        await settled(member, "#dev")  # in Redis: alice's join comes first there too
    await alice.expect(r"bob joined")
    return alice, bob


async def node_process(url: str, *flags: str) -> tuple[asyncio.subprocess.Process, int]:
    """A node as a process of its own (``tcpchat serve --redis-url``), to kill or stop."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith("TCPCHAT_")}
    return await start_server(
        "--redis-url", url, "--log-level", "warning", "--no-history", *flags, env=environ
    )


async def once_free(client: LineClient, nick: str, seconds: float = 20) -> None:
    """``client`` asks for ``nick`` until it is given it. (A swept node's nicknames are
    freed a round trip after its members' leavings: who reads a leaving may find the
    nickname taken still, for a moment.)"""
    async with asyncio.timeout(seconds):
        while True:
            await client.send(nick)
            reply = await client.expect(rf"Welcome, {re.escape(nick)}!|!!! .*")
            if "Welcome" in reply.group(0):
                await settled(client)
                return
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def bob_on_a_node_to_kill(
    cluster: Cluster,
) -> AsyncIterator[tuple[LineClient, asyncio.subprocess.Process]]:
    """bob on a node of ``cluster``'s Redis that is a process of its own (--node-timeout
    1.5), his join in Redis; the process is killed on the way out if it still runs."""
    process, port = await node_process(cluster.url, "--node-timeout", "1.5")
    try:
        bob = await LineClient.connect(port)
        cluster.clients.append(bob)
        await bob.expect("Choose a nickname")
        await bob.register("bob")
        await settled(bob)
        yield bob, process
    finally:
        if process.returncode is None:
            process.kill()
        await process.communicate()


async def test_a_killed_nodes_users_are_announced_gone_once_and_their_nicks_freed(
    redis_url: str,
) -> None:
    """kill -9 a node: within --node-timeout the others announce its users once, free the nick."""
    async with running_cluster(redis_url, 2) as cluster:
        a, c = cluster.nodes
        alice = await cluster.client(a, "alice")
        carol = await cluster.client(c, "carol")
        async with bob_on_a_node_to_kill(cluster) as (_, process):
            await alice.expect(r"\*\*\* bob joined")
            process.send_signal(signal.SIGKILL)
            await alice.expect(r"\*\*\* bob left \(server lost\)", timeout=6)
            await carol.expect(r"\*\*\* bob left \(server lost\)", timeout=6)
            again = await cluster.client(c)
            await once_free(again, "bob")
            await alice.expect(r"\*\*\* bob joined")
            await again.send("/users")
            await again.expect(r"3 users online: alice, bob, carol")
            assert sum("bob left" in line for line in alice.seen) == 1


def slow_sweeper(hub: RedisHub, pause: float, swept: asyncio.Event | None = None) -> None:
    """``hub`` pauses ``pause`` seconds between its sweep's script and what follows it (its
    leavings): a busy sweeper, or a slow Redis. ``swept`` is set as the pause starts."""
    sweep = hub._sweep

    class Slowed:
        def __init__(self, client: Any) -> None:
            self.client = client

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

        async def evalsha(self, sha: str, *args: Any) -> Any:
            reply = await self.client.evalsha(sha, *args)
            if sha == hub._scripts["sweep"] and reply == 1:
                if swept is not None:
                    swept.set()
                await asyncio.sleep(pause)
            return reply

    async def slowly(client: Any) -> None:
        await sweep(cast(aioredis.Redis, Slowed(client)))

    hub._sweep = slowly  # type: ignore[method-assign]


async def test_a_dead_nodes_nickname_taken_again_comes_after_its_leaving(redis_url: str) -> None:
    """kill -9 bob's node; bob, back at once through another node, tries his nickname until
    it is his, while the sweeper is slow to announce his old self gone. The nickname is his
    only once that leaving is in the room: everyone sees bob leave, then join, and lists
    him; his new node does not take the leaving for his."""
    async with running_cluster(redis_url, 2) as cluster:
        a, c = cluster.nodes
        for node in (a, c):
            slow_sweeper(hub_of(node), 0.5)
        alice = await cluster.client(a, "alice")
        carol = await cluster.client(c, "carol")
        async with bob_on_a_node_to_kill(cluster) as (_, process):
            for member in (alice, carol):
                await member.expect(r"\*\*\* bob joined")
            process.send_signal(signal.SIGKILL)
            again = await cluster.client(c)
            await once_free(again, "bob")  # the sweep comes within about 2.5 s
            for member in (alice, carol):
                await member.expect(r"\*\*\* bob joined")
                seen = [line for line in member.seen if "bob left" in line or "bob joined" in line]
                assert len(seen) == 3, seen
                assert "bob left (server lost)" in seen[1], seen
                await member.send("/users")
                await member.expect(r"3 users online: alice, bob, carol")
            await again.send("/users")
            await again.expect(r"3 users online: alice, bob, carol")
            assert not any("bob left" in line for line in again.seen)


async def test_a_node_closed_in_the_middle_of_a_sweep_finishes_it_first(redis_url: str) -> None:
    """Node A shuts down while its sweep of bob's dead node is on its way (its script run,
    the rest not yet): it finishes the sweep before it leaves. carol, on node C, sees bob
    leave, no longer lists him, and bob may take his nickname again."""
    async with running_cluster(redis_url, 2) as cluster:
        a, c = cluster.nodes

        async def never(client: aioredis.Redis) -> None:
            """C sweeps no one: A does."""

        hub_of(c)._sweep = never  # type: ignore[method-assign]
        swept = asyncio.Event()
        slow_sweeper(hub_of(a), 0.5, swept)
        await cluster.client(a, "alice")
        carol = await cluster.client(c, "carol")
        async with bob_on_a_node_to_kill(cluster) as (_, process):
            await carol.expect(r"\*\*\* bob joined")
            process.send_signal(signal.SIGKILL)
            async with asyncio.timeout(10):
                await swept.wait()
            await a.close()
            await carol.expect(r"\*\*\* bob left \(server lost\)")
            await carol.send("/users")
            await carol.expect(r"1 user online: carol$")
            await once_free(await cluster.client(c), "bob")


@pytest.mark.parametrize("paused", [False, True])
async def test_a_node_whose_sweep_failed_as_it_closes_still_closes(
    redis_url: str, caplog: pytest.LogCaptureFixture, paused: bool
) -> None:
    """Node A closes while the sweep it was making has failed (Redis cut it off). It closes
    all the same: running, it says so and leaves the cluster cleanly; paused, as a paused
    node does (the others sweep it)."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        await cluster.alice_and_bob()
        node = hub_of(a)

        async def cut_off() -> None:
            raise RedisConnectionError("Connection closed by server.")

        node._sweeping = asyncio.create_task(cut_off())
        await asyncio.sleep(0)  # (it has failed)
        if paused:
            node._running.clear()
        await a.close()
        admin = hub_of(b)._connected()
        assert bool(await admin.sismember(node.keys.nodes, node.node)) is paused
        if not paused:
            assert "its sweep failed as it closed" in caplog.text
            assert "left the cluster uncleanly" not in caplog.text


async def test_redis_stopping_pauses_the_chat_and_its_return_resumes_it(
    own_redis: RedisServer,
) -> None:
    """Redis stops: members stay connected, are told once, input is refused; back: it resumes."""
    async with running_cluster(own_redis.url, 2) as cluster:
        alice, bob = await cluster.alice_and_bob()
        await asyncio.to_thread(own_redis.stop)
        await alice.expect(r"\*\*\* the chat is paused")
        await bob.expect(r"\*\*\* the chat is paused")
        await alice.send("anyone?")
        await alice.expect(r"!!! the chat is paused \(this server cannot use Redis\)")
        # Redis comes back, empty: persistence is off in tests.
        await asyncio.to_thread(own_redis.restart)
        await alice.expect(r"\*\*\* the chat is back", timeout=10)
        await bob.expect(r"\*\*\* the chat is back", timeout=10)
        await alice.send("still here")
        await bob.expect(r"<alice> still here")
        assert sum("the chat is paused:" in line for line in alice.seen) == 1


async def test_after_redis_comes_back_lines_go_out_once_without_another_pause(
    own_redis: RedisServer,
) -> None:
    """Back from an outage, the scripts' connection is made again before anything is sent
    on it: lines reach the room once, their author is told nothing went wrong, and the
    chat does not pause a second time."""
    async with running_cluster(own_redis.url, 2) as cluster:
        alice, bob = await cluster.alice_and_bob()
        await asyncio.to_thread(own_redis.stop)
        await alice.expect(r"\*\*\* the chat is paused")
        await asyncio.to_thread(own_redis.restart)
        await alice.expect(r"\*\*\* the chat is back", timeout=10)
        await bob.expect(r"\*\*\* the chat is back", timeout=10)
        for text in ("still here", "and again", "third"):
            await alice.send(text)
            await bob.expect(f"<alice> {text}")
        await settled(alice)
        assert not any("!!!" in line for line in alice.seen)
        assert sum("the chat is paused:" in line for line in alice.seen) == 1
        assert sum("<alice> still here" in line for line in bob.seen) == 1


async def test_a_redis_that_stops_answering_pauses_the_chat_until_it_answers_again(
    own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis hangs with every connection open (SIGSTOP): within the reply time-out the
    nodes pause and tell their members once, and a line is refused; it answers again: the
    chat goes on, and a line said then is heard once."""
    monkeypatch.setattr(redis_hub, "REPLY_TIMEOUT", 1.0)
    monkeypatch.setattr(redis_hub, "BLOCK_MS", 500)
    async with running_cluster(own_redis.url, 2) as cluster:
        alice, bob = await cluster.alice_and_bob()
        own_redis.hang(True)
        try:
            await alice.expect(r"\*\*\* the chat is paused", timeout=5)
            await bob.expect(r"\*\*\* the chat is paused", timeout=5)
            await alice.send("anyone?")
            await alice.expect(r"!!! the chat is paused \(this server cannot use Redis\)")
        finally:
            own_redis.hang(False)
        await alice.expect(r"\*\*\* the chat is back", timeout=10)
        await bob.expect(r"\*\*\* the chat is back", timeout=10)
        await alice.send("still here")
        await bob.expect(r"<alice> still here")
        await settled(bob)
        assert sum("<alice> still here" in line for line in bob.seen) == 1
        assert sum("the chat is paused:" in line for line in alice.seen) == 1


async def test_a_socket_time_out_in_the_url_leaves_the_readers_block_alone(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``?socket_timeout=1`` in the URL (redis-py lets the URL's options win): the node's
    commands get 1 s, but its reader, blocked in XREAD for longer while the chat is
    quiet, is not cut off by it, and the chat never pauses."""
    monkeypatch.setattr(redis_hub, "BLOCK_MS", 2_000)
    async with running_cluster(redis_url + "?socket_timeout=1", 2) as cluster:
        alice, bob = await cluster.alice_and_bob()
        await asyncio.sleep(2.5)  # past the socket time-out and one whole block
        await alice.send("still one chat")
        await bob.expect(r"<alice> still one chat")
        assert not any("paused" in line for line in alice.seen + bob.seen)


async def test_a_cluster_re_registers_its_members_after_redis_restarts_empty(
    own_redis: RedisServer,
) -> None:
    """Redis restarts empty: nicknames are held again and every node lists everyone again."""
    async with running_cluster(own_redis.url, 2) as cluster:
        a, b = cluster.nodes
        alice = await cluster.client(a, "alice")
        bob = await cluster.client(b, "bob")
        await alice.expect(r"\*\*\* bob joined")
        await asyncio.to_thread(own_redis.restart)
        await alice.expect(r"\*\*\* the chat is back", timeout=10)
        await bob.expect(r"\*\*\* the chat is back", timeout=10)
        # Each node describes its members again, and the others read it from the feed:
        # ask until bob's node lists alice again.
        async with asyncio.timeout(5):
            while True:
                await bob.send("/users")
                listed = await bob.expect(r"users? online: .*")
                if listed.group(0) == "users online: alice, bob":
                    break
        assert own_redis.command("EXISTS", "tcpchat:nick:{alice}:owner") == ":1"
        impostor = await cluster.client(b)
        await impostor.send("alice")
        await impostor.expect(r"!!! the nickname 'alice' is taken")


async def test_a_join_redis_took_and_lost_unread_does_not_keep_its_member_waiting(
    own_redis: RedisServer,
) -> None:
    """alice's node has stopped reading its streams when she joins #dev: Redis takes the
    join (its script is answered), then restarts empty before the node read it back. Back,
    the node waits for that join no more: alice is a member of #dev and hears bob there.
    (It stayed on its way for good: alice heard nothing in #dev, and the room was read
    for ever.)"""
    async with running_cluster(own_redis.url, 2) as cluster:
        a, b = cluster.nodes
        alice = await cluster.client(a, "alice")
        bob = await cluster.client(b, "bob")
        await alice.expect(r"\*\*\* bob joined")
        hub, dev = hub_of(a), room_key("#dev")
        hub._stop_reading_streams()
        await alice.send("/join #dev")
        await wait_until(
            lambda: any(key == dev and op.event_id for (key, _), op in hub._in_flight.items())
        )  # taken by Redis, not read back
        await asyncio.to_thread(own_redis.restart)
        await alice.expect(r"\*\*\* the chat is back", timeout=10)
        await bob.expect(r"\*\*\* the chat is back", timeout=10)
        await wait_until(lambda: all(key != dev for key, _ in hub._in_flight))
        room = hub.room("#dev")
        assert room is not None
        assert "alice" in room.members
        await bob.send("/join #dev")
        await alice.expect(r"\*\*\* bob joined")
        await bob.send("hello dev")
        await alice.expect(r"<bob> hello dev")


async def test_a_stopped_node_does_not_slow_the_others_and_is_told_what_it_skipped(
    redis_url: str,
) -> None:
    """A node stopped while its room says more than Redis keeps: the others go on at full
    speed, and when it runs again its members are told lines were skipped."""
    process, port = await node_process(
        redis_url, "--node-timeout", "60", "--room-stream-max", "100", "--no-flood-control"
    )
    try:
        # Every node caps the streams it writes to: all of them at 100 here.
        async with running_cluster(redis_url, 1, flood_control=False, stream_max=100) as cluster:
            (a,) = cluster.nodes
            alice = await cluster.client(a, "alice")
            carol = await cluster.client(a, "carol")
            slow = await LineClient.connect(port)
            cluster.clients.append(slow)
            await slow.expect("Choose a nickname")
            await slow.register("slow")
            await settled(slow)
            await alice.expect(r"\*\*\* slow joined")
            process.send_signal(signal.SIGSTOP)
            lines = 1_000
            carol.writer.write(b"".join(b"line %d\n" % number for number in range(lines)))
            await alice.expect(rf"<carol> line {lines - 1}$", timeout=20)
            process.send_signal(signal.SIGCONT)
            await slow.expect(r"\*\*\* this server fell behind #lobby", timeout=10)
            await slow.expect(rf"<carol> line {lines - 1}$", timeout=10)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
        await process.communicate()


def test_a_time_out_of_the_nodes_own_is_logged_in_words() -> None:
    """asyncio.timeout raises a TimeoutError with no text: the log says what happened."""
    assert redis_hub._said(TimeoutError()) == "no answer in time"
    assert redis_hub._said(TimeoutError("Timeout reading from 127.0.0.1:6379")) == (
        "Timeout reading from 127.0.0.1:6379"
    )


async def test_the_redis_password_is_never_in_the_error() -> None:
    """A wrong password refuses the node at start, in words that never show the password."""
    with running_redis(password="the-right-one") as redis_server:
        url = f"redis://:hunter2secret@127.0.0.1:{redis_server.port}/0"
        server = ChatServer(
            ServerSettings(host="127.0.0.1", port=0), cluster=ClusterSettings(redis_url=url)
        )
        with pytest.raises(StoreError) as refused:
            await server.start()
    assert "hunter2secret" not in str(refused.value)
    assert "redis://***@127.0.0.1" in str(refused.value)


async def test_readyz_says_a_node_without_redis_is_not_ready(own_redis: RedisServer) -> None:
    """A node answers /readyz 200 while it reaches Redis, 503 and why once Redis stops; its
    /metrics show the backplane: up, its lag, and the outage once Redis is back."""
    server = ChatServer(
        ServerSettings(host="127.0.0.1", port=0, http_port=0),
        cluster=ClusterSettings(redis_url=own_redis.url),
    )
    async with server:
        ready, _, _ = await http_get(server.http_port, "/readyz")
        before = await scrape(server.http_port)
        alice = await LineClient.connect(server.port)
        try:
            await alice.register("alice")
            await asyncio.to_thread(own_redis.stop)
            await alice.expect(r"\*\*\* the chat is paused")
            status, _, body = await http_get(server.http_port, "/readyz")
            paused = await scrape(server.http_port)
            await asyncio.to_thread(own_redis.restart)
            await alice.expect(r"\*\*\* the chat is back", timeout=10)
            back = await scrape(server.http_port)
        finally:
            await alice.close()
    assert ready == "HTTP/1.1 200 OK"
    assert value(before, "tcpchat_backplane_lag_seconds") == 0.0
    assert value(before, "tcpchat_backplane_up") == 1
    assert value(before, "tcpchat_backplane_outages_total") == 0
    assert status == "HTTP/1.1 503 Service Unavailable"
    assert body == f"not ready: {REDIS_UNREACHABLE}\n".encode()
    assert value(paused, "tcpchat_backplane_up") == 0
    assert value(back, "tcpchat_backplane_up") == 1
    assert value(back, "tcpchat_backplane_outages_total") == 1


@contextlib.asynccontextmanager
async def shut_down_while_redis_holds_writes(url: str, server: ChatServer) -> AsyncIterator[None]:
    """Redis holds every write while the block runs; then ``server`` starts shutting down,
    and a moment later Redis goes on (the shutdown waits for it, within its time-out)."""
    admin = aioredis.Redis.from_url(url)
    await admin.client_pause(10_000, all=False)
    try:
        yield
        shutdown = asyncio.create_task(server.close())
        await asyncio.sleep(0.2)
    finally:
        await admin.client_unpause()
        await admin.aclose()
    await shutdown


async def test_a_node_closing_while_redis_lags_sends_every_line_said_before(
    redis_url: str,
) -> None:
    """The node shuts down with a pass waiting for room on the scripts' connection (Redis
    holds their writes): that pass is sent too, its lines heard on the other node in
    order, and the node leaves the cluster cleanly (its members are told gone at once,
    not swept after --node-timeout)."""
    async with running_cluster(redis_url, 2, flood_control=False, node_timeout=60) as cluster:
        a, b = cluster.nodes
        alice, bob = await cluster.alice_and_bob()
        node = hub_of(a)
        async with shut_down_while_redis_holds_writes(redis_url, a):
            for number in range(SCRIPTS_IN_FLIGHT):
                await alice.send(f"line {number}")
                await wait_until(lambda n=number: len(node._unanswered) == n + 1)  # type: ignore[misc]
            await alice.send(f"line {SCRIPTS_IN_FLIGHT}")  # waits for room to be sent
            # Read, and taken by the sender, which waits for room on the connection.
            await wait_until(
                lambda: len(node._in_flight) == SCRIPTS_IN_FLIGHT + 1 and not node._outbox
            )
        heard = [(await bob.expect(r"<alice> (line \d+)")).group(1) for _ in range(5)]
        assert heard == [f"line {number}" for number in range(SCRIPTS_IN_FLIGHT + 1)]
        await bob.expect(r"\*\*\* alice left")
        assert node.node not in await hub_of(b)._connected().smembers(node.keys.nodes)


def paused_node_with_alice() -> tuple[RedisHub, Peer, FakeTransport]:
    """A node driven by plain calls (no Redis): alice in #lobby, her joining set aside."""
    hub = RedisHub("redis://127.0.0.1:1/0", node_timeout=15)
    hub._running.set()
    transport = FakeTransport()
    alice = Peer(transport)
    hub.register(alice, "alice")
    hub.join_room(alice, "#lobby")
    hub._in_flight.clear()
    hub._take_outbox()
    return hub, alice, transport


async def test_a_line_heard_already_is_not_refused_when_its_pass_fails() -> None:
    """A pass fails (its answer lost) after the reader read one of its lines back, and
    the sender fails the same pass again: alice is told once, of the other line only."""
    hub, alice, transport = paused_node_with_alice()
    room = hub._rooms[room_key("#lobby")]
    for text in ("heard", "lost"):
        event_id, ts = hub.clock.stamp()
        hub.publish(Message(event_id, ts, "alice", text, "#lobby"), room=room, exclude=alice)
    batch = hub._take_outbox()
    heard = batch[0]
    assert isinstance(heard, RoomEvent)
    del hub._in_flight[(heard.room_key, heard.seq)]  # the reader brought it back
    hub._failed_batch(batch)  # the answers' reader: the connection is lost
    hub._failed_batch(batch)  # the sender, whose send failed with it
    await asyncio.sleep(0)  # the hub's pass
    assert transport.written.decode().count(redis_hub.REFUSED) == 1
    assert not hub._in_flight


async def test_a_sweepers_leaving_read_back_frees_the_nicknames_though_its_answer_lost() -> None:
    """A sweeper's leaving is read back from its room, and then the answer to its script
    is lost with the connection: it has its place all the same, so the dead node's
    nicknames are freed once (not waiting for an answer that never comes)."""
    hub, _, _ = paused_node_with_alice()
    room = hub._rooms[room_key("#lobby")]
    free = redis_hub.FreeNicknames("dead", ["bob"], ["bob"], leavings=1)
    event_id, ts = hub.clock.stamp()
    hub._announce_to(Leave(event_id, ts, "bob", redis_hub.NODE_LOST), [room], None, None, free)
    free.leavings -= 1  # (the sweep's own hold, as _sweep lets it go)
    batch = hub._take_outbox()
    (leaving,) = batch
    assert isinstance(leaving, RoomEvent)
    hub._positions[room.key] = "0-0"
    fields = {"e": stream_document(leaving.event), "o": f"{hub.node}:{leaving.seq}", "n": "1"}
    hub._read_room(room.key, [(f"{event_id}-0", fields)], [])  # the reader brought it back
    hub._failed_batch(batch)  # the answers' reader: the connection is lost
    hub._failed_batch(batch)  # the sender, whose send failed with it
    assert [op for op in hub._outbox if isinstance(op, redis_hub.FreeNicknames)] == [free]


#: The append script's answer for a pass in one room: its first id, the room's count before.
ANSWER = b"*2\r\n:%d\r\n:%d\r\n"


@contextlib.asynccontextmanager
async def node_writing_scripts() -> AsyncIterator[tuple[RedisHub, Peer, StandInTransport]]:
    """A node driven by plain calls (no Redis), alice in #lobby (which it reads), whose
    scripts go to a stand-in transport and whose answers are the test's to give
    (``hub._answers_reader.data_received``); its sender a task that sends nothing, to see
    what it is handed (``_outbox_ready``)."""
    hub, alice, _ = paused_node_with_alice()
    lobby = hub._rooms[room_key("#lobby")]
    hub._member_now(alice, [lobby])
    hub._positions[lobby.key], hub._counts[lobby.key] = "0-0", 0
    transport = StandInTransport()
    hub._appender = connection_on(transport)
    hub._read_answers()
    hub._scripts["append"] = "0" * 40
    hub._sender = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)  # the pass that put alice's joining (taken away) ends
    try:
        yield hub, alice, transport
    finally:
        hub._stop_reading_answers()
        await _cancel([hub._sender])
        if hub._recovery is not None:
            await _cancel([hub._recovery])


def say(hub: RedisHub, alice: Peer, text: str) -> None:
    event_id, ts = hub.clock.stamp()
    room = hub._rooms[room_key("#lobby")]
    hub.publish(Message(event_id, ts, "alice", text, "#lobby"), room=room, exclude=alice)


def told(alice: Peer) -> str:
    return cast(FakeTransport, alice.transport).written.decode()


async def test_a_line_is_written_as_it_is_said_and_the_rest_of_its_pass_after() -> None:
    """On a quiet node, a line's script is written as the line is said; what else its pass
    puts goes out as the loop turns: more lines in one script, or, with anything but room
    events (a member's claim), through the sender."""
    async with node_writing_scripts() as (hub, alice, transport):
        say(hub, alice, "first")
        assert len(transport.written) == 1
        assert b"EVALSHA" in transport.written[0]
        assert b"first" in transport.written[0]
        say(hub, alice, "second")
        say(hub, alice, "third")
        assert len(transport.written) == 1
        await asyncio.sleep(0)
        assert len(transport.written) == 2
        assert b"second" in transport.written[1]
        assert b"third" in transport.written[1]
        assert hub._scripts_out == 2
        assert not hub._all_answered.is_set()
        assert not hub._outbox
        assert not hub._outbox_ready.is_set()
        hub.register(Peer(FakeTransport()), "bob")
        say(hub, alice, "fourth")
        await asyncio.sleep(0)
        assert len(transport.written) == 2
        assert hub._outbox_ready.is_set()
        assert len(hub._outbox) == 3  # bob's claim and description, then the line


async def test_a_leaving_waits_for_the_presence_put_after_it() -> None:
    """A leaving is not written at once, as a line is: its member's presence, put after it
    in the same pass, goes to Redis before it (the sender's order), so that a node that
    reads the leaving has read that the nickname is free."""
    async with node_writing_scripts() as (hub, alice, transport):
        event_id, ts = hub.clock.stamp()
        lobby = hub._rooms[room_key("#lobby")]
        hub.publish(Leave(event_id, ts, "alice", "gone"), room=lobby, exclude=alice)
        hub._put(Describe(nick_key("alice"), None))
        assert not transport.written
        await asyncio.sleep(0)
        assert not transport.written
        assert hub._outbox_ready.is_set()
        assert [type(op) for op in hub._outbox] == [RoomEvent, Describe]


def bob_in_the_lobby(hub: RedisHub) -> Peer:
    """bob, a full member of #lobby beside alice."""
    bob = Peer(FakeTransport())
    hub.register(bob, "bob")
    hub._member_now(bob, [hub.join_room(bob, "#lobby")])
    hub._take_outbox()
    hub._in_flight.clear()
    return bob


async def test_a_line_is_heard_as_its_script_is_answered() -> None:
    """The answer's bytes arrive: alice's line is told to the room in that pass, and its
    place is free again."""
    async with node_writing_scripts() as (hub, alice, _):
        bob = bob_in_the_lobby(hub)
        say(hub, alice, "hello")
        await asyncio.sleep(0)
        assert hub._answers_reader is not None
        hub._answers_reader.data_received(ANSWER[:5])
        assert hub._scripts_out == 1  # not all there yet
        hub._answers_reader.data_received(ANSWER[5:] % (7, 0))
        assert hub._scripts_out == 0
        assert hub._all_answered.is_set()
        assert hub._positions[room_key("#lobby")] == "7-0"
        assert "<alice> hello" in told(bob)  # written with no turn of the loop between
        assert "hello" not in told(alice)


@pytest.mark.parametrize("together", [False, True], ids=["apart", "in one read"])
async def test_answers_awaited_together_are_told_in_one_write(together: bool) -> None:
    """Two scripts on their way: the first answer's line waits while the other answer is
    awaited (it may be in the same bytes), and bob gets both lines in one write, as the
    last answer is acted on, whether the two arrive in one read or apart."""
    async with node_writing_scripts() as (hub, alice, _):
        bob = bob_in_the_lobby(hub)
        say(hub, alice, "one")
        await asyncio.sleep(0)
        say(hub, alice, "two")
        await asyncio.sleep(0)
        assert hub._scripts_out == 2
        assert hub._answers_reader is not None
        if together:
            hub._answers_reader.data_received(ANSWER % (7, 0) + ANSWER % (8, 1))
        else:
            hub._answers_reader.data_received(ANSWER % (7, 0))
            assert told(bob) == ""  # the other answer is awaited: not yet
            hub._answers_reader.data_received(ANSWER % (8, 1))
        writes = cast(FakeTransport, bob.transport).writes
        assert len(writes) == 1
        assert b"<alice> one" in writes[0]
        assert b"<alice> two" in writes[0]


@pytest.mark.parametrize("due", [False, True], ids=["held back", "due"])
async def test_a_busy_node_tells_an_answer_in_its_pass(due: bool) -> None:
    """While the loop is busy, an answer does not write ahead of the hub's pass, which
    gathers what the rest of the loop's turn brings: the pacer holds the pass back, or,
    its window over, the pass runs at the end of the turn."""
    async with node_writing_scripts() as (hub, alice, _):
        bob = bob_in_the_lobby(hub)
        # Held back: the last pass just now, the next one 0.2 s later. Due: the last pass a
        # second ago, past its window (0.5 ms).
        hub.pacer = FlushGate() if due else FlushGate(window=0.2)
        now = asyncio.get_running_loop().time()
        hub.pacer.passed(now - 1.0 if due else now)
        hub.pacer.busy = True
        say(hub, alice, "hello")
        await asyncio.sleep(0)
        assert hub._answers_reader is not None
        hub._answers_reader.data_received(ANSWER % (7, 0))
        assert told(bob) == ""
        await wait_until(lambda: "<alice> hello" in told(bob))


@pytest.mark.logs_error("writing to its members failed")
async def test_a_fault_in_the_fan_out_is_logged_and_redis_stays_connected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pass run as an answer arrives fails (a bug in the fan-out): it is logged, as the
    loop would log it, and the answers' connection, whose bytes were being read, stays."""
    async with node_writing_scripts() as (hub, alice, _):
        bob_in_the_lobby(hub)

        def broken() -> None:
            raise RuntimeError("the fan-out broke")

        say(hub, alice, "hello")
        await asyncio.sleep(0)
        monkeypatch.setattr(hub, "_flush_all", broken)
        assert hub._answers_reader is not None
        hub._answers_reader.data_received(ANSWER % (7, 0))
        assert not hub._answers_reader.ended
        assert hub._running.is_set()


async def test_a_line_from_another_node_is_told_as_its_xread_reply_arrives() -> None:
    """The reading connection brings another node's line: bob is written it in the pass
    the reply's bytes arrive in, before the node's next XREAD."""
    async with node_writing_scripts() as (hub, _, _):
        bob = bob_in_the_lobby(hub)
        reading = StandInTransport()
        hub._reading = connection_on(reading)
        hub._read_streams()
        try:
            event_id, ts = hub.clock.stamp()
            document = stream_document(Message(event_id, ts, "carol", "from afar", "#lobby"))
            entry = ["9-0", ["e", document, "o", "other-node:1", "n", "1"]]
            reading.protocol.data_received(resp({hub.keys.events(room_key("#lobby")): [entry]}))
            assert "<carol> from afar" in told(bob)
            assert len(reading.written) == 1  # the next XREAD: after a turn of the loop
            await asyncio.sleep(0)
            assert len(reading.written) == 2
        finally:
            hub._stop_reading_streams()


def resp(value: object) -> bytes:
    """``value`` (a dict, list or str) in RESP3, as Redis would send it."""
    if isinstance(value, dict):
        return b"%%%d\r\n" % len(value) + b"".join(resp(k) + resp(v) for k, v in value.items())
    if isinstance(value, list):
        return b"*%d\r\n" % len(value) + b"".join(resp(item) for item in value)
    data = str(value).encode()
    return b"$%d\r\n%b\r\n" % (len(data), data)


class StandInClient:
    """The node's client for commands off the hot path, as the answers use it: the
    reader's wake-up (``XADD`` to the node's inbox), held until ``go`` is set, and a
    room's events before the node's first there (none)."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.woken = 0

    async def xrevrange(self, *args: object, **kwargs: object) -> list[object]:
        return []

    async def xadd(self, *args: object, **kwargs: object) -> None:
        await self.go.wait()
        self.woken += 1


def lobby_member(hub: RedisHub, nick: str) -> Peer:
    """A member of #lobby on this node, its joining done."""
    peer = Peer(FakeTransport())
    hub.register(peer, nick)
    hub._member_now(peer, [hub.join_room(peer, "#lobby")])
    hub._take_outbox()
    hub._in_flight.clear()
    return peer


def joins_new_room(hub: RedisHub, alice: Peer) -> None:
    """alice joins #new, which this node does not read yet: her join's script is written."""
    room = hub.join_room(alice, "#new")
    hub._take_outbox()  # her description: another pass's
    event_id, ts = hub.clock.stamp()
    hub.publish(Join(event_id, ts, "alice", "#new"), room=room)
    events = [op for op in hub._take_outbox() if isinstance(op, RoomEvent)]
    hub._write_script(events)


async def test_an_answer_waits_behind_one_that_starts_reading_a_room() -> None:
    """alice joins #new, which this node does not read yet, and says a line in #lobby. The
    join's answer starts reading #new, which takes I/O; the line's answer, arriving
    meanwhile, is acted on after it, not before: bob hears the line only then."""
    async with node_writing_scripts() as (hub, alice, _):
        bob = lobby_member(hub, "bob")
        client = StandInClient()
        hub._client = cast(aioredis.Redis, client)
        joins_new_room(hub, alice)
        await asyncio.sleep(0)  # (the pass of her join ends)
        say(hub, alice, "hello")
        assert hub._answers_reader is not None
        hub._answers_reader.data_received(ANSWER % (10, 0) + ANSWER % (11, 0))
        await asyncio.sleep(0.01)
        assert hub._positions[room_key("#new")] == "9-0"  # reading it from her join on
        assert "hello" not in told(bob)
        assert hub._scripts_out == 2
        client.go.set()
        await asyncio.sleep(0.01)
        assert client.woken == 1
        assert hub._scripts_out == 0
        assert hub._acting is None
        assert "<alice> hello" in told(bob)


async def test_answers_behind_one_that_failed_to_start_its_room_are_in_doubt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """alice joins #new, speaks in #lobby, then in #new. Starting to read #new fails (its
    history could not be loaded, say): her join is in doubt and the node pauses. The
    answers behind it are in doubt too, as scripts unanswered are: acted on, her line in
    #new would start reading #new past her join, which the node would then not look for
    in the stream when it is back."""
    async with node_writing_scripts() as (hub, alice, _):
        hub._client = cast(aioredis.Redis, StandInClient())

        async def cannot_load(*args: object) -> None:
            raise RedisConnectionError("lost while loading the room")

        monkeypatch.setattr(hub, "_start_reading", cannot_load)
        joins_new_room(hub, alice)
        await asyncio.sleep(0)
        say(hub, alice, "hello")
        await asyncio.sleep(0)
        new_room = hub._rooms[room_key("#new")]
        event_id, ts = hub.clock.stamp()
        hub.publish(Message(event_id, ts, "alice", "in #new", "#new"), room=new_room)
        assert hub._answers_reader is not None
        hub._answers_reader.data_received(ANSWER % (10, 0) + ANSWER % (11, 0) + ANSWER % (12, 0))
        await asyncio.sleep(0.01)
        assert not hub._running.is_set()
        assert hub._positions[room_key("#new")] is None
        texts = [getattr(op.event, "text", "(join)") for op in hub._in_doubt]
        assert sorted(texts) == ["(join)", "hello", "in #new"]
        assert hub._scripts_out == 0
        assert hub._all_answered.is_set()


@pytest.mark.logs_error("acting on Redis's answer failed")
async def test_an_answer_that_cannot_be_acted_on_starts_reading_no_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Acting on the answer to alice's join of #new fails (a bug): the node pauses with her
    join in doubt, once, and does not go on to start reading #new."""
    async with node_writing_scripts() as (hub, alice, _):
        hub._client = cast(aioredis.Redis, StandInClient())
        started: list[str] = []

        async def start_reading(client: object, key: str, event_id: int) -> None:
            started.append(key)

        def broken(sent: object, reply: object) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(hub, "_start_reading", start_reading)
        monkeypatch.setattr(hub, "_answered", broken)
        joins_new_room(hub, alice)
        await asyncio.sleep(0)
        assert hub._answers_reader is not None
        hub._answers_reader.data_received(ANSWER % (10, 0))
        await asyncio.sleep(0.01)
        assert not hub._running.is_set()
        assert started == []
        assert [type(op.event) for op in hub._in_doubt] == [Join]
        assert hub._scripts_out == 0


async def test_a_line_waits_for_the_senders_pass_in_progress() -> None:
    """The sender is handing Redis a pass with more than room events (a member's claim and
    join): a line said meanwhile goes to the sender after it, not ahead of it."""
    async with node_writing_scripts() as (hub, alice, transport):
        hub._sending = True
        say(hub, alice, "after that pass")
        await asyncio.sleep(0)
        assert not transport.written
        assert hub._outbox_ready.is_set()


async def test_a_pass_past_the_scripts_on_their_way_waits_for_an_answer() -> None:
    """SCRIPTS_IN_FLIGHT scripts are on their way: the next pass goes to the sender, which
    writes it once one of them is answered, not before."""
    async with node_writing_scripts() as (hub, alice, transport):
        for n in range(SCRIPTS_IN_FLIGHT):
            say(hub, alice, f"line {n}")
            await asyncio.sleep(0)
        assert len(transport.written) == SCRIPTS_IN_FLIGHT
        say(hub, alice, "one more")
        await asyncio.sleep(0)
        assert len(transport.written) == SCRIPTS_IN_FLIGHT
        assert hub._outbox_ready.is_set()
        events = [op for op in hub._take_outbox() if isinstance(op, RoomEvent)]
        appending = asyncio.create_task(hub._append(events))
        await asyncio.sleep(0.01)
        assert not appending.done()
        assert len(transport.written) == SCRIPTS_IN_FLIGHT
        assert hub._answers_reader is not None
        hub._answers_reader.data_received(ANSWER % (1, 0))
        await asyncio.wait_for(appending, 1)
        assert len(transport.written) == SCRIPTS_IN_FLIGHT + 1
        assert b"one more" in transport.written[-1]
        assert hub._scripts_out == SCRIPTS_IN_FLIGHT


async def test_no_script_is_written_on_a_lost_connection() -> None:
    """The scripts' connection is gone: the node pauses, and the scripts on their way are in
    doubt. A script is not written on it, takes no place among those on their way, and
    its line's author is told it was not sent."""
    async with node_writing_scripts() as (hub, alice, transport):
        say(hub, alice, "in doubt")
        assert hub._answers_reader is not None
        hub._answers_reader.connection_lost(None)
        assert not hub._running.is_set()  # paused, until Redis is back
        assert [getattr(op.event, "text", None) for op in hub._in_doubt] == ["in doubt"]
        assert hub._scripts_out == 0
        assert hub._recovery is not None
        await _cancel([hub._recovery])
        hub._running.set()  # (as if back, but on no connection)
        say(hub, alice, "lost")
        assert len(transport.written) == 1
        assert hub._scripts_out == 0
        assert not hub._unanswered
        assert hub._all_answered.is_set()
        await asyncio.sleep(0)  # the hub's pass
        assert told(alice).count(redis_hub.REFUSED) == 1


async def test_a_closing_node_that_loses_its_scripts_connection_refuses_their_lines() -> None:
    """The node is closing (it waits for every answer) when the scripts' connection goes:
    the lines on their way are refused at once, with no verdict to wait for."""
    async with node_writing_scripts() as (hub, alice, _):
        say(hub, alice, "on its way")
        hub.begin_close()
        assert hub._answers_reader is not None
        hub._answers_reader.connection_lost(None)
        assert hub._all_answered.is_set()
        assert not hub._in_doubt
        await asyncio.sleep(0)  # the hub's pass
        assert told(alice).count(redis_hub.REFUSED) == 1


async def test_an_answer_overdue_pauses_the_node_once() -> None:
    """Redis takes a script and answers nothing: past REPLY_TIMEOUT the node pauses, the
    script in doubt. An answer in time moves the deadline to the next script's."""
    async with node_writing_scripts() as (hub, alice, _):
        loop = asyncio.get_running_loop()
        say(hub, alice, "answered")
        await asyncio.sleep(0)
        say(hub, alice, "not answered")
        await asyncio.sleep(0)
        assert hub._answers_reader is not None
        hub._answers_reader.data_received(ANSWER % (1, 0))
        hub._unanswered[0].at = loop.time() - REPLY_TIMEOUT + 0.05
        timer = hub._answer_timer
        assert timer is not None
        timer.cancel()
        hub._answer_overdue()  # as the timer would, at the first script's deadline
        assert hub._running.is_set()  # the answered one's deadline has passed, not this
        await asyncio.sleep(0.1)
        assert not hub._running.is_set()
        assert told(alice).count(redis_hub.PAUSED) == 1
        assert [getattr(op.event, "text", None) for op in hub._in_doubt] == ["not answered"]


async def test_a_line_held_for_a_rooms_moderation_is_sent_before_its_node_leaves(
    redis_url: str,
) -> None:
    """alice joins a room her node has not read yet and speaks at once: her line waits for
    the room's moderation to load, which waits for her join to come back, which Redis
    holds (its writes paused) as the node shuts down. Once Redis goes on, the line is
    sent, then her leaving, before the node leaves the cluster."""
    async with running_cluster(redis_url, 2, node_timeout=60) as cluster:
        a, b = cluster.nodes
        alice, bob = await cluster.alice_and_bob()
        await bob.send("/join #new")
        await bob.expect("now talking in #new")
        node = hub_of(a)
        assert node.modes is not None
        async with shut_down_while_redis_holds_writes(redis_url, a):
            await alice.send("/join #new")
            await wait_until(lambda: node._sending)  # her join and presence, on their way
            await alice.send("/msg #new hello")
            await wait_until(lambda: bool(node.modes and node.modes.hold))  # held
        await bob.expect(r"#new \*\*\* alice joined")
        await bob.expect(r"#new <alice> hello")
        await bob.expect(r"\*\*\* alice left")
        assert node.node not in await hub_of(b)._connected().smembers(node.keys.nodes)


async def test_a_pass_whose_script_fails_fails_only_its_room_events(redis_url: str) -> None:
    """The pass's claims and presence went to Redis; then its script cannot be sent. Only
    the room events are failed: what Redis took is not queued again (a topic sent again
    could overwrite a newer one), and alice is told once that her line was not sent."""
    hub = RedisHub(redis_url, node_timeout=15)
    await hub.start()
    try:
        await _cancel(hub._tasks)  # the test drives the sender's work by hand
        transport = FakeTransport()
        alice = Peer(transport)
        hub.register(alice, "alice")
        room = hub.join_room(alice, "#lobby")
        event_id, ts = hub.clock.stamp()
        hub.publish(Message(event_id, ts, "alice", "hi", "#lobby"), room=room, exclude=alice)
        assert hub._appender is not None
        # The scripts' connection is gone. (Read by the node, not redis-py: nowait.)
        await hub._appender.disconnect(nowait=True)
        batch = hub._unsent = hub._take_outbox()
        assert any(isinstance(op, Claim) for op in batch)
        with pytest.raises(RedisConnectionError):
            await hub._send(batch)
        assert [type(op) for op in hub._unsent] == [RoomEvent]
        hub._failed_batch(hub._unsent)
        assert not hub._outbox
        await asyncio.sleep(0)
        assert transport.written.decode().count(redis_hub.REFUSED) == 1
    finally:
        await hub.close()


async def test_a_node_does_not_resume_without_its_scripts_connection(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scripts' connection, made again as the node comes back, goes before the node
    resumes: it tries again, and resumes with a connection it can write its lines to."""
    hub = RedisHub(redis_url, node_timeout=15)
    await hub.start()
    try:
        announce_back = hub._announce_back
        cut: list[bool] = []

        def cut_once() -> None:
            if not cut:
                cut.append(True)
                assert hub._answers_reader is not None
                assert hub._answers_reader._transport is not None
                hub._answers_reader._transport.close()
            announce_back()

        monkeypatch.setattr(hub, "_announce_back", cut_once)
        hub._lost(RedisConnectionError("cut off"))
        await wait_until(hub._running.is_set)
        assert cut
        assert hub._answers_reader is not None
        assert not hub._answers_reader.ended
    finally:
        await hub.close()


async def counted_dead(admin: aioredis.Redis, node: RedisHub) -> None:
    """What a sweep leaves of ``node`` in Redis (cluster_scripts.SWEEP): off the node set,
    its presence hash gone, and its mark for the node to find."""
    await admin.srem(node.keys.nodes, node.node)
    await admin.delete(node.keys.users(node.node))
    await admin.set(node.keys.swept(node.node), "1")


async def test_a_node_counted_dead_while_redis_kept_its_data_resumes_without_replaying(
    redis_url: str,
) -> None:
    """A node loses Redis, and meanwhile the others count it dead; Redis kept everything.
    Back, it registers its members again and reads on from where it was: its members do
    not get the room's old events a second time, and hear what was said meanwhile."""
    async with running_cluster(redis_url, 2, node_timeout=60) as cluster:
        a, b = cluster.nodes
        alice, bob = await cluster.alice_and_bob()
        await bob.send("before")
        await alice.expect(r"<bob> before")
        node = hub_of(a)
        node._lost(RedisConnectionError("cut off"))
        await alice.expect("the chat is paused")
        admin = hub_of(b)._connected()
        await counted_dead(admin, node)
        await bob.send("meanwhile")
        await alice.expect("the chat is back")
        await bob.send("after")
        await alice.expect(r"<bob> after")
        said = [line for line in alice.seen if "<bob>" in line or "joined" in line]
        assert [line.split("] ", 1)[1] for line in said] == [
            "*** bob joined",
            "<bob> before",
            "<bob> meanwhile",
            "<bob> after",
        ]
        assert node.node in await admin.smembers(node.keys.nodes)
        assert nick_key("alice") in await admin.hgetall(node.keys.users(node.node))


async def test_a_node_back_from_an_outage_that_a_sweep_left_alone_registers_nothing_again(
    redis_url: str,
) -> None:
    """A node loses Redis; a sweeper takes it off the node set and stops there (it found the
    node back: cluster_scripts.SWEEP), leaving its presence hash. Back, the node finds its
    members still registered: it does not announce them back, and bob reads no join."""
    async with running_cluster(redis_url, 2, node_timeout=60) as cluster:
        a, b = cluster.nodes
        alice, bob = await cluster.alice_and_bob()
        node, admin = hub_of(a), hub_of(b)._connected()
        before = len(bob.seen)
        node._lost(RedisConnectionError("cut off"))
        await alice.expect("the chat is paused")
        await admin.srem(node.keys.nodes, node.node)
        await alice.expect("the chat is back")
        assert not node._swept
        assert node.node in await admin.smembers(node.keys.nodes)
        await alice.send("back")
        await bob.expect(r"<alice> back")
        assert not any("alice joined" in line for line in bob.seen[before:])


async def test_a_node_counted_dead_while_cut_off_takes_the_rooms_moderation_again(
    redis_url: str,
) -> None:
    """carol, a server operator, made #dev (its operator) and made alice one too. Their
    node loses Redis, and meanwhile the others count it dead and take both their powers
    in the room's modes hash, as a sweeper does. Back, their node takes the hash's view
    again: alice is told she is no longer an operator of #dev, and is not one on her node
    either; carol, who may still moderate it as a server operator, is told nothing."""
    async with running_cluster(redis_url, 2, node_timeout=60, oper_password="sesame") as cluster:
        a, b = cluster.nodes
        alice, _ = await cluster.alice_and_bob()
        carol = await cluster.client(a, "carol")
        await carol.send("/oper sesame")
        await carol.expect("you are now a server operator")
        await carol.send("/join #dev")  # she made it: an operator of #dev itself too
        await carol.expect("now talking in #dev")
        await alice.send("/join #dev")
        await alice.expect("now talking in #dev")
        await carol.send("/op alice")
        await alice.expect("made alice an operator")
        node = hub_of(a)
        admin = hub_of(b)._connected()
        modes = node.keys.modes(room_key("#dev"))
        await wait_until(lambda: room_key("#dev") in node._positions)
        assert {"op:alice", "op:carol"} <= set(await admin.hgetall(modes))
        # Counted dead, and their powers taken as a sweeper's leavings take them, as the
        # node loses Redis (before it: its recovery cannot come first).
        await counted_dead(admin, node)
        await admin.hdel(modes, "op:alice", "op:carol")
        node._lost(RedisConnectionError("cut off"))
        await alice.expect("the chat is paused")
        await alice.expect("the chat is back")  # (the notice comes just before it)
        await carol.expect("the chat is back")
        assert sum("you are no longer an operator of #dev" in line for line in alice.seen) == 1
        assert not any("no longer an operator" in line for line in carol.seen)
        dev = node._rooms[room_key("#dev")]
        alice_here, carol_here = node.find("alice"), node.find("carol")
        assert alice_here is not None
        assert carol_here is not None
        assert not a.moderation.is_room_operator(alice_here, dev)
        assert not a.moderation.is_room_operator(carol_here, dev)


@contextlib.asynccontextmanager
async def sender_stopped(node: RedisHub) -> AsyncIterator[None]:
    """``node`` sends nothing to Redis while the block runs (its outbox fills), and sends
    what waits after it. (Its sender must be idle as the block starts.)"""
    sender = node._sender
    assert sender is not None
    await _cancel([sender])
    node._tasks.remove(sender)
    try:
        yield
    finally:
        node._sender = asyncio.create_task(node._send_forever(), name="cluster sender")
        node._tasks.append(node._sender)


def _sweepers_leaving(operation: object) -> bool:
    return (
        isinstance(operation, RoomEvent)
        and isinstance(operation.event, Leave)
        and operation.event.reason == redis_hub.NODE_LOST
    )


async def test_a_sweepers_leaving_read_after_the_node_is_back_takes_the_powers_here_too(
    redis_url: str,
) -> None:
    """alice made #dev. Her node stalls past --node-timeout, and the other node sweeps it,
    but sends its leaving (whose script takes her powers in the room's modes hash) only
    after her node is back and has loaded the hash, still with her powers. When her node
    reads that leaving, it takes her powers too, and tells her."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        alice, bob = await alice_and_bob_in_dev(cluster)
        node, other = hub_of(a), hub_of(b)
        admin = other._connected()
        modes = node.keys.modes(room_key("#dev"))
        dev = node._rooms[room_key("#dev")]
        async with sender_stopped(other):
            async with heartbeat_stopped(node):
                # Swept: the leaving waits in the sender's outbox.
                await wait_until(lambda: any(_sweepers_leaving(op) for op in other._outbox), 10)
            await bob.expect(r"#dev \*\*\* alice joined", timeout=10)  # announced back
            alice_here = node.find("alice")
            assert alice_here is not None
            assert a.moderation.is_room_operator(alice_here, dev)  # as the hash still says
        await alice.expect("you are no longer an operator of #dev", timeout=10)
        assert not a.moderation.is_room_operator(alice_here, dev)
        assert "op:alice" not in await admin.hgetall(modes)
        assert sum("no longer an operator" in line for line in alice.seen) == 1


async def test_a_change_read_while_a_node_loads_a_rooms_moderation_again_is_not_undone(
    redis_url: str,
) -> None:
    """Back from being counted dead, alice's node loads #dev's modes hash again while its
    reader goes on; bob's /slow 7 is read and acted on while the hash (read before it) is
    on its way back. The node loads the hash once more: slow mode holds."""
    async with running_cluster(redis_url, 2, oper_password="sesame") as cluster:
        a, b = cluster.nodes
        _, bob = await alice_and_bob_in_dev(cluster)
        await bob.send("/oper sesame")
        await bob.expect("you are now a server operator")
        node = hub_of(a)
        dev = node._rooms[room_key("#dev")]
        original = node._load_modes
        stale: list[str] = []

        async def stale_load(client: aioredis.Redis, room: Room) -> None:
            if stale or room is not dev:
                await original(client, room)
                return
            stale.append(room.key)
            assert node.modes is not None
            fields = _hash(await client.hgetall(node.keys.modes(room.key)))  # before the change
            await bob.send("/slow 7")
            await wait_until(lambda: a.moderation.slow(dev) == 7)  # read and acted on
            node.modes.loaded(room, fields, [])

        node._load_modes = stale_load  # type: ignore[method-assign]
        async with heartbeat_stopped(node):
            await wait_until(lambda: nick_key("alice") not in hub_of(b)._remote, timeout=10)
        # Loaded (the stale way first), then announced back (_swept cleared).
        await wait_until(lambda: stale == [dev.key] and not node._swept, timeout=10)
        assert a.moderation.slow(dev) == 7


async def test_a_redis_that_refuses_writes_pauses_the_chat_and_says_so(redis_url: str) -> None:
    """Redis at its maxmemory (noeviction) answers, but refuses every write: the chat
    pauses, its members are told that Redis refuses (not that it is unreachable), and it
    goes on, nothing said twice, once Redis takes writes again."""
    async with running_cluster(redis_url, 2, node_timeout=60) as cluster:
        alice, bob = await cluster.alice_and_bob()
        admin = aioredis.Redis.from_url(redis_url)
        try:
            await admin.config_set("maxmemory-policy", "noeviction")
            await admin.config_set("maxmemory", "1")
            await alice.send("refused")
            await alice.expect(r"!!! the chat is paused")
            notice = await alice.expect(r"\*\*\* the chat is paused: (.*)")
            assert "refuses" in notice.group(1)
            assert "lost its connection" not in notice.group(1)
        finally:
            await admin.config_set("maxmemory", "0")
            await admin.aclose()
        await alice.expect(r"\*\*\* the chat is back")
        await alice.send("taken")
        await bob.expect(r"<alice> taken")
        assert not any("<alice> refused" in line for line in bob.seen)


async def test_a_node_swept_while_it_ran_registers_again_and_its_members_stay(
    redis_url: str,
) -> None:
    """A node whose heartbeat stops for longer than --node-timeout (a stalled process) is
    counted dead: the others announce alice gone and free her nickname. Its next heartbeat
    finds it gone and registers it again: alice is listed on the other node again, holds
    her nickname, and is never told that she herself left."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        alice, bob = await cluster.alice_and_bob()
        node, other = hub_of(a), hub_of(b)
        async with heartbeat_stopped(node):
            await bob.expect(r"\*\*\* alice left \(server lost\)", timeout=10)
            await wait_until(lambda: nick_key("alice") not in other._remote)  # (read gone)
        await wait_until(lambda: nick_key("alice") in other._remote)
        owner = await other._connected().get(other.keys.owner("alice"))
        assert owner == node._owner_value("alice")
        await bob.send("still there?")
        await alice.expect(r"<bob> still there\?")
        assert not any("alice left" in line for line in alice.seen)


class BackMidSweep:
    """A sweeper's client, with the swept node beating again (``back``) in the middle of
    the sweep: just after the sweeper's ``hgetall``, or just before its script."""

    def __init__(
        self, client: aioredis.Redis, back: Callable[[], Awaitable[object]], at: str
    ) -> None:
        self._client = client
        self._back = back
        self._at = at

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name != self._at:
            return method

        async def step(*args: Any) -> Any:
            if name == "evalsha":
                await self._back()
            result = await method(*args)
            if name == "hgetall":
                await self._back()
            return result

        return step


@pytest.mark.parametrize("at", ["hgetall", "evalsha"])
async def test_a_node_back_while_it_is_swept_keeps_its_members_and_their_nicknames(
    redis_url: str, at: str
) -> None:
    """alice's node missed its heartbeat, and beats again as the other node sweeps it:
    once the sweeper has read its members, or just before the sweeper's script (which
    takes it off the node set). The sweep stops there: the node is in the node set, alice
    keeps her nickname and her place in her node's presence hash, the other node still
    lists her, her node's heartbeat finds nothing to register again, and bob is told
    neither that she left nor that she joined."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        alice, bob = await cluster.alice_and_bob()
        node, sweeper = hub_of(a), hub_of(b)
        admin = sweeper._connected()
        beats: list[bool] = []

        async def beat() -> None:
            beats.append(await node._beat(node._connected()))

        before = len(bob.seen)
        async with heartbeat_stopped(node), heartbeat_stopped(sweeper):
            await admin.delete(node.keys.node(node.node))  # its heartbeat expired
            await sweeper._sweep(cast(aioredis.Redis, BackMidSweep(admin, beat, at)))
            assert beats == [False]  # not swept: nothing to register again
            assert await admin.sismember(node.keys.nodes, node.node)
            users = await admin.hgetall(node.keys.users(node.node))
            assert nick_key("alice") in users
            owner = await admin.get(node.keys.owner("alice"))
            assert owner == node._owner_value("alice")
            assert nick_key("alice") in sweeper._remote
        await alice.send("still here")
        await bob.expect(r"<alice> still here")
        assert not any("alice left" in line for line in bob.seen)
        assert not any("alice joined" in line for line in bob.seen[before:])


async def test_a_node_swept_knows_it_even_once_its_own_writes_made_its_hash_again(
    redis_url: str,
) -> None:
    """alice's node is swept while it stalls; dave then registers there, and its writes
    make the node's presence hash again, with dave alone in it. Its heartbeat still finds
    it swept (the sweep's mark, there until the node registers again), and registers
    alice again: the other node lists her, and her nickname is her node's."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        await cluster.alice_and_bob()
        node, sweeper = hub_of(a), hub_of(b)
        admin = sweeper._connected()
        async with heartbeat_stopped(node), heartbeat_stopped(sweeper):
            await admin.delete(node.keys.node(node.node))  # its heartbeat expired
            await sweeper._sweep(admin)
            await wait_until(lambda: nick_key("alice") not in sweeper._remote)  # (read gone)
            await cluster.client(a, "dave")
            users = node.keys.users(node.node)
            await wait_until(lambda: not node._outbox and not node._sending)
            assert await admin.hexists(users, nick_key("dave"))
            assert not await admin.hexists(users, nick_key("alice"))
            # A beat that registers nothing (cut short, say) leaves the mark for the next.
            assert await node._beat(node._connected())
            assert await node._beat(node._connected())
        await wait_until(lambda: nick_key("alice") in sweeper._remote)  # its next heartbeat
        owner = await admin.get(node.keys.owner("alice"))
        assert owner == node._owner_value("alice")
        assert not await admin.exists(node.keys.swept(node.node))  # registered: no mark


async def test_a_node_back_from_being_counted_dead_announces_its_members_back(
    redis_url: str,
) -> None:
    """alice made #dev (its operator). Her node stalls past --node-timeout: the other node
    announces her gone, and her leaving takes her powers in the room's modes hash. Her
    node, back while Redis kept its data, announces her joining again, to the other
    node's members only: bob reads that she left, then that she joined #lobby and #dev;
    alice reads neither. Her powers are not given back (her node's view of them may be
    older than what was done meanwhile), and the node does not write its view of the
    room over the hash: a change made meanwhile stays. Her node takes the hash's view
    again: she is an operator there no more (and is told so), and the change holds."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        alice, bob = await alice_and_bob_in_dev(cluster)
        node, other = hub_of(a), hub_of(b)
        admin = other._connected()
        modes = node.keys.modes(room_key("#dev"))
        assert "op:alice" in await admin.hgetall(modes)
        before = len(alice.seen)
        async with heartbeat_stopped(node):
            await bob.expect(r"\*\*\* alice left \(server lost\)", timeout=10)
            await wait_until(lambda: nick_key("alice") not in other._remote)
            assert "op:alice" not in await admin.hgetall(modes)
            await admin.hset(modes, "slow", "9")  # changed meanwhile
        await bob.expect(r"#lobby \*\*\* alice joined", timeout=10)
        await bob.expect(r"#dev \*\*\* alice joined", timeout=10)
        await wait_until(lambda: nick_key("alice") in other._remote)
        fields = await admin.hgetall(modes)
        assert "op:alice" not in fields
        assert fields["slow"] == "9"
        await bob.send("/msg #dev welcome back")
        await alice.expect(r"welcome back")
        since = alice.seen[before:]
        assert not any("alice left" in line or "alice joined" in line for line in since)
        assert not node._in_flight
        assert sum("you are no longer an operator of #dev" in line for line in since) == 1
        dev = node._rooms[room_key("#dev")]
        alice_here = node.find("alice")
        assert alice_here is not None
        assert not a.moderation.is_room_operator(alice_here, dev)
        assert a.moderation.slow(dev) == 9


def test_only_a_redis_that_takes_no_writes_is_said_to_refuse_them() -> None:
    """Full, read-only, forbidden or unable to persist: it refuses writes. A lost script,
    a busy one or a lost connection pauses the chat in the usual words."""
    refusing = [
        OutOfMemoryError("command not allowed when used memory > 'maxmemory'"),
        ReadOnlyError("You can't write against a read only replica."),
        NoPermissionError("this user has no permissions to run the 'evalsha' command"),
        ResponseError("MISCONF Redis is configured to save RDB snapshots, but it's failing"),
    ]
    others = [
        NoScriptError("No matching script"),
        ResponseError("BUSY Redis is busy running a script"),
        RedisConnectionError("Connection closed by server."),
        TimeoutError(),
    ]
    assert all(redis_hub._refuses_writes(error) for error in refusing)
    assert not any(redis_hub._refuses_writes(error) for error in others)


async def test_closing_a_node_twice_is_closing_it_once(redis_url: str) -> None:
    """A second close() while the first sends what is left returns at once (it could only
    wait on the first's work), and the first still finishes: the node leaves cleanly."""
    async with running_cluster(redis_url, 2, node_timeout=60) as cluster:
        a, b = cluster.nodes
        alice, bob = await cluster.alice_and_bob()
        node = hub_of(a)
        await alice.send("last words")
        first = asyncio.create_task(node.close())
        await asyncio.sleep(0)
        await asyncio.wait_for(node.close(), 1)
        await first
        await bob.expect(r"<alice> last words")
        assert node.node not in await hub_of(b)._connected().smembers(node.keys.nodes)


async def test_a_line_redis_ran_as_its_answer_was_lost_is_heard_and_not_refused(
    own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis hangs (SIGSTOP) with alice's line on its way: the node pauses, not knowing
    whether Redis will run it. Redis goes on and runs it before the node cuts the old
    connection: back, the node finds the line in the room's stream, and everyone hears it
    once (carol on alice's node too); alice is not told that it was not sent, and is not
    sent her own line."""
    monkeypatch.setattr(redis_hub, "REPLY_TIMEOUT", 1.0)
    monkeypatch.setattr(redis_hub, "BLOCK_MS", 500)
    async with running_cluster(own_redis.url, 2) as cluster:
        alice, bob = await cluster.alice_and_bob()
        carol = await cluster.client(cluster.nodes[0], "carol")
        await bob.expect(r"\*\*\* carol joined")
        node = hub_of(cluster.nodes[0])
        own_redis.hang(True)
        try:
            await alice.send("said as Redis hung")
            await wait_until(lambda: len(node._unanswered) == 1)
            await alice.expect(r"\*\*\* the chat is paused", timeout=5)
        finally:
            own_redis.hang(False)
        await alice.expect(r"\*\*\* the chat is back", timeout=10)
        for member in (bob, carol):
            await member.expect(r"<alice> said as Redis hung", timeout=10)
        for member in (alice, bob, carol):
            await settled(member)
        assert not any("!!!" in line for line in alice.seen)
        assert not any("<alice> said as Redis hung" in line for line in alice.seen)
        assert sum("<alice> said as Redis hung" in line for line in bob.seen) == 1
        assert sum("<alice> said as Redis hung" in line for line in carol.seen) == 1
        assert not node._in_doubt
        assert not node._in_flight


async def test_a_line_redis_never_ran_is_refused_when_the_node_is_back(redis_url: str) -> None:
    """Redis holds alice's line (CLIENT PAUSE WRITE), then drops every connection, the
    line's with it, unrun. Back, the node does not find the line in the room's stream:
    alice is told that what she said as Redis was lost did not reach the chat, and no one
    hears it."""
    async with running_cluster(redis_url, 2) as cluster:
        alice, bob = await cluster.alice_and_bob()
        node = hub_of(cluster.nodes[0])
        admin = aioredis.Redis.from_url(redis_url)
        try:
            await admin.client_pause(10_000, all=False)
            await alice.send("said into the void")
            await wait_until(lambda: len(node._unanswered) == 1)
            await admin.client_kill_filter(_type="normal", skipme=True)
        finally:
            await admin.client_unpause()
            await admin.aclose()
        await alice.expect(r"\*\*\* the chat is paused", timeout=5)
        await alice.expect(
            r"!!! what you sent as this server lost Redis did not reach the chat", timeout=10
        )
        await alice.expect(r"\*\*\* the chat is back", timeout=10)
        await alice.send("and now")
        await bob.expect(r"<alice> and now", timeout=10)
        assert not any("said into the void" in line for line in bob.seen)
        assert not any(redis_hub.REFUSED in line for line in alice.seen)
        assert not node._in_doubt
        assert not node._in_flight


async def test_a_line_still_in_the_network_as_its_node_lost_redis_never_reaches_the_chat(
    own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alice's line is on its way to Redis, held in the network (a proxy holds it), when
    her node gives up on its answer. Back, the node closes that connection on Redis's side,
    does not find the line, and tells alice it did not reach the chat. The held bytes then
    reach Redis and never run: bob never hears the line, and no stream holds it."""
    monkeypatch.setattr(redis_hub, "REPLY_TIMEOUT", 1.0)
    async with holding_proxy(own_redis.port) as proxy:
        cluster = Cluster(f"redis://127.0.0.1:{proxy.port}/0")
        try:
            held_node = hub_of(await cluster.node())
            cluster.url = own_redis.url
            await cluster.node()
            alice, bob = await cluster.alice_and_bob()
            known = held_node._appender_known
            assert known is not None
            proxy.hold(known.addr)
            await alice.send("held in the network")
            await alice.expect(r"\*\*\* the chat is paused", timeout=5)
            await alice.expect(redis_hub.NOT_HEARD, timeout=10)
            await alice.expect(r"\*\*\* the chat is back", timeout=10)
            await proxy.release()
            await alice.send("and after it")
            await bob.expect(r"<alice> and after it", timeout=10)
            assert not any("held in the network" in line for line in bob.seen)
            events = _entries(
                await held_node._connected().xrange(held_node.keys.events(room_key("#lobby")))
            )
            assert not any("held in the network" in fields["e"] for _, fields in events)
            assert any("and after it" in fields["e"] for _, fields in events)
        finally:
            await cluster.close()


async def test_a_lost_connection_is_closed_on_redis_only_where_both_its_run_and_address_match(
    redis_url: str,
) -> None:
    """Back from an outage, the node closes the scripts' connection it lost, named by its
    id and address, only in the run of Redis that connection was made in (a Redis started
    again hands out the same ids to other clients), and only the client at that address."""
    async with quiet_node(redis_url) as hub:
        other = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            info = await other.client_info()
            run_id = str((await other.info("server"))["run_id"])
            client = hub._connected()
            for run, addr, closed in (
                ("another run", str(info["addr"]), False),
                (run_id, "127.0.0.1:1", False),
                (run_id, str(info["addr"]), True),
            ):
                hub._appender_known = _KnownConnection(run, str(info["id"]), addr)
                await hub._close_lost_appender(client)
                assert hub._appender_known is None
                ids = {str(c["id"]) for c in await client.client_list()}
                assert (str(info["id"]) not in ids) is closed
        finally:
            await other.aclose()


def test_only_a_refusal_for_good_stops_the_node_closing_lost_connections(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis busy with a long script, or a replica cut off from its master, refuses CLIENT
    KILL for now: the recovery tries again (Redis unavailable). Refused by an ACL, or in
    any other words (a proxy that has no such command): said once, and not asked again."""
    hub = RedisHub("redis://127.0.0.1:1/0", node_timeout=15)
    for for_now in ("BUSY Redis is busy running a script.", "MASTERDOWN Link with MASTER is down"):
        with pytest.raises(RedisConnectionError, match=for_now.partition(" ")[0]):
            hub._refused_to_close(ResponseError(for_now))
    assert not hub._cannot_close
    hub._refused_to_close(ResponseError("ERR unsupported command, in words of a proxy's own"))
    assert hub._cannot_close
    hub = RedisHub("redis://127.0.0.1:1/0", node_timeout=15)
    hub._refused_to_close(NoPermissionError("this user has no permissions to run 'client|kill'"))
    assert hub._cannot_close
    said = [r for r in caplog.records if "cannot close its lost connections" in r.getMessage()]
    assert len(said) == 2  # once for each node refused for good, not for the busy one


@pytest.mark.parametrize("refused", ["client|info", "client|kill"])
async def test_a_node_redis_will_not_let_close_its_lost_connection_says_so_and_goes_on(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture, refused: str
) -> None:
    """A Redis user without CLIENT INFO or CLIENT KILL (an ACL): the node starts, and comes
    back from an outage all the same, saying once in its log that it cannot close its lost
    connections on Redis."""
    own_redis.command("ACL", "SETUSER", "chat", "on", ">secret", "~*", "&*", "+@all", f"-{refused}")
    url = f"redis://chat:secret@127.0.0.1:{own_redis.port}/0"
    async with running_cluster(url, 2) as cluster:
        alice, bob = await cluster.alice_and_bob()
        admin = aioredis.Redis.from_url(own_redis.url)
        try:
            for _ in range(2):
                await admin.client_kill_filter(_type="normal", skipme=True)
                await alice.expect(r"\*\*\* the chat is paused", timeout=5)
                await alice.expect(r"\*\*\* the chat is back", timeout=10)
        finally:
            await admin.aclose()
        await alice.send("still here")
        await bob.expect(r"<alice> still here", timeout=10)
    said = [r for r in caplog.records if "cannot close its lost connections" in r.getMessage()]
    assert len(said) == 2  # once for each node
    assert all("secret" not in record.getMessage() for record in caplog.records)


class EmptyStreams:
    """A Redis whose streams hold nothing; asked nothing else."""

    async def xrange(self, *args: object, **kwargs: object) -> list[object]:
        return []


class NotAsked:
    """A Redis that must not be asked anything."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"Redis asked for {name}")


@pytest.mark.parametrize("emptied", [False, True], ids=["not in the stream", "Redis back empty"])
async def test_lines_in_doubt_that_redis_does_not_hold_are_refused_once(emptied: bool) -> None:
    """Back from an outage, a line in doubt that is not in its room's stream (here, a room
    this node was not reading yet: looked for from the stream's start), or any line in
    doubt in a Redis that came back empty (where the node does not even look), did not
    reach the chat: its author is told so, once."""
    hub, alice, transport = paused_node_with_alice()
    room = hub._rooms[room_key("#lobby")]
    event_id, ts = hub.clock.stamp()
    hub.publish(Message(event_id, ts, "alice", "lost", "#lobby"), room=room, exclude=alice)
    hub._doubt([op for op in hub._take_outbox() if isinstance(op, RoomEvent)])
    redis = cast(aioredis.Redis, NotAsked() if emptied else EmptyStreams())
    await hub._settle_in_doubt(redis, emptied=emptied)
    await asyncio.sleep(0)  # the hub's pass
    assert transport.written.decode().count(redis_hub.NOT_HEARD) == 1
    assert not hub._in_doubt
    assert not hub._in_flight


async def test_lines_in_doubt_as_their_node_closes_are_refused() -> None:
    """A node closing while Redis is away can learn nothing more of the lines in doubt:
    their authors are told that they were not sent."""
    hub, alice, transport = paused_node_with_alice()
    room = hub._rooms[room_key("#lobby")]
    event_id, ts = hub.clock.stamp()
    hub.publish(Message(event_id, ts, "alice", "last", "#lobby"), room=room, exclude=alice)
    hub._doubt([op for op in hub._take_outbox() if isinstance(op, RoomEvent)])
    hub._running.clear()
    await hub.close()
    await asyncio.sleep(0)
    assert transport.written.decode().count(redis_hub.REFUSED) == 1
    assert not hub._in_doubt
    assert not hub._in_flight


async def test_a_join_to_a_new_room_answered_as_redis_went_is_heard(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alice joins a room her node is not reading yet; Redis runs her join and answers,
    then goes before the node has loaded the room's moderation (its first read of the
    room): her join is in doubt, and with it where the node would start reading. Back,
    the node finds the join from the stream's start and reads the room from there.
    alice is not told anything went wrong; bob, joining, finds her there, and hears
    what she says in it."""
    async with running_cluster(redis_url, 2) as cluster:
        alice, bob = await cluster.alice_and_bob()
        node = hub_of(cluster.nodes[0])
        modes_hash = node._modes_hash
        failures: list[str] = []

        async def redis_gone_once(client: aioredis.Redis, key: str) -> dict[str, str]:
            if not failures:
                failures.append(key)
                raise RedisConnectionError("Connection closed by server.")
            return await modes_hash(client, key)

        monkeypatch.setattr(node, "_modes_hash", redis_gone_once)
        await alice.send("/join #new")
        await alice.expect(r"\*\*\* the chat is paused", timeout=5)
        await alice.expect(r"\*\*\* the chat is back", timeout=10)
        assert failures == [room_key("#new")]
        await bob.send("/join #new")
        await alice.expect(r"bob joined", timeout=10)
        await alice.send("hello, new room")
        await bob.expect(r"hello, new room", timeout=10)
        await settled(alice, "#new")
        assert not any("!!!" in line for line in alice.seen)
        assert not node._in_doubt
        assert not node._in_flight


async def test_a_node_finds_its_own_events_past_a_page_of_others(redis_url: str) -> None:
    """Looking for its events in doubt, a node reads the room's stream a page at a time
    (READ_COUNT entries), past pages of other nodes' events, from where it had read or
    from the start, and stops once it has found all it looks for."""
    hub = RedisHub(redis_url, node_timeout=15, node="here")
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        stream = hub.keys.events("#busy")
        pipe = client.pipeline(transaction=False)
        for number in range(1, 2 * redis_hub.READ_COUNT + 2):
            pipe.xadd(stream, {"e": "{}", "o": f"there:{number}"}, id=f"{number}-0")
        await pipe.execute()
        await client.xadd(
            stream, {"e": "{}", "o": "here:7"}, id=f"{2 * redis_hub.READ_COUNT + 2}-0"
        )
        await client.xadd(
            stream, {"e": "{}", "o": "here:8"}, id=f"{2 * redis_hub.READ_COUNT + 3}-0"
        )
        last = 2 * redis_hub.READ_COUNT + 2
        for after in ("-", "5-0"):
            found = await hub._find_own(client, "#busy", after, {7, 9})
            assert found == {("#busy", 7): last}
        assert await hub._find_own(client, "#busy", f"{last}-0", {7}) == {}
    finally:
        await client.delete(hub.keys.events("#busy"))
        await client.aclose()


async def test_members_announced_back_are_those_still_here_and_are_told_nothing() -> None:
    """A node counted dead announces back its members (not one that lost the race for its
    nickname meanwhile, and is going). Nobody asked for those joins: a member's replies
    do not wait for them, and one that fails to go (Redis lost again) is refused to no
    one."""
    hub, alice, transport = paused_node_with_alice()
    carol = Peer(FakeTransport())
    hub.register(carol, "carol")
    hub.join_room(carol, "#lobby")
    hub._take_outbox()
    hub._in_flight.clear()
    hub._positions[room_key("#lobby")] = "0-0"
    hub.drop(carol, redis_hub.LOST_RACE)
    hub._swept = True
    hub._announce_back()
    joins = [op for op in hub._take_outbox() if isinstance(op, RoomEvent)]
    assert [(getattr(op.event, "nick", None), op.elsewhere) for op in joins] == [("alice", True)]
    assert alice not in hub._held
    hub._failed_batch(list(joins))
    await asyncio.sleep(0)  # the hub's pass
    assert redis_hub.REFUSED not in transport.written.decode()
    assert not hub._in_flight
    hub._announce_back()  # once
    assert not hub._take_outbox()


async def test_a_node_whose_reading_connection_is_cut_reads_on_once_it_is_made_again(
    redis_url: str,
) -> None:
    """Redis drops only the connection a node reads the streams on (``CLIENT KILL``): the
    node pauses, makes it again (read by the node, not redis-py: cluster_reading.py), says
    the chat is back, and hears the other node's lines once, the one said meanwhile too."""
    async with running_cluster(redis_url, 2) as cluster:
        alice, bob = await cluster.alice_and_bob()
        node = hub_of(cluster.nodes[0])
        admin = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            readers = [
                client
                for client in await admin.client_list()
                if client["name"] == f"tcpchat-{node.node}-streams" and client["cmd"] == "xread"
            ]
            assert len(readers) == 1
            await admin.client_kill_filter(_id=readers[0]["id"])
        finally:
            await admin.aclose()
        await alice.expect(r"\*\*\* the chat is paused")
        await bob.send("said meanwhile")
        await alice.expect(r"\*\*\* the chat is back", timeout=10)
        await alice.expect("<bob> said meanwhile")
        await bob.send("and after")
        await alice.expect("<bob> and after")
        await settled(alice)
        assert node.outages == 1
        assert sum("the chat is paused" in line for line in alice.seen) == 1
        assert sum("<bob> said meanwhile" in line for line in alice.seen) == 1


async def run_packed(client: aioredis.Redis, command: bytes) -> Any:
    """An EVALSHA the node packed in RESP, read back by hiredis (RESP's arrays of bulk
    strings are the node's replies' format too) and run by ``client``."""
    reader = hiredis.Reader(encoding="utf-8")
    reader.feed(command)
    _, sha, count, *rest = reader.gets()
    assert reader.gets() is False  # one whole command, nothing after it
    return await client.evalsha(sha, int(count), *rest)


async def test_a_room_count_that_is_not_a_number_appends_nothing(redis_url: str) -> None:
    """The append script raises each room's count once a pass, before it appends: a pass
    in #counted (two lines) and #broken, whose count is not a number, appends nothing and
    leaves #counted's count as it was. Counted again, each room's count rises by its
    lines, and the entries are numbered in order."""
    async with quiet_node(redis_url) as hub:
        alice = Peer(FakeTransport())
        hub.register(alice, "alice-counts")
        rooms = [hub.join_room(alice, name) for name in ("#counted", "#broken")]
        await hub._send(hub._take_outbox())
        client = hub._connected()
        counted, broken = (room.key for room in rooms)
        await client.set(hub.keys.count(broken), "not a number")
        before = 5  # as if five events were appended to #counted before
        await client.set(hub.keys.count(counted), before)
        for room, text in zip((rooms[0], rooms[0], rooms[1]), "abc", strict=True):
            event_id, ts = hub.clock.stamp()
            hub.publish(Message(event_id, ts, "alice-counts", text, room.name), room=room)
        events = [op for op in hub._take_outbox() if isinstance(op, RoomEvent)]
        command, _ = hub._append_script(events)  # as the node packs it
        lengths = [await client.xlen(hub.keys.events(key)) for key in (counted, broken)]
        with pytest.raises(ResponseError, match="not an integer"):
            await run_packed(client, command)
        assert await client.get(hub.keys.count(counted)) == str(before)
        assert [await client.xlen(hub.keys.events(key)) for key in (counted, broken)] == lengths
        await client.delete(hub.keys.count(broken))
        first_id, *counts = await run_packed(client, command)
        assert counts == [before, 0]
        assert await client.get(hub.keys.count(counted)) == str(before + 2)
        assert await client.get(hub.keys.count(broken)) == "1"
        tail = _entries(await client.xrevrange(hub.keys.events(counted), count=2))
        assert [(fields["n"], entry_id) for entry_id, fields in reversed(tail)] == [
            (str(before + 1), f"{first_id}-0"),
            (str(before + 2), f"{first_id + 1}-0"),
        ]


async def test_the_append_script_hands_out_ids_above_the_nodes_highest(redis_url: str) -> None:
    """The ids of a pass come from the cluster's counter, or from above the highest id
    the node has seen when the counter is below it (Redis came back empty): never an id
    handed out before."""
    async with quiet_node(redis_url) as hub:
        alice = Peer(FakeTransport())
        hub.register(alice, "alice-ids")
        room = hub.join_room(alice, "#numbered")
        await hub._send(hub._take_outbox())
        client = hub._connected()

        async def three_lines() -> int:
            for text in "abc":
                event_id, ts = hub.clock.stamp()
                hub.publish(Message(event_id, ts, "alice-ids", text, room.name), room=room)
            events = [op for op in hub._take_outbox() if isinstance(op, RoomEvent)]
            first_id, *_ = await run_packed(client, hub._append_script(events)[0])
            return int(first_id)

        counter = int(await client.get(hub.keys.ids) or 0)
        hub._highest = counter - 1  # below the counter: the counter's next ids
        assert await three_lines() == counter + 1
        assert await client.get(hub.keys.ids) == str(counter + 3)
        hub._highest = counter + 100  # above it: the node's highest, then on
        assert await three_lines() == counter + 101
        assert await client.get(hub.keys.ids) == str(counter + 103)
        entries = _entries(await client.xrange(hub.keys.events(room.key)))
        assert [entry_id for entry_id, _ in entries[-6:]] == [
            f"{counter + offset}-0" for offset in (1, 2, 3, 101, 102, 103)
        ]


async def test_a_sweeper_waits_for_nothing_from_a_room_it_does_not_read(redis_url: str) -> None:
    """bob (node B) and carol (node C) are in #dev; alice's node A reads no #dev. A sweeps
    B once it is counted dead and announces bob gone in #dev, which carol hears. A waits
    for nothing to come back from #dev: kept waiting, its lag would grow for good (the
    backplane-lag metric), and #dev would be read there forever."""
    async with running_cluster(redis_url, 3) as cluster:
        a, b, c = cluster.nodes
        await cluster.client(a, "alice")
        bob = await cluster.client(b, "bob")
        carol = await cluster.client(c, "carol")
        await bob.send("/join #dev")
        await carol.send("/join #dev")
        await carol.expect(r"#dev \*\*\* bob joined|\d users in #dev: bob, carol")
        sweeper, dead, other = hub_of(a), hub_of(b), hub_of(c)
        await wait_until(lambda: nick_key("bob") in sweeper._remote)
        assert sweeper.room("#dev") is not None  # shown, from presence
        assert room_key("#dev") not in sweeper._positions  # not read
        async with heartbeat_stopped(sweeper), heartbeat_stopped(dead), heartbeat_stopped(other):
            client = sweeper._connected()
            await client.delete(dead.keys.node(dead.node))  # its heartbeat expired
            await sweeper._sweep(client)
            await carol.expect(r"\*\*\* bob left \(server lost\)")
            await wait_until(lambda: sweeper.sent_batches > 0 and not sweeper._outbox)
            await settled(carol, "#dev")
        await wait_until(lambda: not sweeper._in_flight)  # (#lobby's leaving is read back)
        assert sweeper.lag() == 0
        assert room_key("#dev") not in sweeper._positions


async def test_an_event_of_no_member_that_redis_refused_is_told_here_when_sent_again(
    redis_url: str,
) -> None:
    """A room event with no member of this node behind it (a sweeper's leaving) that Redis
    refused is sent again with the node's next pass. Sent in one script with a line of
    alice's, both are told to bob, in order, and no gap is announced: before, the leaving
    was no longer awaited when its answer came, so the answer told alice's line past it
    and the reader then took it for told."""
    async with running_cluster(redis_url, 1, flood_control=False) as cluster:
        (a,) = cluster.nodes
        alice, bob = await cluster.alice_and_bob_on_one_node()
        node = hub_of(a)
        room = node.room("#lobby")
        author = node.find("alice")
        assert room is not None
        assert author is not None
        node._stop_reading_streams()  # the answer alone tells them
        event_id, ts = node.clock.stamp()
        node._announce_to(Leave(event_id, ts, "ghost", redis_hub.NODE_LOST), [room], None, None)
        node._failed_batch(node._take_outbox())  # as a refused script leaves it
        event_id, ts = node.clock.stamp()
        line = Message(event_id, ts, "alice", "after the refusal", "#lobby")
        node.publish(line, room=room, exclude=author)  # the same pass
        await bob.expect(r"\*\*\* ghost left \(server lost\)")
        await bob.expect(r"<alice> after the refusal")
        node._read_streams()
        await alice.send("and after that")
        await bob.expect(r"<alice> and after that")
        assert not any("fell behind" in line for line in bob.seen)
        assert node.skipped_notices == 0


async def test_a_heartbeat_takes_again_the_nicknames_that_lapsed_and_not_one_taken_since(
    redis_url: str,
) -> None:
    """Node A stalls past the nicknames' lifetime and beats again before any sweep: its
    next heartbeat takes alice's nickname again (only extending its lifetime, it left it
    free in Redis for good). bob's, taken on the other node meanwhile, it does not take:
    bob here is told so and cut off, as a member who loses a race for a nickname is."""
    async with running_cluster(redis_url, 2, node_timeout=60) as cluster:
        a, b = cluster.nodes
        alice = await cluster.client(a, "alice")
        bob = await cluster.client(a, "bob")
        await settled(bob)
        node, other = hub_of(a), hub_of(b)
        client = other._connected()
        owner = node.keys.owner
        await client.delete(owner("alice"), owner("bob"))  # lapsed
        await client.set(owner("bob"), other._owner_value("bob"))  # and taken on B
        async with heartbeat_stopped(node):
            assert await node._beat(node._connected()) is False
        assert await client.get(owner("alice")) == node._owner_value("alice")
        assert 0 < await client.ttl(owner("alice")) <= node._owner_ttl
        assert await client.get(owner("bob")) == other._owner_value("bob")
        await bob.expect(r"the nickname 'bob' was taken on another server at the same moment")
        await bob.expect_eof()
        await alice.send("still here")
        await alice.expect(r"\*\*\* bob left")


async def test_registering_again_writes_no_record_for_a_nickname_taken_meanwhile(
    redis_url: str,
) -> None:
    """Node A registers its members again (Redis lost them, as after a sweep) and finds
    bob's nickname taken on node B meanwhile: bob here is cut off, and A writes no presence
    record of him, which would tell every node that the bob of B is on A."""
    async with running_cluster(redis_url, 2, node_timeout=60) as cluster:
        a, b = cluster.nodes
        await cluster.client(a, "alice")
        bob = await cluster.client(a, "bob")
        node, other = hub_of(a), hub_of(b)
        client = other._connected()
        owner = node.keys.owner
        await client.delete(owner("alice"), owner("bob"), node.keys.users(node.node))
        await client.set(owner("bob"), other._owner_value("bob"))  # taken on B
        (newest,) = cast(Any, await client.xrevrange(node.keys.presence, count=1))
        async with heartbeat_stopped(node):
            await node._register_everything(node._connected(), emptied=False)
        assert await client.hkeys(node.keys.users(node.node)) == [nick_key("alice")]
        since = cast(Any, await client.xrange(node.keys.presence, min=f"({newest[0]}"))
        records = [(fields["node"], fields["key"]) for _, fields in since]
        assert (node.node, nick_key("alice")) in records
        assert (node.node, nick_key("bob")) not in records, records
        assert await client.get(owner("bob")) == other._owner_value("bob")
        await bob.expect(r"the nickname 'bob' was taken on another server at the same moment")
        await bob.expect_eof()


async def test_after_an_outage_no_node_is_counted_dead_before_it_could_beat_again(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis, its data kept, is away longer than --node-timeout: every node's heartbeat
    lapses. Node A gets it back first; node B a moment later, on its own timer. A counts
    no node dead for a whole time-out after it is back, so no one on B is announced gone
    (and back), and B's members keep their nicknames in Redis."""
    async with running_cluster(own_redis.url, 2) as cluster:
        a, b = cluster.nodes
        alice, bob = await cluster.alice_and_bob()
        late = hub_of(b)
        recover = late._recover

        async def later() -> None:
            await asyncio.sleep(RECONNECT_INTERVAL / 2)  # B retries after A (its own timers)
            await recover()

        late._recover = later  # type: ignore[method-assign]
        assert own_redis.command("SAVE") == "+OK"  # kept across the restart (RDB, AOF)
        await asyncio.to_thread(own_redis.stop)
        await alice.expect(r"\*\*\* the chat is paused")
        await asyncio.sleep(TEST_NODE_TIMEOUT + 1)  # every heartbeat key lapses
        await asyncio.to_thread(own_redis.restart)
        await alice.expect(r"\*\*\* the chat is back", timeout=10)
        await bob.expect(r"\*\*\* the chat is back", timeout=10)
        await asyncio.sleep(TEST_NODE_TIMEOUT * 2)  # past A's wait: B beats meanwhile
        await bob.send("nobody left")
        await alice.expect(r"<bob> nobody left")
        assert not any("left" in line for line in alice.seen if "<bob>" not in line)
        assert not [r for r in caplog.records if "stopped answering" in r.getMessage()]
        owner = await hub_of(a)._connected().get(hub_of(a).keys.owner("bob"))
        assert owner == late._owner_value("bob")


class CutOffBeforeItsScript:
    """A sweeper's client that fails as the sweeper would send its script (its connection
    lost, or the sweeper closed, at that moment)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        if name == "evalsha":
            raise RedisConnectionError("cut off")
        return getattr(self._client, name)


async def test_a_sweep_cut_off_before_its_script_is_done_by_the_next_one(
    redis_url: str,
) -> None:
    """A sweeper that finds alice's node dead is cut off before its script. The node is
    still in the node set, so the next sweep (here, the same node's) does it: bob is told
    alice left, and her nickname is free. (Taken off the node set first, as it was, the
    node was swept by no one: alice listed and her nickname refused for good.)"""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        _, bob = await cluster.alice_and_bob()
        node, sweeper = hub_of(a), hub_of(b)
        admin = sweeper._connected()
        async with heartbeat_stopped(node), heartbeat_stopped(sweeper):
            await admin.delete(node.keys.node(node.node))  # its heartbeat expired
            with pytest.raises(RedisConnectionError):
                await sweeper._sweep(cast(aioredis.Redis, CutOffBeforeItsScript(admin)))
            assert await admin.sismember(node.keys.nodes, node.node)
            await sweeper._sweep(admin)
            await bob.expect(r"\*\*\* alice left \(server lost\)")
            assert not await admin.sismember(node.keys.nodes, node.node)
            again = await cluster.client(b)
            await once_free(again, "alice")  # her nickname is free, once the leaving is in
            await again.send("/users")
            await again.expect(r"2 users online: alice, bob")


async def test_a_line_of_its_own_trimmed_before_its_node_read_it_back_holds_nothing_up(
    redis_url: str,
) -> None:
    """alice's node stops reading while she says a line and bob floods the room past its
    stream's cap: Redis trims her line before her node reads it back. Her node tells of
    the gap, and waits for the line no more: her replies come (before, they waited for it
    for good), the node's lag is back to 0, and the room is not read once no one here is
    in it. The line is in history, and /seen knows it as her last."""
    async with running_cluster(
        redis_url, 2, flood_control=False, stream_max=100, history=cluster_history(5)
    ) as cluster:
        a, b = cluster.nodes
        alice, bob = await cluster.alice_and_bob()
        await settled(alice)
        node = hub_of(a)
        node._stop_reading_streams()
        lobby, bobs = room_key("#lobby"), hub_of(b)
        before = bobs._positions[lobby]
        await bob.send("first")  # not read on her node: her line's answer cannot tell it
        await wait_until(lambda: bobs._positions[lobby] != before)
        await alice.send("soon trimmed")
        await wait_until(lambda: any(op.event_id for op in node._in_flight.values()))
        (line_id,) = [op.event_id for op in node._in_flight.values()]
        await bob.send(*(f"flood {n}" for n in range(600)))
        # All in: Redis trimmed her line (the stream keeps about 100).
        await wait_until(lambda: id_number(bobs._positions[lobby] or "0-0") >= line_id + 600)
        node._read_streams()
        await alice.expect(r"this server fell behind #lobby")
        await alice.send("/users")
        await alice.expect(r"2 users online: alice, bob")
        assert node._in_flight == {}
        assert node.lag() == 0
        assert a.history is not None
        assert a.history.historian is not None
        await a.history.historian.store.flush()  # (a sighting goes with the next flush)
        await bob.send("/seen alice")
        await bob.expect(r"alice was last seen .*, saying: soon trimmed")
        await alice.send("/part")
        await alice.expect(r"you left #lobby|left the room")
        await wait_until(lambda: room_key("#lobby") not in node._positions)


async def test_a_value_that_is_not_utf8_in_a_stream_stops_no_node(redis_url: str) -> None:
    """Something other than tcpchat writes a value that is not UTF-8 to the presence feed
    every node reads. The nodes read past it: before, the reading connection failed on it,
    the node paused and came back to read it again, every half second, for good."""
    async with running_cluster(redis_url, 2) as cluster:
        alice, bob = await cluster.alice_and_bob()
        node = hub_of(cluster.nodes[0])
        raw = aioredis.Redis.from_url(redis_url)  # bytes, as any client may write them
        try:
            fields = {b"node": b"elsewhere", b"op": b"user", b"key": b"k", b"v": b"\xff"}
            await raw.xadd(node.keys.presence, fields)  # type: ignore[arg-type]
        finally:
            await raw.aclose()
        await alice.send("still talking")
        await bob.expect(r"<alice> still talking")
        await settled(bob)
        assert node.outages == 0
        assert not any("paused" in line for line in alice.seen + bob.seen)


async def test_a_node_closed_while_redis_is_away_says_it_left_uncleanly(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A node shut down while it does not reach Redis cannot tell the others its members
    left: its log says so (the others count it dead and announce them), rather than
    nothing."""
    caplog.set_level(logging.WARNING, logger="tcpchat.cluster")
    async with running_cluster(own_redis.url, 1) as cluster:
        (a,) = cluster.nodes
        alice = await cluster.client(a, "alice")
        own_redis.stop()
        await alice.expect(r"\*\*\* the chat is paused")
        await a.close()
    said = [record.getMessage() for record in caplog.records]
    assert any("left the cluster uncleanly: it was not reaching Redis" in line for line in said)


async def test_a_node_that_cannot_have_its_connections_never_joins(
    own_redis: RedisServer,
) -> None:
    """Redis at maxclients refuses a starting node one of its connections: the node fails
    to start, and is not left in the node set with a heartbeat (which the others would
    sweep a time-out later, as a node that "stopped answering")."""
    own_redis.command("CONFIG", "SET", "maxclients", "2")
    hub = RedisHub(own_redis.url, node_timeout=3)
    with pytest.raises(StoreError):
        await hub.start()
    own_redis.command("CONFIG", "SET", "maxclients", "100")
    admin = aioredis.Redis.from_url(own_redis.url, decode_responses=True)
    try:
        assert hub.node not in await admin.smembers(hub.keys.nodes)
        assert not await admin.exists(hub.keys.node(hub.node))
    finally:
        await admin.aclose()


async def test_an_event_of_no_member_that_redis_refuses_twice_is_dropped(
    redis_url: str,
) -> None:
    """A room event with no member behind it (a sweeper's leaving) whose script Redis
    refuses for good (a room's count key that another program broke) is sent again once,
    then dropped: sent for ever, each refusal paused the node, every half second."""
    async with running_cluster(redis_url, 1, flood_control=False) as cluster:
        (a,) = cluster.nodes
        await cluster.alice_and_bob_on_one_node()
        node = hub_of(a)
        room = node.room("#lobby")
        assert room is not None
        await node._connected().set(node.keys.count(room.key), "not a number")
        event_id, ts = node.clock.stamp()
        node._announce_to(Leave(event_id, ts, "ghost", redis_hub.NODE_LOST), [room], None, None)
        await wait_until(lambda: node._recoveries >= 1, timeout=5)
        await wait_until(lambda: node._running.is_set() and not node._in_flight, timeout=5)
        await node._connected().delete(node.keys.count(room.key))
        await asyncio.sleep(3 * RECONNECT_INTERVAL)  # (no pause comes any more)
        assert node._recoveries <= 2


async def test_a_sweep_whose_leaving_redis_refuses_frees_the_nickname_all_the_same(
    redis_url: str,
) -> None:
    """Node A is swept while it stalls, and Redis refuses the sweeper's leaving of alice
    for good (#lobby's count key, broken by another program): the leaving is dropped, and
    alice's nickname is freed and her going told to every node all the same. Waiting for a
    leaving that never lands, her nickname would stay taken and she listed, for good."""
    async with running_cluster(redis_url, 3, node_timeout=60) as cluster:
        a, b, c = cluster.nodes
        await cluster.client(a, "alice")
        await cluster.client(c, "carol")
        stalled, sweeper, third = hub_of(a), hub_of(b), hub_of(c)
        await wait_until(lambda: nick_key("alice") in third._remote)
        admin = sweeper._connected()
        count = sweeper.keys.count(room_key("#lobby"))
        async with heartbeat_stopped(stalled), heartbeat_stopped(sweeper), heartbeat_stopped(third):
            await admin.set(count, "not a number")
            await admin.delete(stalled.keys.node(stalled.node))  # its heartbeat expired
            await sweeper._sweep(admin)
            await wait_until(lambda: nick_key("alice") not in third._remote, timeout=10)
            assert await admin.get(stalled.keys.owner("alice")) is None
            await admin.delete(count)


async def test_a_swept_nickname_is_refused_on_the_sweepers_node_until_it_is_free(
    redis_url: str,
) -> None:
    """Node B sweeps node A (stalled), and its leaving of alice waits in its outbox. A
    member of B who asks for alice's nickname meanwhile is told it is taken, as it still
    is in Redis, rather than welcomed and then cut off as the loser of a race; once the
    leaving is in, the nickname is free, and it gets it."""
    async with running_cluster(redis_url, 2, node_timeout=60) as cluster:
        a, b = cluster.nodes
        await cluster.client(a, "alice")
        stalled, sweeper = hub_of(a), hub_of(b)
        await wait_until(lambda: nick_key("alice") in sweeper._remote)
        admin = sweeper._connected()
        newcomer = await cluster.client(b)
        async with heartbeat_stopped(stalled), heartbeat_stopped(sweeper):
            async with sender_stopped(sweeper):
                await admin.delete(stalled.keys.node(stalled.node))  # its heartbeat expired
                await sweeper._sweep(admin)
                await newcomer.send("alice")
                await newcomer.expect(r"!!! .*'alice' is taken")
            await once_free(newcomer, "alice")  # the sender back: the leaving, then free
        assert not any("another server" in line for line in newcomer.seen)


async def test_a_member_that_lost_its_lapsed_nickname_leaves_no_trace(
    redis_url: str,
) -> None:
    """Node A is swept while it stalls; the other bob takes the nickname on node B. A's
    heartbeat then finds bob's nickname another's and cuts its bob off: his leaving, which
    would name the winner, reaches no one, and carol (node C) still lists the bob of B."""
    async with running_cluster(redis_url, 3, node_timeout=60) as cluster:
        a, b, c = cluster.nodes
        loser = await cluster.client(a, "bob")
        carol = await cluster.client(c, "carol")
        stalled, sweeper, third = hub_of(a), hub_of(b), hub_of(c)
        await wait_until(lambda: nick_key("bob") in third._remote)
        admin = sweeper._connected()
        async with heartbeat_stopped(stalled), heartbeat_stopped(sweeper), heartbeat_stopped(third):
            await admin.delete(stalled.keys.node(stalled.node))  # its heartbeat expired
            await sweeper._sweep(admin)
            await carol.expect(r"\*\*\* bob left \(server lost\)")
            await wait_until(lambda: nick_key("bob") not in sweeper._remote)
            winner = await cluster.client(b, "bob")
            await carol.expect(r"\*\*\* bob joined")
            assert await stalled._beat(stalled._connected())  # swept: and bob is taken
            await stalled._join_cluster(fresh=False, gone=True)
            stalled._announce_back()
        await loser.expect(r"taken on another server")
        await loser.expect_eof()
        await wait_until(lambda: not stalled._outbox and not stalled._sending)
        await winner.send("still here")
        await carol.expect(r"<bob> still here")
        await settled(carol)
        lobby = third.room("#lobby")
        assert lobby is not None
        assert lobby.has_member(nick_key("bob"))
        assert not any("bob left (nickname taken" in line for line in carol.seen)
