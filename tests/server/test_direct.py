"""The 1:1 chat (task 1): the operator's console, one client, busy refusals, and its client mode."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tcpchat.client.chat import ChatClient
from tcpchat.client.chatstate import ChatState
from tcpchat.config import ClientSettings, ServerSettings
from tcpchat.core.protocol import JSON_OPENING_LINE
from tcpchat.server.direct import BUSY_TEXT, DirectServer
from tests.support.faults import close_writer, hardened_settings, open_stalled_client, wait_until
from tests.support.frontends import ScriptedFrontend
from tests.support.helpers import BUSY_REFUSAL, LineClient

Running = tuple[DirectServer, ScriptedFrontend, "asyncio.Task[int]"]
Starter = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_direct(settings: ServerSettings) -> AsyncIterator[Starter]:
    """Start 1:1 servers with a scripted operator console; all are stopped after the test."""
    running: list[asyncio.Task[int]] = []

    async def start(*, once: bool = False) -> Running:
        console = ScriptedFrontend()
        server = DirectServer(settings, console, once=once)
        await server.start()
        task = asyncio.create_task(server.run())
        running.append(task)
        return server, console, task

    yield start
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


async def guest(server: DirectServer) -> LineClient:
    line_client = await LineClient.connect(server.port)
    await line_client.expect(r"\*\*\* You are connected to the operator")
    return line_client


async def finished(task: asyncio.Task[int]) -> int:
    async with asyncio.timeout(5):
        return await task


async def test_both_sides_type_at_any_time(start_direct: Starter) -> None:
    """The client's lines reach the operator and the operator's reach the client, in any order."""
    server, console, _ = await start_direct()
    client = await guest(server)
    await console.expect(r"127\.0\.0\.1:\d+ connected")
    console.type("first from the operator", "second from the operator")
    await client.send("from the client")
    await client.expect(r"<operator> first from the operator$")
    await client.expect(r"<operator> second from the operator$")
    await console.expect(r"<guest> from the client$")
    await console.expect(r"<operator> second from the operator$")  # shown as sent
    await client.close()


async def test_connection_is_logged_with_address_and_port(
    start_direct: Starter, caplog: pytest.LogCaptureFixture
) -> None:
    """The server logs who connected: address and port."""
    caplog.set_level(logging.INFO, logger="tcpchat.direct")
    server, console, _ = await start_direct()
    client = await guest(server)
    await console.expect("connected")
    assert any("connection from 127.0.0.1:" in record.message for record in caplog.records)
    await client.close()


async def test_second_client_is_told_busy_and_the_chat_goes_on(
    start_direct: Starter,
) -> None:
    """A second client gets one 'busy' error line and is closed; the first chat is not disturbed."""
    server, console, _ = await start_direct()
    first = await guest(server)
    second = await LineClient.connect(server.port)
    [refusal] = await second.expect_eof()
    assert BUSY_REFUSAL.fullmatch(refusal)
    await second.close()
    await first.send("still here")
    await console.expect(r"<guest> still here$")
    console.type("and so am I")
    await first.expect(r"<operator> and so am I$")
    await first.close()


async def test_busy_refusal_is_a_json_error_for_a_client_that_asks_for_json(
    start_direct: Starter,
) -> None:
    """A second client that opens with /format json gets the refusal as an error event."""
    server, _, _ = await start_direct()
    first = await guest(server)
    second = await LineClient.connect(server.port)
    await second.send(JSON_OPENING_LINE)
    error = await second.expect_json("error")
    assert (error["code"], error["text"]) == ("busy", BUSY_TEXT)
    await second.expect_eof()
    await second.close()
    await first.close()


async def test_client_leaving_is_told_and_the_next_one_is_served(
    start_direct: Starter,
) -> None:
    """When the client leaves, the operator is told and the next client can connect."""
    server, console, _ = await start_direct()
    first = await guest(server)
    await first.send("/exit")
    await first.expect(r"\*\*\* Goodbye!")
    await first.expect_eof()
    await console.expect(r"left \(quit\); waiting for the next client")
    second = await guest(server)
    console.type("hello again")
    await second.expect(r"<operator> hello again$")
    await first.close()
    await second.close()


async def test_the_next_client_never_arrives_before_the_last_one_has_left() -> None:
    """While a departing client's connection is still closing, a newcomer is told busy.

    The first client stops reading with output owed to it, then quits: its socket
    takes up to close_timeout to close. The operator must see it leave before
    anyone else can connect.
    """
    settings = hardened_settings(close_timeout=1.0, max_queue_bytes=64 << 20)
    console = ScriptedFrontend()
    server = DirectServer(settings, console)
    await server.start()
    running = asyncio.create_task(server.run())
    _, stalled = await open_stalled_client(server.port)
    try:
        await console.expect(r"connected; you are chatting with them")
        leaving = server.guest
        assert leaving is not None
        console.type(*(f"{n} " + "x" * 1000 for n in range(3000)))  # past kernel buffers
        await wait_until(lambda: leaving.writer.transport.get_write_buffer_size() > 0)
        stalled.write(b"/exit\n")
        await wait_until(lambda: leaving.ended is not None)
        newcomer = await LineClient.connect(server.port)
        first_line = await newcomer.read_line()
        await newcomer.close()
        await console.expect(r"left \(quit\); waiting for the next client")
        assert first_line is not None
        assert BUSY_REFUSAL.fullmatch(first_line)
        assert sum("connected; you are chatting" in line for line in console.shown) == 1
    finally:
        await close_writer(stalled)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_once_exits_after_the_first_chat(start_direct: Starter) -> None:
    """With --once, the server exits with status 0 when the client leaves."""
    server, console, task = await start_direct(once=True)
    client = await guest(server)
    await client.close()
    assert await finished(task) == 0
    await console.expect(r"left \(connection closed\); exiting")


async def test_operator_exit_tells_the_client(start_direct: Starter) -> None:
    """The operator's /exit tells the client, closes its connection and ends with status 0."""
    server, console, task = await start_direct()
    client = await guest(server)
    console.type("/exit")
    assert await finished(task) == 0
    lines = await client.expect_eof()
    assert any("The operator ended the chat" in line for line in lines)
    await client.close()


