"""The three front doors of one server together: nc, IRC and a browser in the same rooms."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from tcpchat.server.chat import ChatServer
from tests.support.faults import clients, running_server
from tests.support.irc_client import SERVER_NAME, IrcClient
from tests.support.websocket import WebSocketClient


@pytest.fixture
async def three_doors() -> AsyncIterator[ChatServer]:
    """A server with the line, IRC and web listeners all open, on ports the kernel picks."""
    async with running_server(irc_port=0, http_port=0, server_name=SERVER_NAME) as server:
        yield server


async def test_nc_irc_and_browser_users_hear_each_other_in_one_room(
    three_doors: ChatServer,
) -> None:
    """A line said through any door reaches the two others, each in its own protocol."""
    server = three_doors
    async with contextlib.AsyncExitStack() as stack, clients(server.port) as open_client:
        alice = await open_client("alice")  # nc, put in #lobby on registering
        bob = await WebSocketClient.connect(server.http_port)
        stack.push_async_callback(bob.close)
        await bob.register("bob")  # the browser, in #lobby too
        carol = await IrcClient.connect(server.irc_port)
        stack.push_async_callback(carol.close)
        await carol.register("carol")
        await carol.send("JOIN #lobby")
        await carol.expect(r" 366 carol #lobby ")  # the end of NAMES: she is in
        await alice.expect(r"\*\*\* carol joined")

        await carol.send("PRIVMSG #lobby :hello from irssi")
        await alice.expect(r"<carol> hello from irssi$")
        said = await bob.expect_json("message")
        assert (said["nick"], said["text"]) == ("carol", "hello from irssi")

        bob.send("hello from the browser")
        await alice.expect(r"<bob> hello from the browser$")
        await carol.expect(r"^:bob!\S+ PRIVMSG #lobby :hello from the browser$")

        await alice.send("hello from nc")
        await carol.expect(r"^:alice!\S+ PRIVMSG #lobby :hello from nc$")
        said = await bob.expect_json("message")
        assert (said["nick"], said["text"]) == ("alice", "hello from nc")


async def test_the_connection_caps_count_every_door_together() -> None:
    """With one nc and one browser connected, an IRC connection is past a cap of two."""
    caps = {"max_per_ip": 2, "limit_loopback": True}
    async with (
        running_server(irc_port=0, http_port=0, server_name=SERVER_NAME, **caps) as server,
        contextlib.AsyncExitStack() as stack,
        clients(server.port) as open_client,
    ):
        await open_client("alice")
        bob = await WebSocketClient.connect(server.http_port)
        stack.push_async_callback(bob.close)
        await bob.register("bob")
        carol = await IrcClient.connect(server.irc_port)
        stack.push_async_callback(carol.close)
        lines = await carol.expect_eof()
        assert lines == [
            "ERROR :Closing link: too many connections from your address (the limit is 2)"
        ]
