"""The client's connection: line limits, the switch to JSON, event parsing, and backoff."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tcpchat.client.connection import (
    Backoff,
    Connection,
    describe_network_error,
    open_connection,
    read_event,
    switch_to_json,
)
from tcpchat.core.errors import ConnectionLost, RemoteProtocolError
from tcpchat.core.events import Message
from tcpchat.core.render import parse_json_event


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


def test_backoff_survives_thousands_of_attempts() -> None:
    """A client reconnecting for days keeps waiting the maximum, never overflowing."""
    backoff = Backoff(1.0, 30.0, jitter=0.0)
    delays = [backoff.next_delay() for _ in range(5000)]
    assert delays[-1] == 30.0
    assert backoff.attempts == 5000


GOOD = {"type": "join", "id": 7, "ts": "2026-01-01T00:00:00.000Z", "nick": "bob"}


def with_fields(**changes: object) -> str:
    return json.dumps({**GOOD, **changes})


@pytest.mark.parametrize(
    "line",
    [
        "[" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        with_fields(id=True),
        with_fields(id=-1),
        with_fields(id=2**63),
        with_fields(id=1.5),
        with_fields(ts="0001-01-01T00:00:00+14:00"),
        with_fields(ts="9999-12-31T23:59:59-14:00"),
        with_fields(ts="2026-01-01T00:00:00"),
        with_fields(ts="yesterday"),
        with_fields(nick=""),
        with_fields(nick="x" * 33),
        with_fields(nick=["bob"]),
        with_fields(nick={"deep": [[["bob"]]]}),
        with_fields(type=["join"]),
        with_fields().replace('"id": 7', '"id": NaN'),
        with_fields().replace('"id": 7', '"id": Infinity'),
        with_fields().replace('"id": 7', '"id": ' + "9" * 5000),
        with_fields().replace('"id": 7', '"id": 1e400'),
        json.dumps({**GOOD, "type": "users", "users": ["a"] * 10_001}),
        json.dumps({**GOOD, "type": "users", "users": ["a", ["b"]]}),
        json.dumps({**GOOD, "type": "ai", "search_id": 1, "text": "x", "sources": ["u"] * 101}),
        "null",
        '"a string"',
        "\ud800",
    ],
    ids=lambda line: line[:40],
)
def test_parsing_refuses_bad_events_with_one_error_type(line: str) -> None:
    """Deep nesting, NaN, bool or huge ids, undrawable times and huge lists all raise
    RemoteProtocolError (so the event is skipped), never another exception."""
    with pytest.raises(RemoteProtocolError):
        parse_json_event(line)


def test_parsing_refuses_bytes_that_are_not_utf8() -> None:
    """A line of invalid UTF-8 bytes is a RemoteProtocolError, not a UnicodeDecodeError."""
    with pytest.raises(RemoteProtocolError):
        parse_json_event(b'{"type": "join", "nick": "\xff\xfe"}')


def test_parsing_keeps_times_near_the_ends_of_the_range() -> None:
    """A far but drawable time, with its offset, is kept as given."""
    event = parse_json_event(with_fields(ts="9000-06-01T12:00:00+14:00"))
    assert event.ts.year == 9000


async def test_a_line_too_deep_to_parse_is_skipped() -> None:
    """`[` x 100,000 from the server is skipped; the next event still arrives."""
    async with scripted_server(b"[" * 100_000 + b"\n" + MESSAGE, max_line_bytes=200_000) as conn:
        event = await read_event(conn)
        assert isinstance(event, Message)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "host not found"),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), "no answer from DNS"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connection refused"),
        (TimeoutError(), "timed out"),
        (OSError(errno.ETIMEDOUT, "Connection timed out"), "timed out"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), "network unreachable"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "host unreachable"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "the connection was reset"),
        (BrokenPipeError(errno.EPIPE, "Broken pipe"), "the connection was broken"),
        (UnicodeError("encoding with 'idna' codec failed"), "not a valid host name"),
        (OverflowError("connect(): port must be 0-65535."), "that port does not exist"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value,
)
def test_network_errors_are_told_in_words(error: BaseException, words: str) -> None:
    """Each way a connection fails is said in a user's words, never as "Unknown error -2"."""
    assert words in describe_network_error(error)


def test_certificate_failures_say_what_was_wrong() -> None:
    """A TLS certificate that fails verification is named as such, with OpenSSL's reason."""
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate"
    assert describe_network_error(error) == (
        "its TLS certificate could not be verified (self-signed certificate)"
    )


async def test_an_unknown_host_is_not_found() -> None:
    """A name under .invalid (which never resolves) is "host not found", or a failed look-up."""
    with pytest.raises(socket.gaierror) as failure:
        await open_connection("nosuchhost.invalid", 5002, timeout=10)
    words = describe_network_error(failure.value)
    assert words == "host not found" or words.startswith("the host name could not be looked up")
