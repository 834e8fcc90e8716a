"""The 1:1 chat (task 1): the server's operator and exactly one client, full duplex.

The operator types at a console (the same :class:`~tcpchat.tui.terminal.Frontend`
as the client's) while the client's lines are shown as they arrive; neither
side waits for the other. A second client that connects while a chat is in
progress gets a ``busy`` error, like any other error, and is closed; the chat goes on. When
the client leaves, the operator is told and the server waits for the next one
(or, with ``--once``, exits). The operator's ``/exit`` or Ctrl-C tells the
client and closes everything.

It speaks the multi-client server's protocol: text lines by default, so
``nc`` works, or the JSON-lines rendering after ``/format json``, which is what
``tcpchat connect --task 1`` asks for.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from tcpchat.config import ServerSettings
from tcpchat.core.commands import LEAVE_COMMANDS
from tcpchat.core.errors import LineTooLong, RemoteProtocolError
from tcpchat.core.events import Error, Event, EventClock, Message, Notice, Shutdown
from tcpchat.core.hub import QUEUE_EXCEEDED
from tcpchat.core.protocol import (
    JSON_OPENING_LINE,
    ChatInput,
    CommandInput,
    LineSplitter,
    decode_line,
    parse_received,
)
from tcpchat.core.render import FORMATS, Rendering, encode
from tcpchat.core.sanitize import sanitize_text
from tcpchat.net.streams import close_stream, format_address, listening_port
from tcpchat.net.tls import tls_server_context
from tcpchat.server.line import FRONT_DOOR
from tcpchat.server.listener import READ_CHUNK, accept_tls, start_listening
from tcpchat.tui.display import Fragments, Shown, error_line, own_message, render_event, system_line
from tcpchat.tui.terminal import Frontend

log = logging.getLogger("tcpchat.direct")

#: How the two sides are named in the chat.
OPERATOR_NICK = "operator"
GUEST_NICK = "guest"

#: The error a second client gets while a chat is in progress: its code and its words.
BUSY_CODE = "busy"
BUSY_TEXT = "the operator is already in a 1:1 chat; try again later"
#: Seconds a refused client has to ask for JSON (``tcpchat connect --task 1`` sends
#: ``/format json`` as soon as it connects) before it is closed.
BUSY_FORMAT_WAIT = 1.0

GREETING = (
    "You are connected to the operator of this tcpchat server (1:1 chat). "
    "Type a message and press Enter; /exit leaves."
)
HELP_FOR_GUEST = "In a 1:1 chat every line goes to the operator. /exit leaves the chat."
HELP_FOR_OPERATOR = (
    "Every line goes to the connected client. /exit (or Ctrl-C, Ctrl-D) ends the chat "
    "and stops the server; //text sends a line that starts with '/'."
)
OPERATOR_LEFT = "The operator ended the chat. Goodbye!"


class Guest:
    """The client of the 1:1 chat: its connection, rendering and the reason it ended."""

    def __init__(self, writer: asyncio.StreamWriter, address: str, max_queue_bytes: int) -> None:
        self.writer = writer
        self.address = address
        self.max_queue_bytes = max_queue_bytes
        self.rendering = Rendering.TEXT
        self.task: asyncio.Task[None] | None = None
        self.ended: str | None = None

    def send(self, event: Event) -> None:
        """Write ``event`` without waiting; a client that stopped reading is cut off."""
        transport = self.writer.transport
        if transport.is_closing():
            return
        transport.write(encode(event, self.rendering))
        if transport.get_write_buffer_size() > self.max_queue_bytes:
            self.ended = QUEUE_EXCEEDED
            transport.abort()


class DirectServer:
    """The 1:1 chat server, with its operator's console.

    ``run()`` returns the exit status once the operator leaves (or, with
    ``once``, once the first chat has ended). ``port`` is the real port once
    listening, so tests can ask for port 0.
    """

    def __init__(self, settings: ServerSettings, console: Frontend, *, once: bool = False) -> None:
        self.settings = settings
        self.console = console
        self.once = once
        self.clock = EventClock()
        self.guest: Guest | None = None
        self._listener: asyncio.Server | None = None
        self._tls_context: ssl.SSLContext | None = None
        # The connection in its TLS handshake: it holds the chat's one place meanwhile.
        self._arriving: asyncio.Task[None] | None = None
        self._first_chat_over = asyncio.Event()
        self._closing = False

    @property
    def port(self) -> int:
        return listening_port(self._listener)

    @property
    def address(self) -> str:
        return format_address((self.settings.host, self.port))

    async def start(self) -> None:
        """Bind and start accepting clients."""
        self._tls_context = tls_server_context(self.settings)
        self._listener = await start_listening(self._serve_guest, self.settings, task=1)
        log.info("1:1 chat listening on %s", self.address)
        self._tell_operator(system_line(f"1:1 chat on {self.address}; waiting for a client"))

    async def run(self) -> int:
        """Serve until the operator leaves (or the first chat ends, with ``once``)."""
        if self._listener is None:
            await self.start()
        operator = asyncio.create_task(self._operator_input(), name="tcpchat-operator")
        first_over = asyncio.create_task(self._first_chat_over.wait())
        try:
            await asyncio.wait({operator, first_over}, return_when=asyncio.FIRST_COMPLETED)
            if operator.done():
                operator.result()
            return 0
        finally:
            for task in (operator, first_over):
                task.cancel()
            await asyncio.gather(operator, first_over, return_exceptions=True)
            await self.close()

    async def close(self) -> None:
        """Tell the client the chat is over, stop listening and close every connection."""
        if self._closing:
            return
        self._closing = True
        if self._listener is not None:
            self._listener.close()
        if self._arriving is not None:
            arriving = self._arriving
            arriving.cancel()  # its handshake is cut; the task ends normally
            await asyncio.wait({arriving})
        guest = self.guest
        if guest is not None and guest.task is not None:
            guest.ended = "the operator ended the chat"
            guest.send(Shutdown(*self.clock.stamp(), OPERATOR_LEFT))
            # Closing flushes the goodbye, then the client's reader sees the end and its
            # task cleans up. Cancelling the task instead would make asyncio log it.
            guest.writer.close()
            _, pending = await asyncio.wait({guest.task}, timeout=self.settings.close_timeout)
            if pending:
                guest.writer.transport.abort()
                await asyncio.wait(pending)
        if self._listener is not None:
            await self._listener.wait_closed()
        log.info("1:1 chat closed")

    # -- the operator ------------------------------------------------------------

    async def _operator_input(self) -> None:
        while (line := await self.console.read_line()) is not None:
            parsed = parse_received(line)
            if parsed is None:
                continue
            if isinstance(parsed, CommandInput):
                if parsed.name in LEAVE_COMMANDS:
                    return
                if parsed.name == "help":
                    self._tell_operator(system_line(HELP_FOR_OPERATOR))
                else:
                    name = sanitize_text(parsed.name)[:40]
                    self._tell_operator(error_line(f"unknown command /{name}; try /help"))
                continue
            self._say_to_guest(parsed)

    def _say_to_guest(self, chat: ChatInput) -> None:
        text = sanitize_text(chat.text)
        guest = self.guest
        if guest is None:
            self._tell_operator(error_line("not sent: no client is connected yet"))
            return
        if not text.strip():
            return
        event = Message(*self.clock.stamp(), OPERATOR_NICK, text)
        guest.send(event)
        self._tell_operator(own_message(OPERATOR_NICK, text, event.ts))

    def _tell_operator(self, shown: Shown) -> None:
        self.console.show(shown)
        self.console.refresh()

    # -- the client ----------------------------------------------------------------

    async def _serve_guest(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # From accept to chatting, TLS handshake included: one registration time-out.
        deadline = asyncio.get_running_loop().time() + self.settings.register_timeout
        address = format_address(writer.get_extra_info("peername"))
        if self.guest is not None or self._arriving is not None or self._closing:
            log.info(
                "refused %s: a chat is in progress",
                address,
                extra={"address": address, "door": FRONT_DOOR, "reason": "a chat is in progress"},
            )
            await self._refuse_busy(reader, writer)
            return
        if self._tls_context is not None and not await self._accept_tls(writer, deadline):
            return
        guest = Guest(writer, address, self.settings.max_queue_bytes)
        guest.task = asyncio.current_task()
        self.guest = guest
        log.info("connection from %s", address, extra={"address": address, "door": FRONT_DOOR})
        self._tell_operator(system_line(f"{address} connected; you are chatting with them"))
        try:
            guest.send(Notice(*self.clock.stamp(), GREETING))
            await self._read_guest(reader, guest)
        except (ConnectionError, OSError):
            guest.ended = guest.ended or "connection lost"
        finally:
            reason = guest.ended or "connection closed"
            await close_stream(writer, self.settings.close_timeout)
            log.info(
                "%s left: %s",
                address,
                reason,
                extra={"address": address, "door": FRONT_DOOR, "reason": reason},
            )
            if not self._closing:
                next_step = "exiting" if self.once else "waiting for the next client"
                self._tell_operator(system_line(f"{address} left ({reason}); {next_step}"))
            # Only now may the next client come in: its arrival is never shown before
            # this one's departure. With ``once`` none may: the server is exiting.
            if self.once:
                self._first_chat_over.set()
            else:
                self.guest = None

    async def _accept_tls(self, writer: asyncio.StreamWriter, deadline: float) -> bool:
        """The TLS handshake, holding the chat's place; False if it failed or was cut."""
        assert self._tls_context is not None
        self._arriving = task = asyncio.current_task()
        assert task is not None
        try:
            return await accept_tls(writer, self._tls_context, deadline)
        except asyncio.CancelledError:
            if not self._closing:
                raise
            task.uncancel()  # close() cut the handshake and waits for this task
            return False
        finally:
            self._arriving = None

    async def _refuse_busy(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Tell a second client that the operator is busy, as an error event, and close,
        all within close_timeout.

        Over TLS the handshake comes first (a TLS client could not read the line
        otherwise), in the same time budget. The text rendering goes at once, for
        ``nc``. A client that asks for JSON straight away gets the same error as a
        JSON event too, as it would get the greeting in text and then the chat in JSON.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.close_timeout
        if self._tls_context is not None and not await accept_tls(
            writer, self._tls_context, deadline
        ):
            return
        busy = Error(*self.clock.stamp(), BUSY_CODE, BUSY_TEXT)
        try:
            writer.write(encode(busy, Rendering.TEXT))
            try:
                async with asyncio.timeout(min(BUSY_FORMAT_WAIT, deadline - loop.time())):
                    first_line = await reader.readline()
            except (TimeoutError, ValueError, OSError):  # ValueError: an overlong line
                first_line = b""
            if first_line.rstrip(b"\r\n") == JSON_OPENING_LINE.encode():
                writer.write(encode(busy, Rendering.JSON))
        finally:
            await close_stream(writer, max(deadline - loop.time(), 0.0))

    async def _read_guest(self, reader: asyncio.StreamReader, guest: Guest) -> None:
        splitter = LineSplitter(self.settings.max_line_bytes)
        while data := await reader.read(READ_CHUNK):
            for item in splitter.feed(data):
                if isinstance(item, LineTooLong):
                    guest.send(Error(*self.clock.stamp(), item.code, str(item)))
                    continue
                self._guest_line(guest, item)
                if guest.ended is not None:
                    return
        guest.ended = guest.ended or "connection closed"

    def _guest_line(self, guest: Guest, raw: bytes) -> None:
        """Handle one line from the client: chat for the operator, or a command."""
        try:
            parsed = parse_received(decode_line(raw))
        except RemoteProtocolError as exc:
            guest.send(Error(*self.clock.stamp(), exc.code, str(exc)))
            return
        if parsed is None:
            return
        if isinstance(parsed, ChatInput):
            text = sanitize_text(parsed.text)
            if text.strip():
                event = Message(*self.clock.stamp(), GUEST_NICK, text)
                self._tell_operator(render_event(event, OPERATOR_NICK))
            return
        match parsed.name:
            case name if name in LEAVE_COMMANDS:
                guest.send(Notice(*self.clock.stamp(), "Goodbye!"))
                guest.ended = "quit"
            case "help":
                guest.send(Notice(*self.clock.stamp(), HELP_FOR_GUEST))
            case "format" if parsed.argument.strip().lower() in FORMATS:
                guest.rendering = FORMATS[parsed.argument.strip().lower()]
                guest.send(Notice(*self.clock.stamp(), f"format: {guest.rendering.name.lower()}"))
            case _:
                name = sanitize_text(parsed.name)[:40]
                text = f"/{name} is not available in a 1:1 chat; /help says what is"
                guest.send(Error(*self.clock.stamp(), "unknown_command", text))

    def toolbar(self) -> Fragments:
        """The operator's bottom toolbar: where the chat listens and with whom it is."""
        where = self.address if self._listener is not None else self.settings.host
        who = f"chatting with {self.guest.address}" if self.guest else "waiting for a client"
        style = "class:toolbar.good" if self.guest else "class:toolbar.bad"
        return [("class:toolbar", f" 1:1 chat on {where} | "), (style, who), ("class:toolbar", " ")]
