"""What a browser is sent over /ws: whole text frames, one JSON event each, on every path."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.frames import CloseCode, Opcode

from tcpchat.config import ServerSettings
from tcpchat.core.events import Notice
from tcpchat.core.render import Rendering, encode
from tcpchat.server.chat import ChatServer
from tests.conftest import ClientFactory
from tests.support.history import history_server
from tests.support.samples import SAMPLES, TS
from tests.support.websocket import WebSocketClient


@pytest.fixture
def settings() -> ServerSettings:
    """A test server with its web listener on a port the kernel picks."""
    return ServerSettings(host="127.0.0.1", port=0, http_port=0)


@contextlib.asynccontextmanager
async def browser(server: ChatServer, nick: str) -> AsyncIterator[WebSocketClient]:
    """A WebSocket registered as ``nick``, closed afterwards."""
    client = await WebSocketClient.connect(server.http_port)
    try:
        await client.register(nick)
        yield client
    finally:
        await client.close()


def assert_whole_frames(client: WebSocketClient) -> None:
    """Every frame the server sent is one complete text frame holding one JSON event
    (a close frame may end them), and the client found nothing wrong in the bytes."""
    assert client.protocol.parser_exc is None
    frames = client.frames
    if frames and frames[-1].opcode is Opcode.CLOSE:
        frames = frames[:-1]
    assert frames
    for frame in frames:
        assert (frame.opcode, frame.fin) == (Opcode.TEXT, True)
        assert isinstance(json.loads(bytes(frame.data))["type"], str)


async def test_every_kind_of_event_reaches_a_browser_as_one_frame(server: ChatServer) -> None:
    """Each sample event sent to a browser arrives as one text frame of its JSON object."""
    async with browser(server, "alice") as alice:
        peer = server.hub.find("alice")
        assert peer is not None
        server.hub.send(peer, Notice(1, TS, "the samples follow"))
        for event, _ in SAMPLES:
            server.hub.send(peer, event)
        while (await alice.expect_json("notice"))["text"] != "the samples follow":
            pass  # the greeting
        received = [await alice.next_event() for _ in SAMPLES]
        assert received == [json.loads(encode(event, Rendering.JSON)) for event, _ in SAMPLES]
        assert_whole_frames(alice)


async def test_a_conversation_is_whole_frames_from_greeting_to_close(
    server: ChatServer, client: ClientFactory
) -> None:
    """The greeting, the welcome, replies, errors, room lines and the close frame: all framed
    once, the close last."""
    bob = await client("bob")
    async with browser(server, "alice") as alice:
        await bob.expect(r"\*\*\* alice joined")
        alice.send("/users", "/nosuchcommand", "hello bob")
        await alice.expect_json("users")
        await alice.expect_json("error")
        await bob.expect(r"<alice> hello bob$")
        await bob.send("hello alice")
        await alice.expect_json("message")
        alice.send("/quit")
        close = await alice.expect_close()
        assert close is not None
        assert close.code == CloseCode.NORMAL_CLOSURE
        assert alice.frames[-1].opcode is Opcode.CLOSE
        assert_whole_frames(alice)


async def test_history_is_replayed_to_a_browser_as_frames(tmp_path: Path) -> None:
    """The room's last lines, replayed on joining, reach a browser one frame a line."""
    settings = ServerSettings(host="127.0.0.1", port=0, http_port=0)
    async with history_server(tmp_path / "tcpchat.db", settings=settings) as server:
        async with browser(server, "alice") as alice:
            for number in range(3):
                alice.send(f"line {number}")
            alice.send("/users")  # answered after the lines: they were published
            await alice.expect_json("users")
        async with browser(server, "bob") as bob:
            await bob.expect_json("history_end")
            replayed = [event for event in bob.seen if event.get("history")]
            assert [event["text"] for event in replayed] == [f"line {n}" for n in range(3)]
            assert_whole_frames(bob)
