"""IRC's front door: one IRC connection's bytes to its session, and the liveness checks.

A sibling of :mod:`tcpchat.server.line`. :class:`~tcpchat.server.chat.ChatServer`
accepts, admits (the same caps, before any TLS handshake) and closes IRC
connections exactly as native ones; here the bytes are cut into lines under
IRC's limits (:func:`~tcpchat.irc.message.line_splitter`: a line past them is
thrown away whole, never read as a command) and handed to the connection's
:class:`~tcpchat.irc.session.IrcSession` through the same intake as the other
doors' (:mod:`tcpchat.server.pacing`: flood control, the registration
deadline). Everything the session says goes out through the hub. A
registered client that falls silent is sent ``PING``; one that stays silent
as long again is disconnected.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from tcpchat import __version__
from tcpchat.config import ServerSettings
from tcpchat.core.events import Error
from tcpchat.core.hub import Peer, Transport
from tcpchat.core.protocol import looks_like_tls
from tcpchat.core.rooms import MAX_AWAY_CHARS, MAX_ROOM_NAME_CHARS
from tcpchat.irc.message import line_splitter
from tcpchat.irc.registration import ServerInfo
from tcpchat.irc.render import IrcEncoder
from tcpchat.irc.session import IrcSession
from tcpchat.server.listener import READ_CHUNK, ChatContext
from tcpchat.server.pacing import paced_input

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
    """IRC as a :class:`~tcpchat.server.listener.FrontDoor` of ChatServer.

    One per server, made only when an IRC port is set, for both IRC listeners
    (plain and TLS). It also holds the hub's encoder, which writes IRC.
    """

    name = FRONT_DOOR

    def __init__(self, settings: ServerSettings, created: str) -> None:
        self.settings = settings
        self.info = server_info(settings, created)
        #: The hub's encoder: the core's text and JSON, and IRC for IRC members.
        self.encoder = IrcEncoder(self.info.name)

    async def refuse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, error: Error
    ) -> None:
        """What a connection refused at admission reads: IRC's last line, ``ERROR``."""
        writer.write(f"ERROR :Closing link: {error.text}\r\n".encode())

    def open(self, peer: Peer, chat: ChatContext) -> IrcSession:
        """The conversation of a new IRC connection (nothing is said until the client speaks).

        History reaches it through the hub's replay on JOIN; the history
        commands are the native protocol's.
        """
        return IrcSession(
            peer,
            chat.hub,
            chat.clock,
            self.info,
            search=chat.search,
            password=self.settings.password or None,
            rules=self.settings.room_rules,
            moderation=chat.moderation,
        )

    async def converse(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        deadline: float,
        tls: bool,
        open_session: Callable[[Transport], IrcSession],
        on_read: Callable[[int], None],
    ) -> None:
        session = open_session(writer.transport)
        await read_irc_lines(
            reader, writer, session, self.settings, deadline=deadline, tls=tls, on_read=on_read
        )

    def finish(self, session: IrcSession) -> None:
        """Nothing to add: IRC's last word, ``ERROR``, was the session's to say."""


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
    interval = settings.irc_ping_interval
    tokens = itertools.count(1)
    pinged = False
    first_read = True
    async with paced_input(session, settings, writer, deadline) as intake:
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
                data = await reader.read(READ_CHUNK)  # by the registration deadline
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
                if not await intake.deliver(item):
                    return
            # One client's burst must not keep the loop from the others (see line.py).
            await asyncio.sleep(0)
