"""The multi-client chat server: its listener, its connections, its hub.

:class:`ChatServer` owns everything a running chat needs: the hub, the event
clock, the connection caps, the search service, and one task per connection.
Each connection coroutine admits the connection, shakes hands (TLS), opens a
:class:`~tcpchat.core.session.Session` and hands the socket to the front door
that reads it (:mod:`tcpchat.server.chat.line`). Writing is the hub's job. Whatever
way a connection ends, its ``finally`` takes it out of the room, flushes what
it was owed and closes the socket.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import TYPE_CHECKING

from tcpchat.config import ClusterSettings, ServerSettings
from tcpchat.core.admission import Admission
from tcpchat.core.conversation import SearchService
from tcpchat.core.events import Error, EventClock, Shutdown
from tcpchat.core.hub import Peer
from tcpchat.core.render import Rendering, encode
from tcpchat.core.session import Session
from tcpchat.net.streams import close_stream, format_address, listening_port
from tcpchat.net.tls import tls_server_context
from tcpchat.server.line import FRONT_DOOR, read_lines
from tcpchat.server.listener import accept_tls, start_listening, tune_socket
from tcpchat.server.local_hub import LocalHub

if TYPE_CHECKING:
    from tcpchat.server.redis_hub import RedisHub

log = logging.getLogger("tcpchat.server")


class ChatServer:
    """A multi-client chat room on one listening socket.

    Use as ``async with ChatServer(settings) as server: await server.serve_forever()``,
    or ``start()`` and ``close()``. ``port`` is the real port once started, so
    tests can listen on port 0.
    """

    def __init__(
        self,
        settings: ServerSettings,
        *,
        search: SearchService | None = None,
        cluster: ClusterSettings | None = None,
    ) -> None:
        self.settings = settings
        self.search = search
        self.clock = EventClock()
        self.hub = LocalHub(
            settings.max_queue_bytes, on_drop=self._on_drop, rules=settings.room_rules
        )
        # -- a node of a cluster (docs/scaling.md): the hub spans every server on Redis.
        self.cluster = cluster or ClusterSettings()
        self.cluster_hub: RedisHub | None = None
        if self.cluster.enabled:
            self._become_node()
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
        if self.cluster_hub is not None:
            await self.cluster_hub.start()  # StoreError (URL redacted) if Redis cannot be used
        try:
            self._listener = await start_listening(
                self._serve_connection,
                self.settings,
                task=2,
                reuse_port=self.cluster.reuse_port,
            )
        except BaseException:
            if self.cluster_hub is not None:
                await self.cluster_hub.close()
            raise
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
        if self.cluster_hub is not None:
            self.cluster_hub.begin_close()  # the other nodes' members are told who leaves
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
        if self.cluster_hub is not None:
            await self.cluster_hub.close(self.settings.close_timeout)
        log.info("server closed")

    def _become_node(self) -> None:
        """Use the cluster's hub and clock: rooms, nicknames and views span every node."""
        from tcpchat.server.redis_hub import RedisHub  # here: redis-py is an optional extra

        hub = RedisHub(
            self.cluster.redis_url,
            node_timeout=self.cluster.node_timeout,
            max_queue_bytes=self.settings.max_queue_bytes,
            on_drop=self._on_drop,
            rules=self.settings.room_rules,
            stream_cap=self.cluster.room_stream_max,
        )
        self.hub = self.cluster_hub = hub
        self.clock = hub.clock

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
            log.warning(
                "refused %s: %s",
                address,
                refusal,
                extra={"address": address, "door": FRONT_DOOR, "reason": refusal},
            )
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
            await read_lines(
                reader,
                writer,
                session,
                self.settings,
                deadline=deadline,
                tls=self._tls_context is not None,
                on_read=self._count_received,
            )
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
                fields = {"nick": session.peer.nick, "reason": session.finished}
                log.info(
                    "%s closed: %s",
                    address,
                    session.finished,
                    extra={"address": address, "door": FRONT_DOOR, **fields},
                )

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
            rules=self.hub.rules,
        )
        self._connections[task] = session
        log.info("connection from %s", address, extra={"address": address, "door": FRONT_DOOR})
        tune_socket(writer, self.settings)
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

    def _count_received(self, size: int) -> None:
        self.received_bytes += size

    def _on_drop(self, peer: Peer, reason: str) -> None:
        log.warning(
            "disconnecting %r: %s",
            peer,
            reason,
            extra={"address": peer.address, "nick": peer.nick, "reason": reason},
        )
