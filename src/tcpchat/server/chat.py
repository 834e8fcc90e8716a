"""The multi-client chat server: its listeners, its connections, its hub.

:class:`ChatServer` owns everything a running chat needs: the hub, the event
clock, the connection caps, the search service, and one task per connection.
Each listener has a front door (:class:`~tcpchat.server.listener.FrontDoor`):
the native line protocol's (:mod:`tcpchat.server.line`) on the main port,
IRC's (:mod:`tcpchat.server.irc`) on ``--irc-port`` and ``--irc-tls-port``,
the web's (:mod:`tcpchat.server.web`) on ``--http-port``. Each connection
coroutine admits the connection, shakes hands (TLS) and hands the socket to
its listener's door, which opens a session and feeds it. Writing is the hub's
job. Whatever way a connection ends, its ``finally`` takes it out of the
rooms, flushes what it was owed, lets the door say goodbye and closes the
socket.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tcpchat.config import ClusterSettings, HistorySettings, ServerSettings
from tcpchat.core.admission import Admission
from tcpchat.core.conversation import SearchService
from tcpchat.core.events import Error, EventClock, Shutdown
from tcpchat.core.hub import Peer, Transport
from tcpchat.core.moderation import Ban, Moderation
from tcpchat.core.pacing import FlushGate
from tcpchat.core.render import Encoder, encode
from tcpchat.net.streams import close_stream, drop_drain_deque, format_address, listening_port
from tcpchat.net.tls import tls_server_context
from tcpchat.server.history import RoomHistory
from tcpchat.server.line import LineDoor
from tcpchat.server.listener import (
    DoorSession,
    FrontDoor,
    S,
    accept_tls,
    connection_tuning,
    start_listening,
    tune_socket,
)
from tcpchat.server.local_hub import LocalHub
from tcpchat.server.moderation import BANNED, SWEEP_INTERVAL, BanRecorder
from tcpchat.store.base import Store

if TYPE_CHECKING:
    from tcpchat.server.health import Check
    from tcpchat.server.irc import IrcDoor
    from tcpchat.server.metrics import Backplane, ServerMetrics
    from tcpchat.server.web import WebDoor

if TYPE_CHECKING:
    from tcpchat.server.redis_hub import RedisHub

log = logging.getLogger("tcpchat.server")

#: What a listener runs for each connection it accepts.
Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class ChatServer:
    """A multi-client chat on its listening sockets: the line protocol's, IRC's, the web's.

    Use as ``async with ChatServer(settings) as server: await server.serve_forever()``,
    or ``start()`` and ``close()``. ``port`` (and ``irc_port``, ``irc_tls_port``
    and ``http_port`` when they are set) is the real port once started, so
    tests can listen on port 0.
    """

    def __init__(
        self,
        settings: ServerSettings,
        *,
        search: SearchService | None = None,
        history: HistorySettings | None = None,
        store: Store | None = None,
        sweep_interval: float = SWEEP_INTERVAL,
        cluster: ClusterSettings | None = None,
    ) -> None:
        self.settings = settings
        self.search = search
        self.clock = EventClock()
        self._line_door = LineDoor(settings)
        # IRC and the web are loaded only when their ports are set: a server
        # without them never pays for them (websockets alone is 4 MiB).
        self._irc_door: IrcDoor | None = None
        self._web_door: WebDoor | None = None
        wire: Encoder = encode
        if settings.irc_port is not None or settings.irc_tls_port is not None:
            from tcpchat.server.irc import IrcDoor

            created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            self._irc_door = IrcDoor(settings, created)
            wire = self._irc_door.encoder
        #: A node of a cluster (docs/scaling.md): the hub spans every server on Redis.
        self.cluster = cluster or ClusterSettings()
        self.cluster_hub: RedisHub | None = None
        #: The rooms' history (docs/history.md); None without history settings or with
        #: --no-history. Its hub records what rooms say and replays it to joiners; in a
        #: cluster it is kept on the cluster's Redis, shared by every node.
        self.history: RoomHistory | None = None
        self.hub: LocalHub
        if history is not None and history.history:
            self.history = RoomHistory(
                history, settings.room_rules, redis_url=self.cluster.redis_url or None
            )
            self.history.search = search
        if self.cluster.enabled:
            self._become_node(wire)
        elif self.history is not None:
            self.hub = self.history.hub(settings.max_queue_bytes, self._on_drop, wire)
        else:
            self.hub = LocalHub(
                settings.max_queue_bytes,
                on_drop=self._on_drop,
                rules=settings.room_rules,
                encode=wire,
            )
        # Passes run at once while the loop is quiet and are spaced while it is busy.
        self.hub.pacer = FlushGate()
        self._listener: asyncio.Server | None = None
        # The IRC listeners, plain (False) and TLS (True), when their ports are set.
        self._irc_listeners: dict[bool, asyncio.Server] = {}
        self._web_listener: asyncio.Server | None = None
        self._tls_context: ssl.SSLContext | None = None
        # Keepalive and the send buffer: set on every listening socket, which Linux
        # copies to each connection it accepts (checked on the first).
        self._tuning = connection_tuning(settings)
        # Every connection task, with its session (None until the door opens one).
        self._connections: dict[asyncio.Task[None], DoorSession | None] = {}
        self._closing = False
        self.admission = Admission(
            settings.max_clients, settings.max_per_ip, limit_loopback=settings.limit_loopback
        )
        #: Operators, bans, mutes and slow modes; the bans are kept in ``store`` (the history
        #: store, opened and closed by its owner), loaded at start.
        self.bans = BanRecorder(store, self.sessions, sweep_interval=sweep_interval)
        self.moderation = Moderation(
            settings.oper_password,
            keeper=self.bans,
            default_room=settings.default_room,
            kicks_when_read=self.cluster_hub is not None,
        )
        if self.cluster_hub is not None:
            # A ban made on one node holds on every node at once; kicks, operators, mutes
            # and slow mode hold on every node as they come off the room's stream, and are
            # kept in Redis for the nodes that start reading a room later.
            from tcpchat.server.cluster_moderation import ClusterModeration  # a node's only

            self.bans.nodes = self.cluster_hub
            self.cluster_hub.on_ban = self._heard_ban
            self.cluster_hub.on_feed_skipped = self.bans.missed
            hub = self.cluster_hub
            hub.modes = ClusterModeration(self.moderation, hub, hub.clock)
            self.moderation.on_promote = hub.describe  # the other nodes mark it at once
        #: Bytes read from all clients so far: traffic accounting for operators, and
        #: how a test knows the server has read what it sent before sending more.
        self.received_bytes = 0
        #: Connections open now, by front door; lines flood control held back, of the
        #: connections that have ended (for /metrics).
        self.open_connections: Counter[str] = Counter()
        self.flood_delays_ended = 0
        #: What /metrics reads of a cluster node's hub (docs/scaling.md); None on a
        #: server of its own.
        self.backplane: Backplane | None = self.cluster_hub
        #: What /readyz checks (each: None when ready, else why not); a cluster node adds
        #: its Redis connection's.
        self.readiness_checks: list[Check] = []
        if self.cluster_hub is not None:
            self.readiness_checks.append(self.cluster_hub.not_ready)
        self.metrics: ServerMetrics | None = None
        if settings.http_port is not None:
            self._web_door = self._open_web_door()

    def _open_web_door(self) -> WebDoor:
        """The web door, with its routes: the page, /metrics, /healthz and /readyz."""
        # Loaded only with --http-port: websockets and prometheus-client are 5 MiB.
        from tcpchat.server.health import health_routes, history_ready, listening
        from tcpchat.server.http import Routes, page_routes
        from tcpchat.server.metrics import ServerMetrics
        from tcpchat.server.web import WebDoor

        self.metrics = ServerMetrics(self, token=self.settings.metrics_token)
        self.readiness_checks += [
            lambda: listening(self._listeners_by_door()),
            lambda: history_ready(self.history),
        ]
        routes = {
            **page_routes(),
            **self.metrics.routes(),
            **health_routes(self.readiness_checks),
        }
        return WebDoor(self.settings, Routes(routes))

    @property
    def port(self) -> int:
        return listening_port(self._listener)

    @property
    def address(self) -> str:
        return format_address((self.settings.host, self.port))

    @property
    def irc_port(self) -> int:
        """The real port of the IRC listener (``--irc-port``); it must be on."""
        return listening_port(self._irc_listeners.get(False))

    @property
    def irc_tls_port(self) -> int:
        """The real port of the IRC-over-TLS listener (``--irc-tls-port``); it must be on."""
        return listening_port(self._irc_listeners.get(True))

    @property
    def http_port(self) -> int:
        """The web listener's port (RuntimeError when ``--http-port`` is off)."""
        return listening_port(self._web_listener)

    @property
    def web_url(self) -> str | None:
        """Where the web client is, once started (None when ``--http-port`` is off)."""
        if self._web_listener is None:
            return None
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{format_address((self.settings.web_host, self.http_port))}/"

    def sessions(self) -> list[DoorSession]:
        """The sessions of the connections open now, registered or not, of every front door."""
        return [session for session in self._connections.values() if session is not None]

    @property
    def tls(self) -> bool:
        """Whether this server speaks TLS (``--tls-cert`` and ``--tls-key`` were given)."""
        return bool(self.settings.tls_cert)

    async def start(self) -> None:
        """Bind and start accepting connections, on every port that is set.

        Raises OSError (ssl.SSLError among them) for certificate files that cannot
        be used, OSError when it cannot bind (closing what it had bound), and
        StoreError (naming the file) for a history database that cannot be used:
        all before it listens.
        """
        self._tls_context = tls_server_context(self.settings)
        if self.cluster_hub is not None:
            # StoreError (the URL's password hidden) if Redis cannot be used.
            await self.cluster_hub.start()
        try:
            if self.history is not None:
                # The clock starts above every id the history file has ever handed out
                # (in a cluster, the clock stays the hub's: the ids are the cluster's).
                self.clock = await self.history.open()
                if self.bans.store is None:
                    # Bans are kept in the history store (docs/history.md), beside the rooms.
                    self.bans.store = self.history.store
            await self.bans.start(self.moderation)
            serve = self._serving(self._line_door, self._tls_context)
            self._listener = await self._listen(serve)
            log.debug("listening on %s%s", self.address, " (TLS)" if self.tls else "")
            await self._start_irc()
            await self._start_web()
            if self.metrics is not None:
                self.metrics.start()
        except BaseException:
            for listener in self._listeners():
                listener.close()
            await self.bans.aclose()
            if self.cluster_hub is not None:
                await self.cluster_hub.close()
            await self._close_history()
            raise

    async def _listen(self, serve: Serve, port: int | None = None) -> asyncio.Server:
        """One listener (``port``, else the main one), sharing its address with the other
        nodes on this machine when ``--reuse-port`` is on."""
        return await start_listening(
            serve,
            self.settings,
            task=2,
            port=port,
            reuse_port=self.cluster.reuse_port,
            tuning=self._tuning,
        )

    async def _start_irc(self) -> None:
        """Listen for IRC on ``--irc-port`` and ``--irc-tls-port``, whichever are set."""
        door = self._irc_door
        if door is None:
            return
        for port, tls in ((self.settings.irc_port, False), (self.settings.irc_tls_port, True)):
            if port is None:
                continue
            serve = self._serving(door, self._tls_context if tls else None)
            listener = await self._listen(serve, port)
            self._irc_listeners[tls] = listener
            log.debug("IRC%s on port %d", " over TLS" if tls else "", listening_port(listener))

    async def _start_web(self) -> None:
        """Listen for browsers on ``--http-port``, if it is set (with TLS when configured)."""
        door = self._web_door
        if door is None:
            return
        serve = self._serving(door, self._tls_context)
        # On --http-host, which may keep /metrics on loopback while chat faces the world.
        on_web_host = replace(self.settings, host=self.settings.web_host)
        self._web_listener = await start_listening(
            serve,
            on_web_host,
            task=2,
            port=self.settings.http_port,
            reuse_port=self.cluster.reuse_port,
            tuning=self._tuning,
        )
        log.debug("web client on %s", self.web_url)

    def _listeners_by_door(self) -> dict[str, asyncio.Server | None]:
        """Every listener the settings ask for, by its door's name (None: not started)."""
        listeners = {"line": self._listener}
        for port, tls, name in (
            (self.settings.irc_port, False, "IRC"),
            (self.settings.irc_tls_port, True, "IRC over TLS"),
        ):
            if port is not None:
                listeners[name] = self._irc_listeners.get(tls)
        if self.settings.http_port is not None:
            listeners["web"] = self._web_listener
        return listeners

    def _listeners(self) -> list[asyncio.Server]:
        """Every listener started so far."""
        listeners = [self._listener, *self._irc_listeners.values(), self._web_listener]
        return [listener for listener in listeners if listener is not None]

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
        listeners = self._listeners()
        for listener in listeners:
            listener.close()
        if self.metrics is not None:
            self.metrics.close()
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
        for listener in listeners:
            await listener.wait_closed()
        if self.cluster_hub is not None:
            # What the last leavings said goes out, then the node leaves the cluster.
            await self.cluster_hub.close(self.settings.close_timeout)
        try:
            async with asyncio.timeout(self.settings.close_timeout):
                await self.bans.aclose()
        except TimeoutError:
            log.warning("bans were not all saved within %s s", self.settings.close_timeout)
        await self._close_history()
        log.info("server closed")

    async def _close_history(self) -> None:
        """Commit the history and close its file, within close_timeout."""
        if self.history is None:
            return
        try:
            async with asyncio.timeout(self.settings.close_timeout):
                await self.history.close()
        except TimeoutError:
            log.warning("history was not committed within %s s", self.settings.close_timeout)

    def _become_node(self, wire: Encoder) -> None:
        """Use the cluster's hub and clock: rooms, nicknames, views, history and bans span
        every node (docs/scaling.md)."""
        from tcpchat.server.redis_hub import RedisHub  # here: redis-py is an optional extra

        hub = RedisHub(
            self.cluster.redis_url,
            node_timeout=self.cluster.node_timeout,
            max_queue_bytes=self.settings.max_queue_bytes,
            on_drop=self._on_drop,
            rules=self.settings.room_rules,
            history=self.history,
            stream_cap=self.cluster.room_stream_max,
            encode=wire,
        )
        self.hub = self.cluster_hub = hub
        self.clock = hub.clock
        if self.history is not None:
            self.history.clock = hub.clock  # replies and /history pages stamp the cluster's ids

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

    def _serving(self, door: FrontDoor[S], tls: ssl.SSLContext | None) -> Serve:
        """What a listener runs per connection: ``door``, behind TLS if ``tls`` is given."""

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.open_connections[door.name] += 1
            try:
                await self._serve_connection(reader, writer, door, tls)
            finally:
                self.open_connections[door.name] -= 1

        return serve

    async def _serve_connection(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        door: FrontDoor[S],
        tls: ssl.SSLContext | None,
    ) -> None:
        """One connection, from admission to its socket closed."""
        drop_drain_deque(writer)
        task = asyncio.current_task()
        assert task is not None
        # From accept to registered, TLS handshake included: one registration time-out.
        deadline = asyncio.get_running_loop().time() + self.settings.register_timeout
        peername = writer.get_extra_info("peername")
        address = format_address(peername)
        host = str(peername[0]) if isinstance(peername, tuple) else str(peername)
        # Tracked from the start, so that close() waits for (or cuts) every connection.
        self._connections[task] = None
        refusal: str | None
        code, ban = "connection_refused", self.moderation.address_ban(host)
        if ban is not None:  # banned before counted: a banned address takes no slot
            code, refusal = BANNED, ban.refusal(self.moderation.now())
        else:
            refusal = self.admission.admit(host)
        if refusal is not None:
            log.warning(
                "refused %s: %s",
                address,
                refusal,
                extra={"address": address, "door": door.name, "reason": refusal},
            )
            if tls is None:
                # (A TLS client could not read it: it is refused before its handshake.)
                event_id, ts = self.clock.stamp()
                error = Error(event_id, ts, code, refusal)
                try:
                    await door.refuse(reader, writer, error)
                except (ConnectionError, OSError):
                    pass
                except asyncio.CancelledError:
                    if not self._closing:
                        self._connections.pop(task, None)
                        writer.transport.abort()
                        raise
                    task.uncancel()
            await self._close_connection(task, writer)
            return
        session: S | None = None

        def open_session(transport: Transport) -> S:
            """Start the conversation on the admitted connection (past its TLS handshake)."""
            nonlocal session
            log.info("connection from %s", address, extra={"address": address, "door": door.name})
            tune_socket(writer, self._tuning)
            session = door.open(Peer(transport, address), self)
            self._connections[task] = session
            return session

        reason = "connection closed"
        shaken = False  # past the TLS handshake (or none is needed)
        try:
            if self._closing:
                return
            if tls is not None and not await accept_tls(writer, tls, deadline):
                return
            shaken = True
            await door.converse(
                reader,
                writer,
                deadline=deadline,
                tls=tls is not None,
                open_session=open_session,
                on_read=self._count_received,
            )
            reason = (session.finished if session else None) or "connection closed"
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
            if not shaken:
                # Never past its TLS handshake: accept_tls has cut it already.
                writer.transport.abort()
                del self._connections[task]
            elif session is None:
                # A plain HTTP request, answered (or never sent): let the answer go out.
                await self._close_connection(task, writer)
            else:
                session.end(session.peer.drop_reason or reason)
                self.flood_delays_ended += session.peer.flood_delays
                self.hub.flush(session.peer)
                door.finish(session)
                await self._close_connection(task, writer)
                fields = {"nick": session.peer.nick, "reason": session.finished}
                log.info(
                    "%s closed: %s",
                    address,
                    session.finished,
                    extra={"address": address, "door": door.name, **fields},
                )

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

    def _heard_ban(self, ban: Ban, lifted: bool) -> None:
        self.bans.heard(ban, lifted=lifted)

    def _count_received(self, size: int) -> None:
        self.received_bytes += size

    def _on_drop(self, peer: Peer, reason: str) -> None:
        log.warning(
            "disconnecting %r: %s",
            peer,
            reason,
            extra={"address": peer.address, "nick": peer.nick, "reason": reason},
        )
