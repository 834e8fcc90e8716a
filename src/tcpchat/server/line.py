"""The native line protocol's front door: one connection's bytes to its session.

This is where ``nc``, ``telnet`` and ``tcpchat connect`` come in. The bytes of
one connection are cut into lines under the line-length limit
(:class:`~tcpchat.core.protocol.LineSplitter`), and handed one by one to the
connection's :class:`~tcpchat.core.session.Session` at the flood rate
(:mod:`tcpchat.server.pacing`, shared with the other doors). Everything the
session says goes out through the hub, never from here. The IRC door
(:mod:`tcpchat.server.irc`) and the web door (:mod:`tcpchat.server.web`)
stand beside this module and feed the same hub; the web door opens the same
sessions (:func:`native_session`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tcpchat.config import ServerSettings
from tcpchat.core.errors import LineTooLong
from tcpchat.core.events import Error
from tcpchat.core.hub import Peer, Transport
from tcpchat.core.protocol import LineSplitter, looks_like_http, looks_like_tls
from tcpchat.core.render import Rendering, encode
from tcpchat.core.session import Session
from tcpchat.server.listener import READ_CHUNK, ChatContext
from tcpchat.server.pacing import paced_input

#: The name of this front door in the log's connection lines (``door``).
FRONT_DOOR = "line"

NOT_A_WEB_SERVER = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
    b"This is a tcpchat chat server, not a web server: connect with `nc HOST PORT` "
    b"or `tcpchat connect`.\n"
)


class LineDoor:
    """The native line protocol as a :class:`~tcpchat.server.listener.FrontDoor` of ChatServer."""

    name = FRONT_DOOR

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings

    async def refuse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, error: Error
    ) -> None:
        writer.write(encode(error, Rendering.TEXT))

    def open(self, peer: Peer, chat: ChatContext) -> Session:
        return native_session(peer, chat, self.settings)

    async def converse(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        deadline: float,
        tls: bool,
        open_session: Callable[[Transport], Session],
        on_read: Callable[[int], None],
    ) -> None:
        """Feed the session line by line until it finishes or the peer goes away.

        The reading is here, not in a helper coroutine: while a connection is
        idle its whole await stack stays in memory, and each nested frame costs
        every connection a few hundred bytes.
        """
        session = open_session(writer.transport)
        splitter = LineSplitter(self.settings.max_line_bytes)
        first_line = True
        async with paced_input(session, self.settings, writer, deadline) as intake:
            data = await reader.read(READ_CHUNK)
            on_read(len(data))
            if looks_like_tls(data) and not tls:
                session.end("TLS handshake on a plain-text port")
                return
            while data:
                for item in splitter.feed(data):
                    if first_line and not isinstance(item, LineTooLong):
                        first_line = False
                        if looks_like_http(item):
                            session.peer.transport.write(NOT_A_WEB_SERVER)
                            session.end("HTTP request on a chat port")
                            return
                    if not await intake.deliver(item):
                        return
                # read() returns at once while the stream holds data, so yield
                # here: one client's burst must not keep the loop from the
                # others, nor from flushing what this chunk queued for them.
                await asyncio.sleep(0)
                data = await reader.read(READ_CHUNK)
                on_read(len(data))

    def finish(self, session: Session) -> None:
        """Nothing to add: the line protocol ends by closing the socket."""


def native_session(peer: Peer, chat: ChatContext, settings: ServerSettings) -> Session:
    """A new connection's conversation in tcpchat's own protocol, greeted.

    It speaks ``peer``'s rendering (text unless the door set another).
    """
    session = Session(
        peer,
        chat.hub,
        chat.clock,
        search=chat.search,
        history=chat.history,
        password=settings.password,
        max_line_bytes=settings.max_line_bytes,
        rules=settings.room_rules,
        moderation=chat.moderation,
    )
    session.greet()
    return session
