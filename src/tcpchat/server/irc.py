"""IRC's front door: one IRC connection's bytes to its session, and the liveness checks.

A sibling of :mod:`tcpchat.server.line`. :class:`~tcpchat.server.chat.ChatServer`
accepts, admits (the same caps, before any TLS handshake) and closes IRC
connections exactly as native ones; here the bytes are cut into lines under
IRC's limits (:func:`~tcpchat.irc.message.line_splitter`: a line past them is
thrown away whole, never read as a command), paced by the same flood control
(:mod:`tcpchat.server.pacing`) and handed to the connection's
:class:`~tcpchat.irc.session.IrcSession`. Everything the session says goes
out through the hub. A registered client that falls silent is sent ``PING``;
one that stays silent as long again is disconnected.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from tcpchat import __version__
from tcpchat.config import ServerSettings
from tcpchat.core.conversation import SearchService
from tcpchat.core.events import EventClock
from tcpchat.core.hub import Hub, Peer
from tcpchat.core.moderation import Moderation
from tcpchat.core.protocol import looks_like_tls
from tcpchat.core.rooms import MAX_AWAY_CHARS, MAX_ROOM_NAME_CHARS
from tcpchat.irc.message import line_splitter
from tcpchat.irc.registration import ServerInfo
from tcpchat.irc.render import IrcEncoder
from tcpchat.irc.session import IrcSession
from tcpchat.server.listener import READ_CHUNK
from tcpchat.server.pacing import Pacer

#: The name of this front door in the log's connection lines (``door``).
FRONT_DOOR = "irc"

#: The message of the day: what an IRC user needs to know that IRC does not say.
MOTD = (
    "Welcome to tcpchat over IRC. Channels are tcpchat's rooms, shared with",
    "users of nc and tcpchat connect. Everyone meets in the default room:",
    "  /join {room}",
    "Ask the AI in a channel with: !search QUESTION (the channel sees the answer),",
    "or privately with: /msg AI QUESTION (only you see it).",
)


class IrcDoor:
    """What the server needs to open its IRC door: the encoder, the refusal, the sessions.

    One per server, made only when an IRC port is set.
    """

    name = FRONT_DOOR

    def __init__(self, settings: ServerSettings, created: str) -> None:
        self.settings = settings
        self.info = server_info(settings, created)
        #: The hub's encoder: the core's text and JSON, and IRC for IRC members.
        self.encoder = IrcEncoder(self.info.name)

    def refusal(self, code: str, reason: str) -> bytes:
        """What a connection refused at admission reads: IRC's last line, ``ERROR``
        (IRC has no code for it: the reason says it)."""
        return f"ERROR :Closing link: {reason}\r\n".encode()

    def open(
        self,
        peer: Peer,
        hub: Hub,
        clock: EventClock,
        search: SearchService | None,
        moderation: Moderation | None = None,
    ) -> IrcSession:
        """The conversation of a new IRC connection (nothing is said until the client speaks)."""
        return IrcSession(
            peer,
            hub,
            clock,
            self.info,
            search=search,
            password=self.settings.password or None,
            rules=self.settings.room_rules,
            moderation=moderation,
        )


def server_info(settings: ServerSettings, created: str) -> ServerInfo:
    """What IRC clients are told about this server, from its settings."""
    rules = settings.room_rules
    return ServerInfo(
        name=settings.irc_server_name,
        version=f"tcpchat-{__version__}",
        created=created,
        max_topic_chars=rules.max_topic_chars,
        max_rooms_per_member=rules.max_rooms_per_member,
        max_room_name_chars=MAX_ROOM_NAME_CHARS,
        max_away_chars=MAX_AWAY_CHARS,
        motd=tuple(line.format(room=rules.default_room) for line in MOTD),
    )


async def read_irc_lines(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    session: IrcSession,
    settings: ServerSettings,
    *,
    deadline: float,
    tls: bool,
    on_read: Callable[[int], None],
) -> None:
    """Feed ``session`` line by line until it finishes or the peer goes away.

    ``deadline`` (loop time) is when an unregistered connection is closed; once
    registered, silence is met with ``PING`` after ``irc_ping_interval`` seconds,
    and the connection is closed after as many again.
    """
    splitter = line_splitter()
    pacer = Pacer(writer, settings)
    loop = asyncio.get_running_loop()
    interval = settings.irc_ping_interval
    tokens = itertools.count(1)
    pinged = False
    first_read = True
    try:
        while True:
            if session.registered:
                # Silence: a PING first, then, if that goes unanswered, the end.
                try:
                    async with asyncio.timeout(interval):
                        data = await reader.read(READ_CHUNK)
                except TimeoutError:
                    if pinged:
                        session.close_with(f"Ping timeout: {round(2 * interval)} seconds")
                        return
                    pinged = True
                    session.ping(f"tcpchat-{next(tokens)}")
                    continue
            else:
                try:
                    async with asyncio.timeout_at(deadline):
                        data = await reader.read(READ_CHUNK)
                except TimeoutError:
                    session.close_with("registration timed out")
                    return
            on_read(len(data))
            if not data:
                return
            pinged = False
            if first_read:
                first_read = False
                if looks_like_tls(data) and not tls:
                    session.end("TLS handshake on a plain-text port")
                    return
            for item in splitter.feed(data):
                if session.peer.drop_reason is not None:
                    return  # cut off by the hub: nothing more of it reaches the room
                if not await pacer.admit():
                    session.end(session.peer.drop_reason or "connection lost")
                    return
                session.receive_line(item)
                if session.finished is not None:
                    return
            # One client's burst must not keep the loop from the others (see line.py).
            await asyncio.sleep(0)
            if not session.registered and loop.time() >= deadline:
                session.close_with("registration timed out")
                return
    finally:
        pacer.close()
