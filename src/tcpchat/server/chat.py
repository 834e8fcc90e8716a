"""The multi-client chat server: its listener, its connections, its hub.

:class:`ChatServer` owns everything a running chat needs: the hub, the event
clock, the connection caps, the search service, and one task per connection.
Each connection coroutine admits the connection, shakes hands (TLS), opens a
:class:`~tcpchat.core.session.Session` and hands the socket to the front door
that reads it: the native line protocol (:mod:`tcpchat.server.line`) on the
main port, IRC (:mod:`tcpchat.server.irc`) on the IRC ports when they are set.
Writing is the hub's job. Whatever
way a connection ends, its ``finally`` takes it out of the room, flushes what
it was owed and closes the socket.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeAlias

from tcpchat.config import HistorySettings, ServerSettings
from tcpchat.core.admission import Admission
from tcpchat.core.conversation import SearchService
from tcpchat.core.events import Error, EventClock, Shutdown
from tcpchat.core.hub import Peer
from tcpchat.core.moderation import Moderation
from tcpchat.core.render import Encoder, Rendering, encode
from tcpchat.core.session import Session
from tcpchat.net.streams import close_stream, format_address, listening_port
from tcpchat.net.tls import tls_server_context
from tcpchat.server.history import RoomHistory
from tcpchat.server.line import FRONT_DOOR, read_lines
from tcpchat.server.listener import READ_CHUNK, accept_tls, start_listening, tune_socket
from tcpchat.server.local_hub import LocalHub
from tcpchat.server.moderation import BANNED, SWEEP_INTERVAL, BanRecorder
from tcpchat.store.base import Store

if TYPE_CHECKING:
    from tcpchat.irc.session import IrcSession
    from tcpchat.server.irc import IrcDoor

log = logging.getLogger("tcpchat.server")

#: A connection's conversation, whichever front door it came in by.
AnySession: TypeAlias = "Session | IrcSession"


@dataclass(frozen=True)
class FrontDoor:
    """How one listener's connections are spoken to: its protocol, and TLS or not.

    ``refusal`` words a refusal at admission (an error code and a reason) for the
    protocol; ``open`` starts the conversation on a peer past its TLS handshake; ``read`` feeds that
    session from the socket until it ends (:func:`~tcpchat.server.line.read_lines`
    or :func:`~tcpchat.server.irc.read_irc_lines`).
    """

    name: str
    tls: ssl.SSLContext | None
    refusal: Callable[[str, str], bytes]
    open: Callable[[Peer], AnySession]
    read: Callable[..., Awaitable[None]]


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
        history: HistorySettings | None = None,
        store: Store | None = None,
        sweep_interval: float = SWEEP_INTERVAL,
    ) -> None:
        self.settings = settings
        self.search = search
        self.clock = EventClock()
        # IRC is loaded only when an IRC port is set: a server without it never pays for it.
        self._irc: IrcDoor | None = None
        wire: Encoder = encode
        if settings.irc_port is not None or settings.irc_tls_port is not None:
            from tcpchat.server.irc import IrcDoor

            created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            self._irc = IrcDoor(settings, created)
            wire = self._irc.encoder
        #: The rooms' history (docs/history.md); None without history settings or with
        #: --no-history. Its hub records what rooms say and replays it to joiners.
        self.history: RoomHistory | None = None
        self.hub: LocalHub
        if history is not None and history.history:
            self.history = RoomHistory(history, settings.room_rules)
            self.history.search = search
            self.hub = self.history.hub(settings.max_queue_bytes, self._on_drop, wire)
        else:
            self.hub = LocalHub(
                settings.max_queue_bytes,
                on_drop=self._on_drop,
                rules=settings.room_rules,
                encode=wire,
            )
        self._listener: asyncio.Server | None = None
        # The IRC listeners, plain (False) and TLS (True), when their ports are set.
        self._irc_listeners: dict[bool, asyncio.Server] = {}
        self._tls_context: ssl.SSLContext | None = None
        # Every connection task, with its session (None while being refused).
        self._connections: dict[asyncio.Task[None], AnySession | None] = {}
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

    @property
    def irc_port(self) -> int:
        """The real port of the IRC listener (``--irc-port``); it must be on."""
        return listening_port(self._irc_listeners.get(False))

    @property
    def irc_tls_port(self) -> int:
        """The real port of the IRC-over-TLS listener (``--irc-tls-port``); it must be on."""
        return listening_port(self._irc_listeners.get(True))

    def sessions(self) -> list[AnySession]:
        """The sessions of the connections open now, registered or not, of every front door."""
        return [session for session in self._connections.values() if session is not None]

    @property
    def tls(self) -> bool:
        """Whether this server speaks TLS (``--tls-cert`` and ``--tls-key`` were given)."""
        return bool(self.settings.tls_cert)

    async def start(self) -> None:
        """Bind and start accepting connections.

        Raises OSError (ssl.SSLError among them) for certificate files that cannot
        be used, OSError when it cannot bind, and StoreError (naming the file) for a
        history database that cannot be used: all before it listens.
        """
        self._tls_context = tls_server_context(self.settings)
        if self.history is not None:
            # The clock starts above every id the history file has ever handed out.
            self.clock = await self.history.open()
            if self.bans.store is None:
                # Bans are kept in the history store (docs/history.md), beside the rooms.
                self.bans.store = self.history.store
        try:
            await self.bans.start(self.moderation)
            self._listener = await start_listening(self._serve_connection, self.settings, task=2)
        except BaseException:
            await self.bans.aclose()
            await self._close_history()
            raise
        log.debug("listening on %s%s", self.address, " (TLS)" if self.tls else "")
        await self._start_irc()

    async def _start_irc(self) -> None:
        """Listen for IRC on ``--irc-port`` and ``--irc-tls-port``, whichever are set."""
        irc = self._irc
        if irc is None:
            return
        from tcpchat.server.irc import read_irc_lines

        for port, tls in ((self.settings.irc_port, False), (self.settings.irc_tls_port, True)):
            if port is None:
                continue
            door = FrontDoor(
                irc.name,
                self._tls_context if tls else None,
                irc.refusal,
                self._irc_session,
                read_irc_lines,
            )
            serve = functools.partial(self._serve_connection, door=door)
            self._irc_listeners[tls] = await asyncio.start_server(
                serve, self.settings.host, port, limit=READ_CHUNK
            )
            log.debug(
                "IRC%s on port %d",
                " over TLS" if tls else "",
                listening_port(self._irc_listeners[tls]),
            )

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
        for listener in self._irc_listeners.values():
            listener.close()
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
        for listener in self._irc_listeners.values():
            await listener.wait_closed()
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
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        door: FrontDoor | None = None,
    ) -> None:
        """One connection, from admission to its socket closed; ``door`` None is the native one."""
        if door is None:
            door = FrontDoor(
                FRONT_DOOR, self._tls_context, self._text_refusal, self._native_session, read_lines
            )
        tls_context = door.tls
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
            if tls_context is None:
                # (A TLS client could not read it: it is refused before its handshake.)
                writer.write(door.refusal(code, refusal))
            await self._close_connection(task, writer)
            return
        session: AnySession | None = None
        reason = "connection closed"
        try:
            if self._closing:
                return
            if tls_context is not None and not await accept_tls(writer, tls_context, deadline):
                return
            session = self._open_session(task, writer, address, door)
            await door.read(
                reader,
                writer,
                session,
                self.settings,
                deadline=deadline,
                tls=tls_context is not None,
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
                    extra={"address": address, "door": door.name, **fields},
                )

    def _text_refusal(self, code: str, reason: str) -> bytes:
        """A refusal at admission as a native client reads it: an error with ``code``."""
        event_id, ts = self.clock.stamp()
        return encode(Error(event_id, ts, code, reason), Rendering.TEXT)

    def _open_session(
        self, task: asyncio.Task[None], writer: asyncio.StreamWriter, address: str, door: FrontDoor
    ) -> AnySession:
        """Start the conversation on an admitted connection (past its TLS handshake)."""
        log.info("connection from %s", address, extra={"address": address, "door": door.name})
        tune_socket(writer, self.settings)
        session = self._connections[task] = door.open(Peer(writer.transport, address))
        return session

    def _native_session(self, peer: Peer) -> Session:
        session = Session(
            peer,
            self.hub,
            self.clock,
            search=self.search,
            history=self.history,
            password=self.settings.password,
            max_line_bytes=self.settings.max_line_bytes,
            rules=self.hub.rules,
            moderation=self.moderation,
        )
        session.greet()
        return session

    def _irc_session(self, peer: Peer) -> IrcSession:
        assert self._irc is not None
        return self._irc.open(peer, self.hub, self.clock, self.search, self.moderation)

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
