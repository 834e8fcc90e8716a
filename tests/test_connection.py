"""The client's connection: line limits, the switch to JSON, event parsing, and backoff."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tcpchat.connection import (
    Backoff,
    Connection,
    open_connection,
    read_event,
    switch_to_json,
)
from tcpchat.errors import ConnectionLost
from tcpchat.events import Message


@asynccontextmanager
async def scripted_server(
    replies: bytes, *, after_a_line: bool = False, max_line_bytes: int = 1024
) -> AsyncIterator[Connection]:
    """A server that writes ``replies`` (after reading a line, if asked) and closes.

    Yields a client connection to it.
    """

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if after_a_line:
            await reader.readline()  # closing with unread input would reset the connection
        writer.write(replies)
        writer.close()
        await writer.wait_closed()

    fake = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = fake.sockets[0].getsockname()[1]
    connection = await open_connection("127.0.0.1", port, max_line_bytes=max_line_bytes)
    try:
        yield connection
    finally:
        await connection.close()
        fake.close()
        await fake.wait_closed()


MESSAGE = b'{"type":"message","id":3,"ts":"2026-01-01T00:00:00.000Z","nick":"bob","text":"hi"}\n'
ACK = b'{"type":"notice","id":2,"ts":"2026-01-01T00:00:00.000Z","text":"format: json"}\n'


async def test_switch_to_json_skips_the_text_greeting() -> None:
    """Text lines before the server's `format: json` are skipped; events follow."""
    greeting = b"Welcome to tcpchat. Choose a nickname:\n"
    async with scripted_server(greeting + ACK + MESSAGE, after_a_line=True) as conn:
        await switch_to_json(conn)
        event = await read_event(conn)
        assert isinstance(event, Message)
        assert event.text == "hi"
        assert await read_event(conn) is None


async def test_switch_to_json_reports_what_a_closing_server_said() -> None:
    """A server that closes before the JSON rendering is on is quoted (sanitised)."""
    async with scripted_server(b"busy: \x1b[2Jtry later\n", after_a_line=True) as conn:
        with pytest.raises(ConnectionLost, match=r"closed the connection: busy: try later$"):
            await switch_to_json(conn)


async def test_unknown_lines_are_skipped() -> None:
    """Lines that are not events this client knows (a newer server) are passed over."""
    unknown = b'{"type":"poll","id":1,"ts":"2026-01-01T00:00:00.000Z"}\nnot json\n'
    async with scripted_server(unknown + MESSAGE) as conn:
        assert isinstance(await read_event(conn), Message)


async def test_overlong_line_is_dropped_whole(caplog: pytest.LogCaptureFixture) -> None:
    """A line past the size limit is dropped whole, and the next line still arrives."""
    async with scripted_server(b"x" * 200 + b"\nafter\n", max_line_bytes=100) as conn:
        assert await conn.read_line() == "after"
    assert "dropped a line from the server" in caplog.text


def test_backoff_doubles_up_to_the_maximum_and_resets() -> None:
    """Delays double from the initial one, stop at the maximum, and start over on reset."""
    backoff = Backoff(1.0, 8.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_backoff_jitter_stays_within_its_spread() -> None:
    """Jitter spreads each delay by at most its fraction, and never past the maximum."""
    low = Backoff(2.0, 30.0, jitter=0.25, random=lambda: 0.0)
    high = Backoff(2.0, 3.0, jitter=0.25, random=lambda: 1.0)
    assert low.next_delay() == 1.5
    assert high.next_delay() == 2.5
    assert high.next_delay() == 3.0
