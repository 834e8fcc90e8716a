"""The asyncio layer of the multi-client server: sockets in, sessions and the hub within.

One coroutine per connection reads bytes, cuts them into lines under the
line-length limit and hands each line to its :class:`~tcpchat.session.Session`.
Writing is the hub's job. Whatever way a connection ends, its ``finally``
takes it out of the room, flushes what it was owed and closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

from tcpchat.config import TASK_PORTS, ServerSettings
from tcpchat.errors import LineTooLong
from tcpchat.events import EventClock, Shutdown
from tcpchat.hub import LocalHub, Peer
from tcpchat.protocol import LineSplitter, looks_like_http, looks_like_tls
from tcpchat.session import SearchService, Session

log = logging.getLogger("tcpchat.server")

#: Bytes asked of the socket per read. The stream's own buffer is bounded to
#: twice this; past it asyncio stops reading the socket and TCP pushes back.
READ_CHUNK = 64 * 1024

NOT_A_WEB_SERVER = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
    b"This is a tcpchat chat server, not a web server: connect with `nc HOST PORT` "
    b"or `tcpchat connect`.\n"
)


def format_address(address: Any) -> str:
    """``host:port`` for a socket address (``[host]:port`` for IPv6)."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


class ChatServer:
    """A multi-client chat room on one listening socket.

    Use as ``async with ChatServer(settings) as server: await server.serve_forever()``,
    or ``start()`` and ``close()``. ``port`` is the real port once started, so
    tests can listen on port 0.
    """

    def __init__(self, settings: ServerSettings, *, search: SearchService | None = None) -> None:
        self.settings = settings
        self.search = search
        self.clock = EventClock()
        self.hub = LocalHub(settings.max_queue_bytes, on_drop=self._on_drop)
        self._listener: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], Session] = {}
        self._closing = False

    @property
    def port(self) -> int:
        if self._listener is None or not self._listener.sockets:
            raise RuntimeError("the server is not listening")
        return int(self._listener.sockets[0].getsockname()[1])

    @property
    def address(self) -> str:
        return format_address((self.settings.host, self.port))

    async def start(self) -> None:
        """Bind and start accepting connections."""
        port = TASK_PORTS[2] if self.settings.port is None else self.settings.port
        self._listener = await asyncio.start_server(
            self._serve_connection, self.settings.host, port, limit=READ_CHUNK
        )
        log.debug("listening on %s", self.address)

    async def serve_forever(self) -> None:
        if self._listener is None:
            await self.start()
        assert self._listener is not None
        await self._listener.serve_forever()

    async def __aenter__(self) -> ChatServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self, reason: str = "the server is shutting down") -> None:
        """Stop accepting, tell every client why, flush with a deadline, close everything."""
        if self._closing:
            return
        self._closing = True
        if self._listener is not None:
            self._listener.close()
        if self.search is not None:
            # Before the goodbye, so that no AI event follows the shutdown notice.
            try:
                await self.search.aclose()
            except Exception:
                log.exception("could not close the search service cleanly")
        event_id, ts = self.clock.stamp()
        notice = Shutdown(event_id, ts, reason)
        for session in self._connections.values():
            self.hub.send(session.peer, notice)
            session.end("server shutting down", announce=False)
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        # Each connection's own clean-up flushes and closes within close_timeout.
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._listener is not None:
            await self._listener.wait_closed()
        log.info("server closed")

    # -- one connection --------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        address = format_address(writer.get_extra_info("peername"))
        peer = Peer(writer.transport, address)
        session = Session(peer, self.hub, self.clock, search=self.search)
        self._connections[task] = session
        log.info("connection from %s", address)
        reason = "connection closed"
        try:
            if self._closing:
                return
            _enable_keepalive(writer)
            session.greet()
            await self._read_lines(reader, session)
            reason = session.finished or "connection closed"
        except (ConnectionError, OSError):
            reason = "connection lost"
        except asyncio.CancelledError:
            if not self._closing:
                raise
            # close() cancelled us: end normally, because asyncio 3.11 reports a
            # cancelled connection task as an "unhandled exception" in its callback.
            reason = "server shutting down"
        except Exception:
            # A bug of ours: log it, end this connection, keep serving everyone else.
            log.exception("internal error on the connection from %s", address)
            reason = "server error"
        finally:
            session.end(peer.drop_reason or reason)
            del self._connections[task]
            await self._close_writer(peer, writer)
            log.info("%s closed: %s", address, session.finished)

    async def _read_lines(self, reader: asyncio.StreamReader, session: Session) -> None:
        """Feed the session line by line until it finishes or the peer goes away."""
        splitter = LineSplitter(self.settings.max_line_bytes)
        first_line = True
        registration = asyncio.timeout(self.settings.register_timeout)
        try:
            async with registration:
                data = await reader.read(READ_CHUNK)
                if looks_like_tls(data):
                    session.end("TLS handshake on a plain-text port")
                    return
                while data:
                    for item in splitter.feed(data):
                        if isinstance(item, LineTooLong):
                            session.fail(item)
                            continue
                        if first_line and looks_like_http(item):
                            session.peer.transport.write(NOT_A_WEB_SERVER)
                            session.end("HTTP request on a chat port")
                            return
                        first_line = False
                        session.receive_line(item)
                        if session.finished is not None:
                            return
                    if session.registered and registration.when() is not None:
                        registration.reschedule(None)
                    data = await reader.read(READ_CHUNK)
        except TimeoutError:
            if not registration.expired():
                raise  # a socket time-out, not ours
            session.error("timeout", "no nickname was chosen in time; closing")
            session.end("registration timed out")

    async def _close_writer(self, peer: Peer, writer: asyncio.StreamWriter) -> None:
        """Flush what ``peer`` is owed and close, cutting the socket if it will not drain."""
        self.hub.flush(peer)
        writer.close()
        try:
            async with asyncio.timeout(self.settings.close_timeout):
                await writer.wait_closed()
        except (TimeoutError, ConnectionError, OSError):
            writer.transport.abort()
        except asyncio.CancelledError:
            writer.transport.abort()
            raise

    def _on_drop(self, peer: Peer, reason: str) -> None:
        log.warning("disconnecting %r: %s", peer, reason)


def _enable_keepalive(writer: asyncio.StreamWriter) -> None:
    """Turn on TCP keepalive so that peers that vanished without a FIN are found."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):  # not every socket type supports it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
