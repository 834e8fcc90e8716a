"""Listening and accepting: what every server's front door shares, and what a door is.

Each listener speaks plain TCP, even with TLS on: a connection is accepted,
counted against the caps, and only then upgraded with :func:`accept_tls`, so
that a connection that never finishes its handshake still counts, and the
handshake spends the same time budget as registration. What happens after
that is the front door's (:class:`FrontDoor`): the line protocol's, IRC's or
the web's, each feeding a :class:`DoorSession`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from tcpchat.config import ServerSettings, task_port
from tcpchat.core.conversation import Conversation, HistoryService, SearchService
from tcpchat.core.errors import LineTooLong
from tcpchat.core.events import Error, EventClock
from tcpchat.core.hub import Hub, Peer, Transport
from tcpchat.core.moderation import Moderation
from tcpchat.net.sockopts import ConnectionTuning
from tcpchat.net.streams import format_address

log = logging.getLogger("tcpchat.server")

#: Bytes asked of the socket per read. The stream's own buffer is bounded to
#: twice this; past it asyncio stops reading the socket and TCP pushes back.
READ_CHUNK = 64 * 1024


class DoorSession(Conversation, Protocol):
    """A connection's conversation as the server and its front doors drive it.

    :class:`~tcpchat.core.session.Session` (the line and web doors') and
    :class:`~tcpchat.irc.session.IrcSession` (IRC's) both provide it: the
    :class:`~tcpchat.core.conversation.Conversation` that commands, searches
    and moderation act on, fed one input line at a time, saying whether it is
    over (``finished``, the reason), and able to say in its protocol's words
    that registration timed out. What it says goes out through the hub, never
    through the door.
    """

    finished: str | None

    def receive_line(self, raw: bytes | LineTooLong) -> None:
        """Act on one input line, without its line ending, or on news of an overlong one."""

    def registration_timed_out(self) -> None:
        """Say, in the protocol's words, that no nickname came in time; then end."""


class ChatContext(Protocol):
    """What a front door's new conversation is given by the server: hub, clock, services.

    :class:`~tcpchat.server.chat.ChatServer` provides it. ``search``,
    ``history`` and ``moderation`` are None when the server has no such service.
    """

    @property
    def hub(self) -> Hub: ...

    @property
    def clock(self) -> EventClock: ...

    @property
    def search(self) -> SearchService | None: ...

    @property
    def history(self) -> HistoryService | None: ...

    @property
    def moderation(self) -> Moderation | None: ...


#: The conversation a front door opens (its own session type).
S = TypeVar("S", bound=DoorSession)


class FrontDoor(Protocol[S]):
    """One way into the chat: how an admitted connection's bytes reach a session.

    The server accepts, counts the connection against the caps and runs its
    TLS handshake; the door does the rest (:mod:`tcpchat.server.line`,
    :mod:`tcpchat.server.irc`, :mod:`tcpchat.server.web`), feeding its input
    lines through :mod:`tcpchat.server.pacing`. Whatever way it returns, the
    server then ends the session, flushes what the hub owes it, lets the
    door say goodbye (:meth:`finish`) and closes the socket.
    """

    #: The door's name in the log's connection lines (``door``).
    name: str

    async def refuse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, error: Error
    ) -> None:
        """Tell a plain-text connection over the caps why it is closed."""

    def open(self, peer: Peer, chat: ChatContext) -> S:
        """The conversation of a new connection on ``peer``, greeted if the protocol greets."""

    async def converse(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        deadline: float,
        tls: bool,
        open_session: Callable[[Transport], S],
        on_read: Callable[[int], None],
    ) -> None:
        """Serve the connection until it is done.

        ``open_session`` starts the conversation on the transport the hub is
        to write to (the server makes the peer and calls :meth:`open`);
        ``deadline`` is the loop time by which it must have registered;
        ``tls`` whether the connection already speaks TLS; ``on_read`` is told
        how many bytes each read brought (the server's traffic count).
        """

    def finish(self, session: S) -> None:
        """Close the session's conversation the door's way, after its last events."""


async def start_listening(
    serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    settings: ServerSettings,
    *,
    task: int,
    port: int | None = None,
    reuse_port: bool = False,
    tuning: ConnectionTuning | None = None,
) -> asyncio.Server:
    """Listen as ``settings`` say (address and the task's port), serving with ``serve``.

    The listener speaks plain TCP even when TLS is on: ``serve`` runs as soon as a
    connection is accepted and upgrades it with :func:`accept_tls` itself, so that
    a connection is counted against the caps before its handshake, and the
    handshake spends the same time budget as registration. ``port`` overrides
    the task's port (the IRC and HTTP listeners'). ``reuse_port`` sets
    SO_REUSEPORT (Linux): several nodes of one cluster then listen on one
    address, and the kernel spreads new connections over them. ``tuning`` is
    set on the listening sockets, for the connections they accept to inherit.
    """
    if port is None:
        port = task_port(settings.port, task)
    listener = await asyncio.start_server(
        serve, settings.host, port, limit=READ_CHUNK, reuse_port=reuse_port or None
    )
    if tuning is not None:
        for sock in listener.sockets:
            tuning.listen(sock)
    return listener


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


def connection_tuning(settings: ServerSettings) -> ConnectionTuning:
    """The keepalive timings and kernel send buffer ``settings`` ask for each connection."""
    return ConnectionTuning(
        settings.keepalive_idle,
        settings.keepalive_interval,
        settings.keepalive_count,
        settings.send_buffer_bytes,
    )


def tune_socket(writer: asyncio.StreamWriter, tuning: ConnectionTuning) -> None:
    """Give a new connection its keepalive and send buffer (inherited from its listener on
    Linux: then this costs nothing)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        tuning.accepted(sock)
