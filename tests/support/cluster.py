"""Clusters for tests: several ChatServers in one process, each a node on one real Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tcpchat.config import (
    DEFAULT_ROOM_STREAM_MAX,
    ClusterSettings,
    HistorySettings,
    ServerSettings,
)
from tcpchat.core.rooms import DEFAULT_QUIET_JOINS_ABOVE
from tcpchat.server.chat import ChatServer
from tcpchat.server.redis_hub import RedisHub, _cancel
from tests.support.helpers import LineClient
from tests.support.irc_client import SERVER_NAME

#: A short node time-out, so that a test of a node's death waits a second or two.
TEST_NODE_TIMEOUT = 1.5


class Cluster:
    """Nodes on one Redis, and the clients connected to them; everything closes on exit."""

    def __init__(
        self,
        url: str,
        *,
        node_timeout: float = TEST_NODE_TIMEOUT,
        flood_control: bool = True,
        stream_max: int = DEFAULT_ROOM_STREAM_MAX,
        history: HistorySettings | None = None,
        oper_password: str = "",
        quiet_joins_above: int = DEFAULT_QUIET_JOINS_ABOVE,
    ) -> None:
        self.url = url
        self.quiet_joins_above = quiet_joins_above
        self.stream_max = stream_max
        self.history = history
        self.oper_password = oper_password
        self.node_timeout = node_timeout
        self.flood_control = flood_control
        self.nodes: list[ChatServer] = []
        self.clients: list[LineClient] = []

    async def node(self, *, irc: bool = False) -> ChatServer:
        """Start one more node (with ``irc``, its IRC port on too: ``irc_port``)."""
        irc_settings: dict[str, Any] = {"irc_port": 0, "server_name": SERVER_NAME} if irc else {}
        server = ChatServer(
            ServerSettings(
                host="127.0.0.1",
                port=0,
                flood_control=self.flood_control,
                oper_password=self.oper_password,
                quiet_joins_above=self.quiet_joins_above,
                **irc_settings,
            ),
            history=self.history,
            cluster=ClusterSettings(
                redis_url=self.url,
                node_timeout=self.node_timeout,
                room_stream_max=self.stream_max,
            ),
        )
        await server.start()
        self.nodes.append(server)
        return server

    async def client(self, node: ChatServer, nick: str | None = None) -> LineClient:
        """A text client of ``node``, registered as ``nick`` if given, its join in the room's
        stream: whoever registers after it comes after it in every room's order."""
        line_client = await LineClient.connect(node.port)
        self.clients.append(line_client)
        await line_client.expect("Choose a nickname")
        if nick is not None:
            await line_client.register(nick)
            await settled(line_client)
        return line_client

    async def alice_and_bob(self) -> tuple[LineClient, LineClient]:
        """alice on the first node and bob on the second, alice told that bob joined."""
        alice = await self.client(self.nodes[0], "alice")
        bob = await self.client(self.nodes[1], "bob")
        await alice.expect(r"\*\*\* bob joined")
        return alice, bob

    async def alice_and_bob_on_one_node(self) -> tuple[LineClient, LineClient]:
        """alice and bob both on the first node, alice told that bob joined, and his join
        in Redis."""
        alice = await self.client(self.nodes[0], "alice")
        bob = await self.client(self.nodes[0], "bob")
        await alice.expect(r"\*\*\* bob joined")
        await settled(bob)
        return alice, bob

    async def close(self) -> None:
        for line_client in self.clients:
            await line_client.close()
        for server in self.nodes:
            await server.close()


async def settled(line_client: LineClient, room: str = "#lobby") -> None:
    """Wait until what ``line_client`` said is in the room's stream: a node holds a member's
    replies until its own events are back from Redis, so the answer to a /join of a room it
    is in comes after them."""
    await line_client.send(f"/join {room}")
    await line_client.expect(f"now talking in {room}")


def hub_of(server: ChatServer) -> RedisHub:
    assert server.cluster_hub is not None
    return server.cluster_hub


@contextlib.asynccontextmanager
async def running_cluster(
    url: str,
    nodes: int,
    *,
    node_timeout: float = TEST_NODE_TIMEOUT,
    flood_control: bool = True,
    stream_max: int = DEFAULT_ROOM_STREAM_MAX,
    history: HistorySettings | None = None,
    oper_password: str = "",
    quiet_joins_above: int = DEFAULT_QUIET_JOINS_ABOVE,
) -> AsyncIterator[Cluster]:
    """A cluster of ``nodes`` nodes on ``url``, closed with its clients on the way out; with
    ``history``, the nodes keep the rooms' history on the same Redis."""
    cluster = Cluster(
        url,
        node_timeout=node_timeout,
        flood_control=flood_control,
        stream_max=stream_max,
        history=history,
        oper_password=oper_password,
        quiet_joins_above=quiet_joins_above,
    )
    try:
        for _ in range(nodes):
            await cluster.node()
        yield cluster
    finally:
        await cluster.close()


@contextlib.asynccontextmanager
async def quiet_node(url: str) -> AsyncIterator[RedisHub]:
    """A node whose sender, reader and heartbeat are stopped: the test drives it by hand."""
    hub = RedisHub(url, node_timeout=15.0)
    await hub.start()
    tasks, hub._tasks = hub._tasks, []
    await _cancel(tasks)
    hub._stop_reading_streams()
    try:
        yield hub
    finally:
        await hub.close()


@contextlib.asynccontextmanager
async def heartbeat_stopped(node: RedisHub) -> AsyncIterator[None]:
    """``node`` sends no heartbeat while the block runs (a stalled process: past
    --node-timeout the others count it dead), and beats again after it."""
    (beat,) = [task for task in node._tasks if task.get_name() == "cluster heartbeat"]
    await _cancel([beat])
    node._tasks.remove(beat)
    try:
        yield
    finally:
        node._tasks.append(asyncio.create_task(node._beat_forever(), name="cluster heartbeat"))
