"""A client's connection to a tcpchat server, with its limits, and the reconnection backoff.

:class:`Connection` reads lines under a size limit and writes without waiting;
:func:`switch_to_json` asks for the JSON-lines rendering and skips the text
greeting that comes before the server's ``format: json``; :func:`read_event`
turns lines back into events. :class:`Backoff` spaces reconnection attempts.
:func:`describe_network_error` is the one place where a failed connection
becomes words for the user.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import os
import random
import socket
import ssl
from collections.abc import Callable

from tcpchat.core.errors import ConnectionLost, LineTooLong, RemoteProtocolError
from tcpchat.core.events import Error, Event, Notice
from tcpchat.core.protocol import JSON_OPENING_LINE, LineSplitter
from tcpchat.core.render import parse_json_event
from tcpchat.core.sanitize import sanitize_text
from tcpchat.net.streams import close_stream

log = logging.getLogger("tcpchat.client")

#: Longest event line accepted from the server (an AI answer with its sources is the
#: longest kind); a longer line is dropped whole.
MAX_EVENT_LINE_BYTES = 1024 * 1024

#: Bytes asked of the socket per read.
READ_CHUNK = 64 * 1024

#: Unsent bytes to the server past which it is taken to be stuck and the connection is cut.
MAX_SEND_BUFFER_BYTES = 1024 * 1024

#: Seconds to wait for the server's goodbye after sending ``/exit``.
LEAVE_TIMEOUT = 2.0

#: The server's answer to ``/format json``, once the JSON rendering is on.
JSON_ACK = "format: json"

#: The largest power of two the backoff computes (2**30 s is decades): past it,
#: ``2.0 ** attempts`` would overflow after 1,024 attempts.
MAX_BACKOFF_EXPONENT = 30


class Connection:
    """One connection to a server, as lines: read under a size limit, write without waiting."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_line_bytes: int = MAX_EVENT_LINE_BYTES,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._splitter = LineSplitter(max_line_bytes)
        self._ready: collections.deque[str] = collections.deque()
        self._eof = False

    async def read_line(self) -> str | None:
        """The next line from the server without its newline; None once it has closed."""
        while not self._ready:
            if self._eof:
                return None
            data = await self._reader.read(READ_CHUNK)
            if not data:
                self._eof = True  # an unfinished last line is not a line
                continue
            for item in self._splitter.feed(data):
                if isinstance(item, LineTooLong):
                    log.warning("dropped a line from the server: %s", item)
                else:
                    self._ready.append(item.decode("utf-8", errors="replace"))
        return self._ready.popleft()

    def send_line(self, line: str) -> None:
        """Queue ``line`` for the server. Never waits; a server that stopped reading is cut."""
        transport = self._writer.transport
        if transport.is_closing():
            raise ConnectionLost("the connection is closed")
        self._writer.write(line.encode("utf-8", errors="replace") + b"\n")
        if transport.get_write_buffer_size() > MAX_SEND_BUFFER_BYTES:
            transport.abort()
            raise ConnectionLost("the server stopped reading; connection cut")

    async def close(self, timeout: float = LEAVE_TIMEOUT) -> None:
        """Close the connection, cutting it if it does not close within ``timeout``."""
        await close_stream(self._writer, timeout)

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def open_connection(
    host: str,
    port: int,
    *,
    ssl: ssl.SSLContext | None = None,
    timeout: float = 10.0,
    max_line_bytes: int = MAX_EVENT_LINE_BYTES,
) -> Connection:
    """Connect to a server; ``ssl`` is the TLS context when the server speaks TLS."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port, ssl=ssl, limit=READ_CHUNK)
    return Connection(reader, writer, max_line_bytes=max_line_bytes)


async def switch_to_json(connection: Connection) -> None:
    """Ask for the JSON-lines rendering and skip what comes before the server's ``format: json``.

    Raises :class:`ConnectionLost` if the server closes first, with the last thing it
    said: an error event's words (a busy 1:1 server's, say), else its last text line.
    """
    connection.send_line(JSON_OPENING_LINE)
    skipped: collections.deque[str] = collections.deque(maxlen=1)
    while (line := await connection.read_line()) is not None:
        if line.startswith("{"):
            with contextlib.suppress(RemoteProtocolError):
                event = parse_json_event(line)
                if isinstance(event, Notice) and event.text == JSON_ACK:
                    return
                if isinstance(event, Error):
                    skipped.append(event.text)
        elif line.strip():
            skipped.append(line)
    said = f": {sanitize_text(skipped[0])}" if skipped else ""
    raise ConnectionLost(f"the server closed the connection{said}")


async def read_event(connection: Connection) -> Event | None:
    """The next event from the server; None once it has closed.

    Lines that are not events this client knows (from a newer server) are skipped.
    """
    while (line := await connection.read_line()) is not None:
        try:
            return parse_json_event(line)
        except RemoteProtocolError as exc:
            log.debug("skipped a line from the server: %s", exc)
    return None


# Socket errors by errno, in the user's words; the exception's class decides first.
_ERRNO_WORDS = {
    errno.ECONNREFUSED: "connection refused (is the server running, on that port?)",
    errno.ECONNRESET: "the connection was reset",
    errno.ECONNABORTED: "the connection was aborted",
    errno.EPIPE: "the connection was broken",
    errno.ETIMEDOUT: "timed out",
    errno.ENETUNREACH: "network unreachable",
    errno.ENETDOWN: "the network is down",
    errno.EHOSTUNREACH: "host unreachable",
    errno.EHOSTDOWN: "the host is down",
    errno.EADDRNOTAVAIL: "that address cannot be reached from here",
}
# Name look-up failures that mean "there is no such host", as opposed to "the look-up failed".
_NO_SUCH_HOST = {
    code for name in ("EAI_NONAME", "EAI_NODATA") if (code := getattr(socket, name, None))
}


def describe_network_error(exc: BaseException) -> str:
    """What went wrong with a connection, in a few words for the user: "host not found",
    "connection refused …", "timed out", "its TLS certificate could not be verified …".

    Takes what connecting, reading or writing can raise: any ``OSError`` (name
    look-up, socket and TLS errors), ``TimeoutError``, and the ``ValueError``
    (``UnicodeError`` included) or ``OverflowError`` of a host name or port that
    cannot even be tried.
    """
    match exc:
        case socket.gaierror() if exc.errno in _NO_SUCH_HOST:
            return "host not found"
        case socket.gaierror() if exc.errno == socket.EAI_AGAIN:
            return "the host name could not be looked up (no answer from DNS; is the network up?)"
        case socket.gaierror():
            return f"the host name could not be looked up ({exc.strerror or exc})"
        case ssl.SSLCertVerificationError():
            return f"its TLS certificate could not be verified ({exc.verify_message})"
        case ssl.SSLError() if exc.reason == "WRONG_VERSION_NUMBER":
            return "TLS failed: the server does not seem to speak TLS"
        case ssl.SSLEOFError() | ssl.SSLZeroReturnError():
            return "the server ended the TLS connection"
        case ssl.SSLError():
            return f"TLS failed ({exc.reason or exc.strerror or exc})"
        case TimeoutError():
            return "timed out"
        case OSError() if exc.errno in _ERRNO_WORDS:
            return _ERRNO_WORDS[exc.errno]
        case OSError() if exc.errno is not None and exc.errno > 0:
            return os.strerror(exc.errno).lower()
        case OverflowError():
            return "that port does not exist"
        case ValueError():  # the IDNA codec's "label too long", an embedded NUL
            return "that is not a valid host name"
    return str(exc) or type(exc).__name__


class Backoff:
    """Delays between reconnection attempts: doubling from ``initial`` up to ``maximum``.

    Each delay is spread by ``±jitter`` so that the clients of a restarted
    server do not all come back in the same instant.
    """

    def __init__(
        self,
        initial: float,
        maximum: float,
        *,
        jitter: float = 0.2,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self.random = random
        self.attempts = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one attempt."""
        base = min(self.maximum, self.initial * 2.0 ** min(self.attempts, MAX_BACKOFF_EXPONENT))
        self.attempts += 1
        spread = 1.0 - self.jitter + 2.0 * self.jitter * self.random()
        return min(self.maximum, base * spread)

    def reset(self) -> None:
        """Start again from ``initial`` (after a successful connection)."""
        self.attempts = 0
