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
import ssl
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

#: Seconds between asking the kernel whether a paced connection was reset. While
#: flood control holds a flooder back its socket is not read, and asyncio only
#: sees a reset when it reads; this bounds how long a reset flooder stays.
RESET_CHECK_INTERVAL = 0.5

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
    """Listen as ``settings`` say (address and the task's port), serving with ``serve``.

    The listener speaks plain TCP even when TLS is on: ``serve`` runs as soon as a
    connection is accepted and upgrades it with :func:`accept_tls` itself, so that
    a connection is counted against the caps before its handshake, and the
    handshake spends the same time budget as registration.
    """
    return await asyncio.start_server(
        serve, settings.host, task_port(settings.port, task), limit=READ_CHUNK
    )


async def accept_tls(
    writer: asyncio.StreamWriter, context: ssl.SSLContext, deadline: float
) -> bool:
    """Run the server side of the TLS handshake on ``writer`` by the loop time ``deadline``.

    Returns whether it succeeded; ``writer`` then speaks TLS. A handshake that
    fails or runs out of time is logged and its socket cut at once: asyncio does
    not tell the stream that a connection died mid-handshake, so waiting for it
    to close would wait in vain.
    """
    address = format_address(writer.get_extra_info("peername"))
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout_at(deadline):
            # asyncio's own handshake time-out too, as a backstop never reached first.
            await writer.start_tls(
                context, ssl_handshake_timeout=max(deadline - loop.time(), 0.001) + 1.0
            )
    except TimeoutError:
        log.info("%s: no TLS handshake in time; closed", address)
    except OSError as exc:  # ssl.SSLError and ConnectionError among them
        log.info("%s: TLS handshake failed (%s); closed", address, exc)
    except BaseException:
        writer.transport.abort()
        raise
    else:
        return True
    writer.transport.abort()
    return False


def connection_gone(writer: asyncio.StreamWriter) -> asyncio.Future[None]:
    """A future done once ``writer``'s connection has closed, however it ended.

    Cancelling it leaves the stream alone (``wait_closed()`` awaited directly and
    cancelled would cancel the stream's own close future). It never holds an
    exception: the error that ended the connection is the stream's to report.
    """

    async def closed() -> None:
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    return asyncio.shield(closed())


def socket_error(writer: asyncio.StreamWriter) -> int:
    """The error the kernel holds for the connection's socket (0 for none).

    This is how a reset is seen while the socket is not being read: flood control
    stops reading a flooder, and asyncio only learns of a reset when it reads.
    """
    sock = writer.get_extra_info("socket")
    if sock is None:
        return 0
    try:
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
    except OSError as exc:
        return exc.errno or -1


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
        self._tls_context: ssl.SSLContext | None = None
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
        self._tls_context = tls_server_context(self.settings)
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
        # From accept to registered, TLS handshake included: one registration time-out.
        deadline = asyncio.get_running_loop().time() + self.settings.register_timeout
        peername = writer.get_extra_info("peername")
        address = format_address(peername)
        host = str(peername[0]) if isinstance(peername, tuple) else str(peername)
        # Tracked from the start, so that close() waits for (or cuts) every connection.
        self._connections[task] = None
        refusal = self.admission.admit(host)
        if refusal is not None:
            log.warning("refused %s: %s", address, refusal)
            if self._tls_context is None:
                # (A TLS client could not read it: it is refused before its handshake.)
                event_id, ts = self.clock.stamp()
                error = Error(event_id, ts, "connection_refused", refusal)
                writer.write(encode(error, Rendering.TEXT))
            await self._close_connection(task, writer)
            return
        session: Session | None = None
        reason = "connection closed"
        try:
            if self._closing:
                return
            if self._tls_context is not None and not await accept_tls(
                writer, self._tls_context, deadline
            ):
                return
            session = self._open_session(task, writer, address)
            await self._read_lines(reader, writer, session, deadline)
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
            self.admission.release(host)
            if session is None:
                # Never past its TLS handshake: accept_tls has cut it already.
                writer.transport.abort()
                del self._connections[task]
            else:
                session.end(session.peer.drop_reason or reason)
                self.hub.flush(session.peer)
                await self._close_connection(task, writer)
                log.info("%s closed: %s", address, session.finished)

    def _open_session(
        self, task: asyncio.Task[None], writer: asyncio.StreamWriter, address: str
    ) -> Session:
        """Start the conversation on an admitted connection (past its TLS handshake)."""
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
        self._tune_socket(writer)
        session.greet()
        return session

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

    async def _read_lines(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        session: Session,
        deadline: float,
    ) -> None:
        """Feed the session line by line until it finishes or the peer goes away.

        ``deadline`` (loop time) is when an unregistered connection is closed.
        """
        splitter = LineSplitter(self.settings.max_line_bytes)
        bucket = self._flood_bucket()
        first_line = True
        registration = asyncio.timeout_at(deadline)
        # Made the first time flood control holds a line back: done once the
        # connection is closed, reset or dropped by the hub.
        lost: asyncio.Future[None] | None = None
        try:
            async with registration:
                data = await reader.read(READ_CHUNK)
                self.received_bytes += len(data)
                if looks_like_tls(data) and self._tls_context is None:
                    session.end("TLS handshake on a plain-text port")
                    return
                while data:
                    for item in splitter.feed(data):
                        if session.peer.drop_reason is not None:
                            return  # cut off by the hub: nothing more of it reaches the room
                        if bucket is not None:
                            # Over the rate: wait before acting on this line, reading
                            # nothing meanwhile, so TCP pushes back on the flooder.
                            delay = bucket.take()
                            if delay > 0:
                                if lost is None:
                                    lost = connection_gone(writer)
                                if not await self._pace(writer, lost, delay):
                                    session.end(session.peer.drop_reason or "connection lost")
                                    return
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
        finally:
            if lost is not None:
                lost.cancel()

    async def _pace(
        self, writer: asyncio.StreamWriter, lost: asyncio.Future[None], delay: float
    ) -> bool:
        """Hold a flooder's next line back for ``delay`` seconds; False if it is gone.

        A connection that is closed, reset or dropped meanwhile ends the wait at
        once: a chunk of short lines can be hours of pacing, and none of it may
        be said in the name of someone who has left. While the socket is not read,
        asyncio cannot see a reset, so the kernel is asked too, every
        :data:`RESET_CHECK_INTERVAL` seconds.
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + delay
        while not (lost.done() or writer.transport.is_closing() or socket_error(writer)):
            remaining = end - loop.time()
            if remaining <= 0:
                return True
            await asyncio.wait({lost}, timeout=min(remaining, RESET_CHECK_INTERVAL))
        return False

    def _on_drop(self, peer: Peer, reason: str) -> None:
        log.warning("disconnecting %r: %s", peer, reason)

    def _flood_bucket(self) -> TokenBucket | None:
        """A new connection's token bucket, or None when flood control is off."""
        if not self.settings.flood_control:
            return None
        return TokenBucket(self.settings.flood_burst, self.settings.flood_rate)
