"""The web front door: the web client's page, and ``/ws``, where a browser joins the chat.

The HTTP listener (``--http-port``) is a sibling of the line protocol's: the
server accepts, counts the connection against the same caps and runs the TLS
handshake (:mod:`tcpchat.server.listener`); then this door reads one HTTP
request and answers it from the route table (:mod:`tcpchat.server.http`), or,
at ``/ws``, checks the ``Origin`` and upgrades to a WebSocket.

A WebSocket is a session like any other. It speaks the JSON-lines protocol
(docs/protocol.md) with the framing changed: every event the server sends is
one text frame holding one JSON object, and every text frame the browser
sends is one input line. The lines go through the same
:class:`~tcpchat.server.pacing.Intake` as the line protocol's (flood control,
registration time-out), a frame over the line limit gets the same
``line_too_long`` error, and a binary frame closes the connection with 1003.

The hub writes to a :class:`FrameTransport`, which writes straight to the
socket, without awaiting: the hub's fan-out and its send-queue bound work
unchanged, because the socket's write buffer is still the member's outbound
queue. The bytes are frames already: a WebSocket member's rendering is
``Rendering.WEBSOCKET``, in which the hub encodes each event as one text frame
(:mod:`tcpchat.core.frames`), once per event for every browser in the room,
since frames from a server are not masked.

websockets' Sans-I/O protocol (:class:`websockets.server.ServerProtocol`)
parses the request and the frames and answers pings and close frames; this
module only moves bytes between it and the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
from collections.abc import Callable

from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import OPEN
from websockets.server import ServerProtocol
from websockets.typing import Origin

from tcpchat.config import ServerSettings
from tcpchat.core.errors import LineTooLong
from tcpchat.core.events import Error
from tcpchat.core.hub import Peer, Transport
from tcpchat.core.protocol import line_too_long
from tcpchat.core.render import Rendering
from tcpchat.core.session import Session
from tcpchat.net.streams import format_address
from tcpchat.server.http import Routes, page_routes, request_path, respond_text
from tcpchat.server.line import native_session
from tcpchat.server.listener import READ_CHUNK, ChatContext
from tcpchat.server.moderation import BANNED
from tcpchat.server.pacing import Intake, paced_input

log = logging.getLogger("tcpchat.server")

#: The name of this front door in the log's connection lines (``door``).
FRONT_DOOR = "web"

#: Where the browser opens its WebSocket.
WEBSOCKET_PATH = "/ws"

#: Seconds a connection has to send its HTTP request (within the registration
#: time-out): browsers open spare connections they may never use.
REQUEST_TIMEOUT = 10.0

#: Seconds a connection refused for the caps is read from before it is closed,
#: so that its request is not left unread (which would reset it).
REFUSAL_LINGER = 1.0

#: A WebSocket message up to this many times the line limit is read whole and
#: answered with ``line_too_long``; a larger one closes the connection with
#: 1009 (message too big), since it must be held in memory to be read.
MESSAGE_LIMIT_FACTOR = 4
#: The least of that hard limit, for small line limits.
MIN_MESSAGE_LIMIT = 64 * 1024

#: The longest close reason a close frame can hold, in bytes.
MAX_CLOSE_REASON = 123

BINARY_REFUSED = "binary frames are not accepted: send each line as a text frame"


class FrameTransport:
    """The hub's transport for a WebSocket member: the socket's, behind the close handshake.

    It has the four methods of :class:`~tcpchat.core.hub.Transport`. What the
    hub writes is text frames already (the member's rendering is
    ``Rendering.WEBSOCKET``), so :meth:`write` hands the bytes to the socket
    as they are. ``get_write_buffer_size()`` is the socket's own, so a member
    who does not read is cut off at the same bound as on the line protocol.
    Once the close handshake has begun nothing more is written.
    """

    __slots__ = ("_transport", "protocol")

    def __init__(self, transport: asyncio.WriteTransport, protocol: ServerProtocol) -> None:
        self._transport = transport
        self.protocol = protocol

    def write(self, data: bytes) -> None:
        """Write ``data``, whole text frames from the hub, unless the close has begun."""
        if self.protocol.state is OPEN:
            self._transport.write(data)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def abort(self) -> None:
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def close(self, code: CloseCode, reason: str) -> None:
        """Start the closing handshake (if nobody has) with ``code`` and ``reason``."""
        if self.protocol.state is OPEN and not self._transport.is_closing():
            cut = reason.encode()[:MAX_CLOSE_REASON].decode(errors="ignore")
            self.protocol.send_close(code, cut)
            send_pending(self.protocol, self._transport)


class WebDoor:
    """The HTTP listener's door (a :class:`~tcpchat.server.listener.FrontDoor`).

    ``routes`` are the plain HTTP routes (by default the web client's files);
    ``/ws`` is always the WebSocket.
    """

    name = FRONT_DOOR

    def __init__(self, settings: ServerSettings, routes: Routes | None = None) -> None:
        self.settings = settings
        self.routes = routes or Routes(page_routes())
        self.allowed_origins = settings.allowed_origins
        self.message_limit = max(settings.max_line_bytes * MESSAGE_LIMIT_FACTOR, MIN_MESSAGE_LIMIT)

    async def refuse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, error: Error
    ) -> None:
        """Answer 503 with the reason (403 for a banned address), then read a little of the request.

        Closing with the request unread would reset the connection, and the
        browser could lose the answer; so the server reads what comes within
        :data:`REFUSAL_LINGER` seconds, up to one read, and then closes.
        """
        banned = error.code == BANNED  # for good, as far as this browser knows: not 503
        status = http.HTTPStatus.FORBIDDEN if banned else http.HTTPStatus.SERVICE_UNAVAILABLE
        response = respond_text(status, error.text + "\n")
        writer.write(response.serialize())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(REFUSAL_LINGER):
                await reader.read(READ_CHUNK)

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
        protocol = ServerProtocol(max_size=self.message_limit, logger=log)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(min(deadline, loop.time() + REQUEST_TIMEOUT)):
                request = await read_request(reader, protocol, on_read)
        except TimeoutError:
            return
        if request is None:  # gone, or not HTTP: websockets has its 400 ready
            send_pending(protocol, writer.transport)
            return
        if request_path(request) != WEBSOCKET_PATH:
            protocol.send_response(self.routes.respond(request))
            send_pending(protocol, writer.transport)
            return
        response = self._handshake(protocol, request, tls)
        protocol.send_response(response)
        send_pending(protocol, writer.transport)
        if response.status_code != http.HTTPStatus.SWITCHING_PROTOCOLS:
            address = format_address(writer.get_extra_info("peername"))
            log.info("%s: WebSocket refused (%s)", address, protocol.handshake_exc)
            return
        transport = FrameTransport(writer.transport, protocol)
        session = open_session(transport)
        async with paced_input(session, self.settings, writer, deadline) as intake:
            await self._read_frames(reader, writer, protocol, intake, on_read)

    def open(self, peer: Peer, chat: ChatContext) -> Session:
        """A native session that speaks JSON only, one event a frame (greeted in JSON).

        Its wire rendering is then ``Rendering.WEBSOCKET``: everything the hub
        writes to it, replies and replayed history included, is text frames.
        """
        peer.rendering = Rendering.JSON
        peer.json_only = True
        return native_session(peer, chat, self.settings)

    def finish(self, session: Session) -> None:
        transport = session.peer.transport
        if isinstance(transport, FrameTransport):
            reason = session.finished or "connection closed"
            going = reason == "server shutting down"
            transport.close(CloseCode.GOING_AWAY if going else CloseCode.NORMAL_CLOSURE, reason)

    def _handshake(self, protocol: ServerProtocol, request: Request, tls: bool) -> Response:
        """The answer to a WebSocket handshake: 101, or 403 for an origin not allowed."""
        own = own_origin(request, tls)
        # None: no Origin header, so not a browser, and no page of another site.
        allowed = [*([own] if own else []), *self.allowed_origins]
        protocol.origins = [None, *(Origin(origin) for origin in allowed)]
        return protocol.accept(request)

    async def _read_frames(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        protocol: ServerProtocol,
        intake: Intake,
        on_read: Callable[[int], None],
    ) -> None:
        """Hand each text message to the session as one line, until either side closes."""
        session = intake.session
        message = bytearray()
        too_long = False
        max_line = self.settings.max_line_bytes
        while True:
            for frame in protocol.events_received():
                if not isinstance(frame, Frame):
                    continue
                if frame.opcode is Opcode.BINARY:
                    protocol.fail(CloseCode.UNSUPPORTED_DATA, BINARY_REFUSED)
                    send_pending(protocol, writer.transport)
                    session.end("binary frame")
                    return
                if frame.opcode not in (Opcode.TEXT, Opcode.CONT):
                    continue  # ping, pong and close: the protocol answers them
                if frame.opcode is Opcode.TEXT:
                    message.clear()
                    too_long = False
                if len(message) + len(frame.data) > max_line + 2:  # + an optional \r\n
                    too_long = True
                    message.clear()
                elif not too_long:
                    message += frame.data
                if not frame.fin:
                    continue
                line = bytes(message).removesuffix(b"\n").removesuffix(b"\r")
                item: bytes | LineTooLong = line
                if too_long or len(line) > max_line:
                    item = line_too_long(max_line)
                message.clear()
                if not await intake.deliver(item):
                    return
            send_pending(protocol, writer.transport)
            if protocol.state is not OPEN:
                close = protocol.close_sent
                if close is not None and close.code == CloseCode.MESSAGE_TOO_BIG:
                    session.end("message too big")
                return
            # As the line door does: one connection's burst must not hold the loop.
            await asyncio.sleep(0)
            data = await reader.read(READ_CHUNK)
            on_read(len(data))
            if not data:
                protocol.receive_eof()
                return
            protocol.receive_data(data)


async def read_request(
    reader: asyncio.StreamReader, protocol: ServerProtocol, on_read: Callable[[int], None]
) -> Request | None:
    """Read until ``protocol`` has parsed an HTTP request; None if it never will."""
    while True:
        for event in protocol.events_received():
            if isinstance(event, Request):
                return event
        if protocol.handshake_exc is not None:
            return None
        data = await reader.read(READ_CHUNK)
        on_read(len(data))
        if not data:
            return None
        protocol.receive_data(data)


def send_pending(protocol: ServerProtocol, transport: asyncio.WriteTransport) -> None:
    """Write what ``protocol`` has to send (its end-of-stream mark is the server's to act on)."""
    for chunk in protocol.data_to_send():
        if chunk and not transport.is_closing():
            transport.write(chunk)


def own_origin(request: Request, tls: bool) -> str | None:
    """The origin of the page this server served to the browser that sent ``request``."""
    hosts = request.headers.get_all("Host")
    if len(hosts) != 1 or not hosts[0].strip():
        return None
    return f"{'https' if tls else 'http'}://{hosts[0].strip().lower()}"
