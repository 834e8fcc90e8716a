"""The native line protocol's front door: one connection's bytes to its session.

This is where ``nc``, ``telnet`` and ``tcpchat connect`` come in. The bytes of
one connection are cut into lines under the line-length limit
(:class:`~tcpchat.core.protocol.LineSplitter`), paced by flood control, and
handed to the connection's :class:`~tcpchat.core.session.Session` one by one
(flood control is :mod:`tcpchat.server.pacing`, shared with the IRC door).
Everything the session says goes out through the hub, never from here. Other
front doors (IRC, WebSocket) stand beside this module and feed the same
sessions and hub.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tcpchat.config import ServerSettings
from tcpchat.core.errors import LineTooLong
from tcpchat.core.protocol import LineSplitter, looks_like_http, looks_like_tls
from tcpchat.core.session import Session
from tcpchat.server.listener import READ_CHUNK
from tcpchat.server.pacing import Pacer

#: The name of this front door in the log's connection lines (``door``).
FRONT_DOOR = "line"

NOT_A_WEB_SERVER = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
    b"This is a tcpchat chat server, not a web server: connect with `nc HOST PORT` "
    b"or `tcpchat connect`.\n"
)


async def read_lines(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    session: Session,
    settings: ServerSettings,
    *,
    deadline: float,
    tls: bool,
    on_read: Callable[[int], None],
) -> None:
    """Feed ``session`` line by line until it finishes or the peer goes away.

    ``deadline`` (loop time) is when an unregistered connection is closed;
    ``tls`` says whether the connection already speaks TLS; ``on_read`` is told
    how many bytes each read brought (the server's traffic count).
    """
    splitter = LineSplitter(settings.max_line_bytes)
    pacer = Pacer(writer, settings)
    first_line = True
    registration = asyncio.timeout_at(deadline)
    try:
        async with registration:
            data = await reader.read(READ_CHUNK)
            on_read(len(data))
            if looks_like_tls(data) and not tls:
                session.end("TLS handshake on a plain-text port")
                return
            while data:
                for item in splitter.feed(data):
                    if session.peer.drop_reason is not None:
                        return  # cut off by the hub: nothing more of it reaches the room
                    # Over the rate: wait before acting on this line, reading
                    # nothing meanwhile, so TCP pushes back on the flooder.
                    if not await pacer.admit():
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
                on_read(len(data))
    except TimeoutError:
        if not registration.expired():
            raise  # a socket time-out, not ours
        session.error("timeout", "no nickname was chosen in time; closing")
        session.end("registration timed out")
    finally:
        pacer.close()