async def test_operator_line_without_a_client_is_not_sent(
    start_direct: Starter,
) -> None:
    """Typing with no one connected says so instead of losing the line silently."""
    _, console, _ = await start_direct()
    console.type("anyone?")
    await console.expect(r"!!! not sent: no client is connected yet")


async def test_client_commands_in_a_1to1_chat(start_direct: Starter) -> None:
    """/help answers; other commands are refused; //x is chat; control characters go."""
    server, console, _ = await start_direct()
    client = await guest(server)
    await client.send("/help", "/nick bob", "//slash", "bell\x07 \x1b[2Jhere")
    await client.expect(r"\*\*\* In a 1:1 chat every line goes to the operator")
    await client.expect(r"!!! /nick is not available in a 1:1 chat")
    await console.expect(r"<guest> /slash$")
    await console.expect(r"<guest> bell here$")
    await client.close()


async def test_a_control_key_before_exit_leaves_the_1to1_chat(start_direct: Starter) -> None:
    """`^L/exit` from the client ends the chat; the operator never sees it as `/exit`."""
    server, console, _ = await start_direct()
    client = await guest(server)
    await client.send("\x1b[A\x0c/exit")
    await client.expect(r"\*\*\* Goodbye!")
    await console.expect(r"left \(quit\); waiting for the next client")
    assert not any("/exit" in line for line in console.shown)
    await client.close()


async def test_connect_task_1_chats_and_reports_the_end(
    start_direct: Starter,
) -> None:
    """`tcpchat connect --task 1` says it connected, chats, and says when the chat ended."""
    server, console, _ = await start_direct()
    frontend = ScriptedFrontend()
    settings = ClientSettings(host="127.0.0.1", port=server.port)
    state = ChatState(f"127.0.0.1:{server.port}", direct=True)
    task = asyncio.create_task(ChatClient(settings, frontend, state, direct=True).run())
    try:
        await frontend.expect(r"\*\*\* Connected to 127\.0\.0\.1:\d+: you are chatting")
        frontend.type("hi operator")
        await console.expect(r"<guest> hi operator$")
        await frontend.expect(r"<you> hi operator$")
        console.type("hi guest", "/exit")
        await frontend.expect(r"<operator> hi guest$")
        assert await finished(task) == 0
        await frontend.expect(r"\*\*\* The operator ended the chat")
        await frontend.expect(r"\*\*\* The chat has ended\.$")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_connect_task_1_refused_when_busy(start_direct: Starter) -> None:
    """A 1:1 client that finds the operator busy shows the reason and ends with status 1."""
    server, _, _ = await start_direct()
    first = await guest(server)
    frontend = ScriptedFrontend()
    settings = ClientSettings(host="127.0.0.1", port=server.port)
    state = ChatState(f"127.0.0.1:{server.port}", direct=True)
    task = asyncio.create_task(ChatClient(settings, frontend, state, direct=True).run())
    assert await finished(task) == 1
    await frontend.expect(
        r"!!! the server closed the connection: the operator is already in a 1:1 chat; "
        r"try again later"
    )
    await first.close()
