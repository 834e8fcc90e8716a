"""The asyncio layer of the multi-client server: sockets in, sessions and the hub within.

One coroutine per connection reads bytes, cuts them into lines under the
line-length limit and hands each line to its :class:`~tcpchat.session.Session`.
Writing is the hub's job. Whatever way a connection ends, its ``finally``
takes it out of the room, flushes what it was owed and closes the socket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tcpchat.admission import Admission
from tcpchat.config import ServerSettings, task_port
from tcpchat.errors import LineTooLong
from tcpchat.events import Error, EventClock, Shutdown
from tcpchat.hub import LocalHub, Peer
from tcpchat.protocol import LineSplitter, looks_like_http, looks_like_tls
from tcpchat.ratelimit import TokenBucket
from tcpchat.render import Rendering, encode
from tcpchat.session import SearchService, Session
from tcpchat.sockopts import enable_keepalive, set_send_buffer
from tcpchat.streams import close_stream, listening_port
from tcpchat.tls import tls_server_context

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


async def start_listening(
    serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    settings: ServerSettings,
    *,
    task: int,
) -> asyncio.Server:
    """Listen as ``settings`` say (address, the task's port, TLS), serving with ``serve``.

    The TLS handshake gets the registration time-out: a client that opens a
    connection and never finishes it is a client that never registers.
    """
    tls_context = tls_server_context(settings)
    return await asyncio.start_server(
        serve,
        settings.host,
        task_port(settings.port, task),
        limit=READ_CHUNK,
        ssl=tls_context,
        ssl_handshake_timeout=settings.register_timeout if tls_context else None,
    )


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
        # Every connection task, with its session (None while being refused).
        self._connections: dict[asyncio.Task[None], Session | None] = {}
        self._closing = False
        self.admission = Admission(
            settings.max_clients, settings.max_per_ip, limit_loopback=settings.limit_loopback
        )
        #: Bytes read from all clients so far: traffic accounting for operators, and
        #: how a test knows the server has read what it sent before sending more.
        self.received_bytes = 0

    @property
    def port(self) -> int:
        return listening_port(self._listener)

    @property
    def address(self) -> str:
        return format_address((self.settings.host, self.port))

    def sessions(self) -> list[Session]:
        """The sessions of the connections open now, registered or not."""
        return [session for session in self._connections.values() if session is not None]

    @property
    def tls(self) -> bool:
        """Whether this server speaks TLS (``--tls-cert`` and ``--tls-key`` were given)."""
        return bool(self.settings.tls_cert)

    async def start(self) -> None:
        """Bind and start accepting connections.

        Raises OSError (ssl.SSLError among them) for certificate files that cannot
        be used, and OSError when it cannot bind.
        """
        self._listener = await start_listening(self._serve_connection, self.settings, task=2)
        log.debug("listening on %s%s", self.address, " (TLS)" if self.tls else "")

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
        # Before the goodbye, so that no AI event follows the shutdown notice.
        await self._cancel_searches()
        event_id, ts = self.clock.stamp()
        notice = Shutdown(event_id, ts, reason)
        for session in self._connections.values():
            if session is not None:
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

    async def _cancel_searches(self) -> None:
        """Cancel the searches in flight, before the connections they answer are closed.

        The service's ``aclose()`` gets ``close_timeout`` seconds, so that shutdown
        as a whole stays within its 5 s budget even if a search will not die.
        """
        if self.search is None:
            return
        try:
            async with asyncio.timeout(self.settings.close_timeout):
                await self.search.aclose()
        except TimeoutError:
            log.warning(
                "searches did not stop within %s s; closing anyway", self.settings.close_timeout
            )
        except Exception:
            log.exception("could not close the search service cleanly")

    # -- one connection --------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        peername = writer.get_extra_info("peername")
        address = format_address(peername)
        host = str(peername[0]) if isinstance(peername, tuple) else str(peername)
        refusal = self.admission.admit(host)
        if refusal is not None:
            # Tracked too, so that close() waits for (or cuts) these last few bytes.
            self._connections[task] = None
            log.warning("refused %s: %s", address, refusal)
            event_id, ts = self.clock.stamp()
            writer.write(encode(Error(event_id, ts, "connection_refused", refusal), Rendering.TEXT))
            await self._close_connection(task, writer)
            return
        peer = Peer(writer.transport, address)
        session = Session(
            peer,
            self.hub,
            self.clock,
            search=self.search,
            password=self.settings.password,
            max_line_bytes=self.settings.max_line_bytes,
        )
        self._connections[task] = session
        log.info("connection from %s", address)
        reason = "connection closed"
        try:
            if self._closing:
                return
            self._tune_socket(writer)
            session.greet()
            await self._read_lines(reader, session)
            reason = session.finished or "connection closed"
        except (ConnectionError, OSError):
            reason = "connection lost"
        except asyncio.CancelledError:
            if not self._closing:
                raise
            # close() cancelled us and waits for us: end normally, because asyncio
            # 3.11 reports a cancelled connection task as an unhandled exception.
            task.uncancel()
            reason = "server shutting down"
        except Exception:
            # A bug of ours: log it, end this connection, keep serving everyone else.
            log.exception("internal error on the connection from %s", address)
            reason = "server error"
        finally:
            session.end(peer.drop_reason or reason)
            self.admission.release(host)
            self.hub.flush(peer)
            await self._close_connection(task, writer)
            log.info("%s closed: %s", address, session.finished)

    async def _close_connection(
        self, task: asyncio.Task[None], writer: asyncio.StreamWriter
    ) -> None:
        """Close one connection within close_timeout; then stop tracking its task.

        The task stays in ``_connections`` until its socket is closed, so that
        close() waits for it; if close() cancels it meanwhile, the socket is cut
        and the task still ends normally (see _serve_connection).
        """
        try:
            await close_stream(writer, self.settings.close_timeout)
        except asyncio.CancelledError:
            if not self._closing:
                raise
            task.uncancel()
        finally:
            del self._connections[task]

    def _tune_socket(self, writer: asyncio.StreamWriter) -> None:
        """Keepalive, and the kernel send buffer if one is configured."""
        sock = writer.get_extra_info("socket")
        if sock is not None:
            settings = self.settings
            enable_keepalive(
                sock, settings.keepalive_idle, settings.keepalive_interval, settings.keepalive_count
            )
            set_send_buffer(sock, settings.send_buffer_bytes)

    async def _read_lines(self, reader: asyncio.StreamReader, session: Session) -> None:
        """Feed the session line by line until it finishes or the peer goes away."""
        splitter = LineSplitter(self.settings.max_line_bytes)
        bucket = self._flood_bucket()
        first_line = True
        registration = asyncio.timeout(self.settings.register_timeout)
        try:
            async with registration:
                data = await reader.read(READ_CHUNK)
                self.received_bytes += len(data)
                if looks_like_tls(data) and not self.tls:
                    session.end("TLS handshake on a plain-text port")
                    return
                while data:
                    for item in splitter.feed(data):
                        if bucket is not None:
                            # Over the rate: wait before acting on this line, reading
                            # nothing meanwhile, so TCP pushes back on the flooder.
                            delay = bucket.take()
                            if delay > 0:
                                await asyncio.sleep(delay)
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
                            # At once: flood control may still sleep on this chunk.
                            registration.reschedule(None)
                    # read() returns at once while the stream holds data, so yield
                    # here: one client's burst must not keep the loop from the
                    # others, nor from flushing what this chunk queued for them.
                    await asyncio.sleep(0)
                    data = await reader.read(READ_CHUNK)
                    self.received_bytes += len(data)
        except TimeoutError:
            if not registration.expired():
                raise  # a socket time-out, not ours
            session.error("timeout", "no nickname was chosen in time; closing")
            session.end("registration timed out")

    def _on_drop(self, peer: Peer, reason: str) -> None:
        log.warning("disconnecting %r: %s", peer, reason)

    def _flood_bucket(self) -> TokenBucket | None:
        """A new connection's token bucket, or None when flood control is off."""
        if not self.settings.flood_control:
            return None
        return TokenBucket(self.settings.flood_burst, self.settings.flood_rate)
