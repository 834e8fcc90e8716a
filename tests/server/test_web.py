"""The web front door without a browser: HTTP routes, the /ws handshake, frames and limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import pytest
from websockets.frames import CloseCode

from tcpchat.config import ServerSettings
from tcpchat.server import web
from tcpchat.server.chat import ChatServer
from tcpchat.server.http import CONTENT_SECURITY_POLICY
from tests.conftest import ClientFactory
from tests.support.faults import clients, running_server, wait_until
from tests.support.helpers import LineClient
from tests.support.http import http_get
from tests.support.websocket import OWN_ORIGIN, HandshakeRefused, WebSocketClient


@pytest.fixture
def settings() -> ServerSettings:
    """A test server with its web listener on a port the kernel picks."""
    return ServerSettings(host="127.0.0.1", port=0, http_port=0)


OpenWeb = Callable[..., Awaitable[WebSocketClient]]


@pytest.fixture
async def open_web() -> AsyncIterator[OpenWeb]:
    """Open WebSockets: ``await open_web(server, "alice")`` (registered if a nick is given).

    ``origin`` is the Origin header sent (None: none). Every one is closed after the test.
    """
    opened: list[WebSocketClient] = []

    async def open_client(
        server: ChatServer, nick: str | None = None, *, origin: str | None = OWN_ORIGIN
    ) -> WebSocketClient:
        client = await WebSocketClient.connect(server.http_port, origin=origin)
        opened.append(client)
        if nick is not None:
            await client.register(nick)
        return client

    yield open_client
    for client in opened:
        await client.close()


# -- HTTP ------------------------------------------------------------------------------


async def test_the_page_is_served_at_the_root_with_a_strict_policy(server: ChatServer) -> None:
    """GET / is the web client's page, with the Content-Security-Policy and nosniff."""
    status, headers, body = await http_get(server.http_port, "/")
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert b"/static/app.js" in body


async def test_the_static_files_are_served_with_their_types(server: ChatServer) -> None:
    """The script and the style sheet come from /static/ with their content types."""
    _, script, _ = await http_get(server.http_port, "/static/app.js")
    _, style, _ = await http_get(server.http_port, "/static/style.css?v=1")
    assert script["content-type"] == "text/javascript; charset=utf-8"
    assert style["content-type"] == "text/css; charset=utf-8"


@pytest.mark.parametrize("path", ["/nothing", "/static/../pyproject.toml", "/static/"])
async def test_other_paths_are_not_found(server: ChatServer, path: str) -> None:
    """Only the table's paths answer: anything else is 404, with nothing read from disk."""
    status, _, _ = await http_get(server.http_port, path)
    assert status == "HTTP/1.1 404 Not Found"


async def test_the_server_without_an_http_port_has_no_web_listener() -> None:
    """--http-port is off by default: no web listener, no URL."""
    async with running_server() as server:
        assert server.web_url is None
        with pytest.raises(RuntimeError):
            _ = server.http_port


# -- the WebSocket handshake ----------------------------------------------------------


async def test_a_websocket_member_chats_with_a_tcp_member(
    server: ChatServer, client: ClientFactory, open_web: OpenWeb
) -> None:
    """A browser's WebSocket and an nc user share #lobby: one JSON event per frame each way."""
    bob = await client("bob")
    alice = await open_web(server)
    greeting = await alice.expect_json("notice")
    assert "Choose a nickname" in greeting["text"]
    alice.send("alice")
    welcome = await alice.expect_json("welcome")
    assert (welcome["nick"], welcome["room"]) == ("alice", "#lobby")
    await bob.expect(r"\*\*\* alice joined")
    await bob.send("hello alice")
    message = await alice.expect_json("message")
    assert (message["nick"], message["text"], message["room"]) == ("bob", "hello alice", "#lobby")
    alice.send("hi bob")
    await bob.expect(r"<alice> hi bob$")


async def test_a_page_of_another_origin_is_refused_with_403(
    server: ChatServer, open_web: OpenWeb
) -> None:
    """Cross-site WebSocket hijacking: an Origin that is neither ours nor allowed gets 403."""
    with pytest.raises(HandshakeRefused) as refused:
        await open_web(server, origin="https://evil.example")
    assert refused.value.response.status_code == 403
    assert server.sessions() == []


async def test_an_allowed_origin_and_a_program_without_one_get_in(
    settings: ServerSettings, open_web: OpenWeb
) -> None:
    """--http-allowed-origins lets a named site in; a client that sends no Origin is no page."""
    allowed = replace(settings, http_allowed_origins="https://chat.example.org")
    async with ChatServer(allowed) as server:
        page = await open_web(server, "alice", origin="https://chat.example.org")
        program = await open_web(server, "bot", origin=None)
        program.send("hello from a program")
        await page.expect_json("join")
        assert (await page.expect_json("message"))["text"] == "hello from a program"


async def test_a_connection_over_the_caps_is_refused_with_503(open_web: OpenWeb) -> None:
    """The web listener shares the connection caps, counted at accept: over them, 503."""
    async with running_server(http_port=0, max_per_ip=1, limit_loopback=True) as server:
        await open_web(server)  # holds the one place
        status, _, body = await http_get(server.http_port, "/")
        assert status == "HTTP/1.1 503 Service Unavailable"
        assert b"connections" in body


async def test_a_banned_address_is_refused_with_403() -> None:
    """An address the server bans gets 403 Forbidden with the ban's reason, not 503."""
    settings = {"http_port": 0, "oper_password": "correct horse"}
    async with running_server(**settings) as server, clients(server.port) as open_client:
        root = await open_client("root")
        await root.send("/oper correct horse")
        await root.expect("you are now a server operator")
        await root.send("/ban 127.0.0.1 1h testing")
        await root.expect_eof()  # the operator is on 127.0.0.1 too
        status, _, body = await http_get(server.http_port, "/")
        assert status == "HTTP/1.1 403 Forbidden"
        assert b"your address is banned from this server" in body


async def test_a_connection_that_sends_no_request_is_closed(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection to the web listener that never asks anything is closed after a while."""
    monkeypatch.setattr(web, "REQUEST_TIMEOUT", 0.2)
    idle = await LineClient.connect(server.http_port)
    try:
        async with asyncio.timeout(5):
            assert await idle.reader.read() == b""
    finally:
        await idle.close()


async def test_an_unregistered_websocket_is_closed_at_the_register_timeout(
    open_web: OpenWeb,
) -> None:
    """The registration time-out runs from accept: a silent WebSocket is told, then closed."""
    async with running_server(http_port=0, register_timeout=0.3) as server:
        silent = await open_web(server)
        error = await silent.expect_json("error")
        assert error["code"] == "timeout"
        close = await silent.expect_close()
        assert close is not None
        assert close.code == CloseCode.NORMAL_CLOSURE
        assert close.reason == "registration timed out"


# -- frames ------------------------------------------------------------------------------


async def test_a_frame_over_the_line_limit_gets_line_too_long(
    server: ChatServer, open_web: OpenWeb
) -> None:
    """A text frame past --max-line-bytes is discarded with line_too_long; the connection stays."""
    alice = await open_web(server, "alice")
    alice.send("x" * (server.settings.max_line_bytes + 1))
    error = await alice.expect_json("error")
    assert error["code"] == "line_too_long"
    alice.send("/users")
    users = await alice.expect_json("users")
    assert users["users"] == ["alice"]


async def test_a_frame_far_over_the_limit_closes_with_1009(
    server: ChatServer, open_web: OpenWeb
) -> None:
    """A message too big to be worth reading whole closes the WebSocket: message too big."""
    alice = await open_web(server, "alice")
    alice.send("x" * (server.settings.max_line_bytes * 64))
    close = await alice.expect_close()
    assert close is not None
    assert close.code == CloseCode.MESSAGE_TOO_BIG


async def test_a_binary_frame_is_refused_with_1003_and_a_reason(
    server: ChatServer, open_web: OpenWeb
) -> None:
    """Binary frames are not lines: the connection is closed with 1003, saying why."""
    alice = await open_web(server, "alice")
    alice.send_binary(b"\x00\x01")
    close = await alice.expect_close()
    assert close is not None
    assert close.code == CloseCode.UNSUPPORTED_DATA
    assert "text frame" in close.reason


async def test_a_frame_with_a_line_break_is_one_line(
    server: ChatServer, client: ClientFactory, open_web: OpenWeb
) -> None:
    """A frame is one input line: a newline inside cannot smuggle in a second command."""
    bob = await client("bob")
    alice = await open_web(server, "alice")
    await bob.expect(r"\*\*\* alice joined")
    alice.send("hello\n/nick mallory")
    alice.send("/users")
    users = await alice.expect_json("users")
    assert users["users"] == ["alice", "bob"]
    await bob.expect(r"<alice> hello ?/nick mallory$")


async def test_the_rendering_of_a_websocket_is_json_for_good(
    server: ChatServer, open_web: OpenWeb
) -> None:
    """/format text on a WebSocket is refused: the browser never sees text lines."""
    alice = await open_web(server, "alice")
    alice.send("/format text")
    error = await alice.expect_json("error")
    assert "JSON only" in error["text"]


# -- flood control and the send queue ------------------------------------------------------


async def test_a_websocket_flood_is_paced_not_dropped(open_web: OpenWeb) -> None:
    """Frames past the burst are delayed to the flood rate, all of them, in order."""
    burst, rate, lines = 3, 20.0, 13
    async with running_server(http_port=0, flood_burst=burst, flood_rate=rate) as server:
        observer = await open_web(server, "observer")
        flooder = await open_web(server, "flooder")
        started = time.monotonic()
        flooder.send(*(f"flood {n}" for n in range(lines)))
        got = [(await observer.expect_json("message"))["text"] for _ in range(lines)]
        elapsed = time.monotonic() - started
    assert got == [f"flood {n}" for n in range(lines)]
    assert elapsed >= (lines - burst) / rate * 0.9


async def test_a_websocket_flooder_is_pushed_back_by_tcp(open_web: OpenWeb) -> None:
    """While a flooder waits for tokens the server reads nothing more of its frames."""
    async with running_server(http_port=0, flood_burst=1, flood_rate=4.0) as server:
        observer = await open_web(server, "observer")
        flooder = await open_web(server, "flooder")
        before = server.received_bytes
        flooder.send(*(f"flood {n}" for n in range(500_000)))  # 7 MB of frames
        await observer.expect_json("message")
        transport = flooder.writer.transport
        await wait_until(lambda: transport.get_write_buffer_size() > 0)
        assert server.received_bytes - before < 1 << 20
        transport.abort()


async def test_a_websocket_member_that_does_not_read_is_cut_at_the_queue_bound(
    open_web: OpenWeb,
) -> None:
    """The hub's send-queue bound holds for a WebSocket: the room is told, nobody waits."""
    limits = {"max_queue_bytes": 16 * 1024, "send_buffer_bytes": 16 * 1024}
    async with running_server(http_port=0, flood_control=False, **limits) as server:
        sloth = await WebSocketClient.connect(server.http_port, receive_buffer=1024)
        await sloth.register("sloth")
        talker = await open_web(server, "talker")
        talker.send(*(f"{n} {'y' * 200}" for n in range(1000)))
        leave = await talker.expect_json("leave", timeout=10)
        assert (leave["nick"], leave["reason"]) == ("sloth", "send queue exceeded")
        await sloth.close()
