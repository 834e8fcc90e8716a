"""The network side of ``tcpchat connect``: one chat client, full duplex, reconnecting.

:class:`ChatClient` connects, switches the connection to the JSON-lines
rendering (skipping the text greeting until the server's ``format: json``
notice), registers a nickname, then runs two tasks at once: one receives
events and shows them, the other sends what the user types. Neither waits for
the other. When the server goes away it says so and exits non-zero, or, with
``--reconnect``, waits with exponential backoff, connects again and re-registers.

The user's lines come from a :class:`~tcpchat.tui.terminal.Frontend` through one
queue, so lines typed before the connection is ready are sent, in order, as
soon as it is. A line typed as chat is never taken for a nickname: once the
user has a nickname (``--nick``, or the one held before a reconnect), a taken
one is replaced by a fallback the client picks itself (:func:`fallback_nicks`),
and a question it must still ask is answered only by lines typed after it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import ssl
from collections.abc import Awaitable
from typing import TypeVar

from tcpchat.client.chatstate import ChatState, Link
from tcpchat.client.connection import (
    LEAVE_TIMEOUT,
    Backoff,
    Connection,
    describe_network_error,
    open_connection,
    read_event,
    switch_to_json,
)
from tcpchat.client.linesplit import fit_line, utf8_length
from tcpchat.config import ClientSettings, task_port
from tcpchat.core.commands import LEAVE_COMMANDS
from tcpchat.core.errors import ConnectionLost, NickTaken
from tcpchat.core.events import Error, Message, NickChange, Notice, Shutdown, Welcome, utc_now
from tcpchat.core.nicks import MAX_NICK_LENGTH, nick_key
from tcpchat.core.password import PASSWORD_REQUIRED, PASSWORD_WRONG
from tcpchat.core.protocol import ChatInput, CommandInput, parse_input
from tcpchat.core.rooms import is_room_name, room_key
from tcpchat.tui.display import (
    Shown,
    client_help,
    error_line,
    in_room,
    own_action,
    own_message,
    render_event,
    system_line,
)
from tcpchat.tui.terminal import Frontend

log = logging.getLogger("tcpchat.client")

T = TypeVar("T")

#: Lines that may wait for the connection to be ready. More typed at a terminal are
#: refused; from a pipe, stdin is not read until there is room.
MAX_QUEUED_LINES = 100

#: Other nicknames tried, one after another, when the user's own is taken at a
#: reconnection (the server may still hold the dead connection) or in piped mode.
MAX_FALLBACK_NICKS = 10

#: Shown once when the client exits because its server went away.
RECONNECT_HINT = "(tcpchat connect --reconnect waits for the server and comes back instead)"


def outgoing(
    line: str, nick: str | None, state: ChatState | None = None
) -> tuple[str | None, Shown | None]:
    """What to send for one typed line, and what to show for it, if anything.

    Chat lines, ``/me`` actions and ``/msg #room`` lines are shown as sent,
    because the server does not echo them; a ``/msg #room`` line is marked with
    its room unless it is the current one (as ``state`` knows), and shown only
    for one of the user's rooms (for another, the server's error says why).
    ``/format`` stays local: the client needs the JSON rendering.
    """
    parsed = parse_input(line)
    if parsed is None:
        return None, None
    shown_as = nick or "me"
    if isinstance(parsed, ChatInput):
        return line, own_message(shown_as, parsed.text)
    assert isinstance(parsed, CommandInput)
    if parsed.name == "format":
        return None, error_line("/format is not available here: this client needs JSON")
    if parsed.name == "me" and parsed.argument.strip():
        return line, own_action(shown_as, parsed.argument)
    if parsed.name == "msg" and state is not None:
        target, _, text = parsed.argument.partition(" ")
        view = state.room(target) if is_room_name(target) else None
        if view is not None and text.strip():
            shown = own_message(shown_as, text.strip())
            mark = state.room_mark(Message(0, utc_now(), shown_as, text, view.name))
            return line, in_room(shown, mark) if mark else shown
    return line, None


def is_leave(line: str) -> bool:
    """Whether ``line`` is ``/exit`` or ``/quit``."""
    parsed = parse_input(line)
    return isinstance(parsed, CommandInput) and parsed.name in LEAVE_COMMANDS


def too_long(line: str, limit: int, interactive: bool) -> str:
    """Why an overlong command was not sent, in words for the user."""
    again = "; Up brings it back" if interactive else ""
    return (
        f"not sent: that line is {utf8_length(line):,} bytes and the server takes {limit:,}; "
        f"only messages, /me and /msg are cut to fit{again}"
    )


def is_help(line: str) -> bool:
    """Whether ``line`` is ``/help``, which the client answers itself."""
    parsed = parse_input(line)
    return isinstance(parsed, CommandInput) and parsed.name == "help"


def fallback_nicks(nick: str, count: int = MAX_FALLBACK_NICKS) -> list[str]:
    """Nicknames to try when ``nick`` is taken: ``alice_``, ``alice__``, ``alice2`` …

    Each is cut to fit :data:`~tcpchat.core.nicks.MAX_NICK_LENGTH` with its suffix.
    """
    suffixes = ["_", "__", *(str(number) for number in range(2, count))][:count]
    return [nick[: MAX_NICK_LENGTH - len(suffix)] + suffix for suffix in suffixes]


def typed_lines(typed: str) -> list[str]:
    """The lines of what was typed or pasted: split at ``\n`` only, a trailing ``\r`` cut.

    Not ``str.splitlines()``: a message holding U+2028, ``\x0b`` or a lone ``\r``
    stays one message (the server drops those characters), so a line like
    ``"a\u2028/exit"`` can never turn into a command.
    """
    return [line.removesuffix("\r") for line in typed.split("\n")]


def nick_from(line: str) -> str:
    """The nickname a user typed when asked for one (``alice`` or ``/nick alice``)."""
    parsed = parse_input(line)
    if isinstance(parsed, CommandInput) and parsed.name == "nick":
        return parsed.argument
    return line.strip()


class ChatClient:
    """One user's client: the connection loop, the receiving task and the sending task.

    ``direct`` selects the 1:1 mode (``tcpchat connect --task 1``): no
    nickname, and the chat ends when the operator ends it.
    """

    def __init__(
        self,
        settings: ClientSettings,
        frontend: Frontend,
        state: ChatState,
        *,
        direct: bool = False,
        ssl: ssl.SSLContext | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.settings = settings
        self.frontend = frontend
        self.state = state
        self.direct = direct
        self.ssl = ssl
        self.backoff = backoff or Backoff(
            settings.reconnect_delay, max(settings.reconnect_delay, settings.reconnect_max_delay)
        )
        # The user's lines, in order; None means "leave".
        self._lines: asyncio.Queue[str | None] = asyncio.Queue(MAX_QUEUED_LINES)
        # Lines typed before a question (a nickname) that they must not answer; sent first.
        self._held: collections.deque[str] = collections.deque()
        self._leaving = asyncio.Event()
        self._ended_by_server = False
        self._reached_server = False  # the last connection got as far as the server
        self._welcomed_before = False
        # The nickname to ask for again after registering under a fallback.
        self._preferred_nick: str | None = None
        # The password the server last accepted, kept in memory for reconnections.
        self._accepted_password: str | None = None

    async def run(self) -> int:
        """Chat until the user leaves (0) or the server goes away for good (1)."""
        reading = asyncio.create_task(self._read_input(), name="tcpchat-input")
        try:
            return await self._stay_connected()
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            self.state.set_link(Link.CLOSED)

    # -- input -----------------------------------------------------------------

    def leave_now(self) -> None:
        """Leave at once, whatever the connection is doing (a signal, Ctrl-C)."""
        self._leaving.set()
        self.frontend.close_input()

    async def _read_input(self) -> None:
        """Move the user's lines into the queue; ``None`` in the queue means "leave".

        At a terminal, leaving also cuts short a connection attempt or a wait to
        reconnect. From a pipe, lines before the end of input (or ``/exit``) are
        sent first, once the connection is up.
        """
        while True:
            typed = await self.frontend.read_line()
            # A paste can hold several lines: each is sent (and shown) as its own.
            for line in [None] if typed is None else typed_lines(typed):
                if line is None or is_leave(line):
                    if self.frontend.interactive:
                        self._leaving.set()
                    await self._lines.put(None)
                    return
                if is_help(line):
                    interactive = self.frontend.interactive
                    self.frontend.show(client_help(direct=self.direct, keys=interactive))
                    continue
                if self.frontend.interactive and self._lines.full():
                    self.frontend.show(error_line("not sent: too many lines wait to be sent"))
                    continue
                await self._lines.put(line)  # from a pipe: stop reading until there is room

    def switch_room(self, step: int) -> None:
        """Make the room ``step`` places after the current one current (-1: the one before),
        by sending ``/join`` for it; the server's ``current`` event then moves the prompt.

        Bound to Ctrl-N and Ctrl-P. Does nothing while not connected, or in one room.
        """
        target = self.state.room_after(step)
        if target is None or self.state.link is not Link.CONNECTED:
            return
        if self._lines.full():
            self.frontend.show(error_line("not sent: too many lines wait to be sent"))
            return
        self._lines.put_nowait(f"/join {target}")

    async def _unless_leaving(self, awaitable: Awaitable[T]) -> T | None:
        """Await ``awaitable`` unless the user leaves first (then cancel it, return None)."""
        work = asyncio.ensure_future(awaitable)
        leave = asyncio.ensure_future(self._leaving.wait())
        try:
            await asyncio.wait({work, leave}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, leave):
                task.cancel()
            await asyncio.gather(work, leave, return_exceptions=True)
        if work.cancelled():
            return None
        return work.result()

    # -- the connection loop -----------------------------------------------------

    async def _stay_connected(self) -> int:
        while True:
            self._set_link(Link.CONNECTING)
            problem = await self._connect_and_chat()
            if problem is None or self._leaving.is_set():
                if self.direct:
                    self.frontend.show(system_line("The chat has ended."))
                return 0  # the user left
            self.state.forget_connection()
            if self.direct and self._ended_by_server:
                self._set_link(Link.CLOSED)
                self.frontend.show(system_line("The chat has ended."))
                return 0
            if not self.settings.reconnect:
                self._set_link(Link.CLOSED)
                self.frontend.show(error_line(f"{problem}; exiting"))
                if self._reached_server:
                    self.frontend.show(system_line(RECONNECT_HINT))
                return 1
            delay = self.backoff.next_delay()
            self._set_link(Link.WAITING, f"attempt {self.backoff.attempts} in {delay:.1f}s")
            self.frontend.show(system_line(f"{problem}; reconnecting in {delay:.1f}s"))
            await self._unless_leaving(asyncio.sleep(delay))
            if self._leaving.is_set():
                return 0

    async def _connect_and_chat(self) -> str | None:
        """One connection, from connecting to its end: None if the user left, else what
        went wrong, in words for the user."""
        settings = self.settings
        port = task_port(settings.port, 1 if self.direct else 2)
        self._ended_by_server = self._reached_server = False
        try:
            connection = await self._unless_leaving(
                open_connection(settings.host, port, ssl=self.ssl, timeout=settings.connect_timeout)
            )
        except (OSError, ValueError, OverflowError) as exc:  # TimeoutError is an OSError
            reason = describe_network_error(exc)
            return f"cannot connect to {self.state.server}: {reason}"
        if connection is None:
            return None
        self._reached_server = True
        try:
            async with connection:
                if await self._converse(connection):
                    return None
                return f"the connection to {self.state.server} was closed"
        except ConnectionLost as exc:
            return str(exc)
        except TimeoutError:
            return f"{self.state.server} did not answer in time"
        except OSError as exc:
            reason = describe_network_error(exc)
            return f"the connection to {self.state.server} was lost ({reason})"

    async def _converse(self, connection: Connection) -> bool:
        """Switch to JSON, register, then chat; True if the user left, False if the server did."""
        async with asyncio.timeout(self.settings.connect_timeout):
            await switch_to_json(connection)
        if self.direct:
            self.frontend.show(
                system_line(
                    f"Connected to {self.state.server}: you are chatting with its operator. "
                    "Type and press Enter; /exit leaves."
                )
            )
        elif not await self._register(connection):
            return True
        self.backoff.reset()
        self._set_link(Link.CONNECTED)
        receiving = asyncio.create_task(self._receive(connection), name="tcpchat-receive")
        sending = asyncio.create_task(self._send(connection), name="tcpchat-send")
        try:
            done, _ = await asyncio.wait({receiving, sending}, return_when=asyncio.FIRST_COMPLETED)
            if sending in done:
                sending.result()
                # /exit is on its way: let the goodbye arrive and the server close. The
                # room's lines are no longer drawn (nor waited for: a flood would keep
                # the user who left waiting behind it).
                receiving.cancel()
                await asyncio.gather(receiving, return_exceptions=True)
                with contextlib.suppress(TimeoutError, ConnectionError, OSError):
                    async with asyncio.timeout(LEAVE_TIMEOUT):
                        await self._receive_goodbye(connection)
                return True
            receiving.result()
            return False
        finally:
            for task in (receiving, sending):
                task.cancel()
            await asyncio.gather(receiving, sending, return_exceptions=True)

    async def _register(self, connection: Connection) -> bool:
        """Register a nickname until the server welcomes one; False if the user left instead.

        Without a nickname yet, the user is asked, and their lines answer in order
        (in piped mode the first line is the nickname). Once there is one, typed
        lines are never taken for a nickname: if it is taken after a reconnection
        (the server may still hold the dead connection) or in piped mode, the
        client tries :func:`fallback_nicks` itself; otherwise, at a terminal, it
        asks, and only lines typed after the question answer it. In piped mode a
        nickname that cannot be had ends the connection.
        """
        wanted = self._preferred_nick or self.state.nick or self.settings.nick
        fallbacks = collections.deque(fallback_nicks(wanted) if wanted else ())
        pick_fallbacks = self._welcomed_before or not self.frontend.interactive
        nick = wanted
        while True:
            if not nick:
                self._set_link(Link.REGISTERING)
                question = "Choose another nickname:" if wanted else "Choose a nickname:"
                self.frontend.show(system_line(question))
                line = await self._ask(connection, typed_ahead_is_chat=wanted is not None)
                if line is None:
                    return False
                nick = nick_from(line)
                if not nick:
                    continue
            self._set_link(Link.REGISTERING, nick)
            connection.send_line(f"/nick {nick}")
            async with asyncio.timeout(self.settings.connect_timeout):
                reply = await self._registration_reply(connection)
            if isinstance(reply, Welcome):
                self._welcomed(reply, wanted)
                return True
            if reply.code in (PASSWORD_REQUIRED, PASSWORD_WRONG):
                if not await self._give_password(connection, reply):
                    return False
                continue  # the same nickname again, now that the server listens
            self.frontend.show(render_event(reply))
            # A name the server refuses is not ours, even one it accepted before a reconnect.
            self.state.nick = None
            if wanted and pick_fallbacks:
                if reply.code == NickTaken.code and fallbacks:
                    nick = fallbacks.popleft()
                    self.frontend.show(system_line(f"trying the nickname {nick} instead"))
                    continue
                if not self.frontend.interactive:
                    raise ConnectionLost(f"the server refused the nickname {wanted}")
            nick = None

    def _welcomed(self, welcome: Welcome, wanted: str | None) -> None:
        """Take the server's welcome; say so when it is under a fallback nickname.

        After a reconnection, the rooms the user was in are joined again, and the
        room that was current is made current again, before anything typed meanwhile
        is sent (which was meant for that room).
        """
        self.state.apply(welcome)
        self._welcomed_before = True
        self.frontend.show(render_event(welcome, welcome.nick, keys=self.frontend.interactive))
        self._rejoin(welcome.room)
        if wanted and nick_key(welcome.nick) != nick_key(wanted):
            self._preferred_nick = wanted
            self.frontend.show(
                system_line(
                    f"{wanted} is taken, so you are {welcome.nick} for now; "
                    f"/nick {wanted} takes it back once it is free"
                )
            )
        else:
            self._preferred_nick = None

    def _rejoin(self, welcomed_in: str) -> None:
        rooms, current = self.state.rooms_before_loss, self.state.current_before_loss
        self.state.rooms_before_loss, self.state.current_before_loss = [], None
        again = [room for room in rooms if room_key(room) != room_key(welcomed_in)]
        if current is not None and room_key(current) != room_key(welcomed_in):
            again = [room for room in again if room_key(room) != room_key(current)] + [current]
        elif again and current is not None:
            again.append(current)  # back to the default room, after joining the others
        if again:
            self.frontend.show(system_line(f"joining {', '.join(again)} again"))
        # Sent first of all, in this order: before the lines typed while away.
        self._held.extendleft(f"/join {room}" for room in reversed(again))

    async def _give_password(self, connection: Connection, request: Error) -> bool:
        """Give the server its password: the one it accepted before this reconnection,
        else --password-env's, else asking the user; False if the user left instead.

        After a reconnection, lines typed meanwhile are chat, never a password: at a
        terminal only a line typed after the question answers it, and a script that
        gave no password ends the connection.
        """
        password = self._accepted_password or self._password_from_environment()
        while True:
            if password is None:
                if self._welcomed_before and not self.frontend.interactive:
                    raise ConnectionLost("the server asks for a password that was not given")
                self.frontend.show(render_event(request))
                self.frontend.conceal_input(True)
                try:
                    line = await self._ask(connection, typed_ahead_is_chat=self._welcomed_before)
                finally:
                    self.frontend.conceal_input(False)
                if line is None:
                    return False
                password = line.strip()
            connection.send_line(f"/pass {password}")
            async with asyncio.timeout(self.settings.connect_timeout):
                answer = await self._password_reply(connection)
            if answer is None:
                self._accepted_password = password
                return True
            request, password = answer, None

    def _password_from_environment(self) -> str | None:
        """The password in the variable --password-env names, offered once per connection."""
        name = self.settings.password_env
        return os.environ.get(name) if name else None

    async def _password_reply(self, connection: Connection) -> Error | None:
        """None once the server accepts the password, or its ``password_wrong`` error.

        Requests for the password that were already on their way are skipped.
        """
        while (event := await read_event(connection)) is not None:
            if isinstance(event, Notice):
                return None
            if isinstance(event, Error) and event.code == PASSWORD_WRONG:
                return event
        raise ConnectionLost("the server closed the connection: too many wrong passwords?")

    async def _ask(
        self, connection: Connection, *, typed_ahead_is_chat: bool = False
    ) -> str | None:
        """The user's next line, while still showing what the server says meanwhile.

        With ``typed_ahead_is_chat``, the lines typed before the question are put
        aside, to be sent as chat once registered, and only a line typed after it
        answers. A server that gives up waiting (its registration time-out) is
        noticed at once, not when the user next presses Enter.
        """
        if typed_ahead_is_chat and not self._hold_typed_ahead():
            return None
        answer = asyncio.ensure_future(self._lines.get())
        try:
            while not answer.done():
                event = asyncio.ensure_future(read_event(connection))
                try:
                    await asyncio.wait({answer, event}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    event.cancel()
                    await asyncio.gather(event, return_exceptions=True)
                if event.cancelled():
                    continue
                said = event.result()
                if said is None:
                    raise ConnectionLost("the server closed the connection")
                if isinstance(said, Error):
                    self.frontend.show(render_event(said))
            return answer.result()
        finally:
            answer.cancel()

    def _hold_typed_ahead(self) -> bool:
        """Put the lines waiting in the queue aside as chat; False if one of them was "leave"."""
        while not self._lines.empty():
            line = self._lines.get_nowait()
            if line is None:
                return False
            if len(self._held) >= MAX_QUEUED_LINES:
                self.frontend.show(error_line("not sent: too many lines wait to be sent"))
                continue
            self._held.append(line)
        return True

    async def _next_line(self) -> str | None:
        """The next line to send: those put aside during registration first."""
        if self._held:
            return self._held.popleft()
        return await self._lines.get()

    async def _registration_reply(self, connection: Connection) -> Welcome | Error:
        while (event := await read_event(connection)) is not None:
            if isinstance(event, Welcome | Error):
                return event
        raise ConnectionLost("the server closed the connection before welcoming us")

    async def _receive(self, connection: Connection) -> None:
        """Show each event as it arrives, until the server closes the connection.

        While the screen is behind, the socket is not read: the server is pushed
        back by TCP instead of this client's memory growing without bound.
        """
        while (event := await read_event(connection)) is not None:
            own = self.state.nick is not None and (
                isinstance(event, NickChange) and nick_key(event.old) == nick_key(self.state.nick)
            )
            if own:
                self._preferred_nick = None  # the user chose a nickname of their own
            self.state.apply(event)
            if isinstance(event, Shutdown):
                self._ended_by_server = True
            if self.direct:
                self.frontend.show(render_event(event))
            else:
                mark = self.state.room_mark(event)
                self.frontend.show(render_event(event, self.state.nick, room_mark=mark))
            self.frontend.refresh()
            await self.frontend.wait_for_room()

    async def _receive_goodbye(self, connection: Connection) -> None:
        """After ``/exit``: read until the server closes, showing only what it says to us."""
        while (event := await read_event(connection)) is not None:
            if isinstance(event, Notice | Error | Shutdown):
                self.frontend.show(render_event(event))

    async def _send(self, connection: Connection) -> None:
        """Send the user's lines in order, showing each as sent; on leave, send ``/exit``.

        A line too long for the server is cut into several (see :mod:`tcpchat.client.linesplit`),
        and the user is told; one that cannot be cut is not sent.
        """
        while (line := await self._next_line()) is not None:
            limit = self.state.max_line_bytes
            pieces = fit_line(line, limit)
            if pieces is None:
                self.frontend.show(error_line(too_long(line, limit, self.frontend.interactive)))
                continue
            for piece in pieces:
                if self.direct:
                    wire, shown = outgoing(piece, "you")
                else:
                    wire, shown = outgoing(piece, self.state.nick, self.state)
                if wire is not None:
                    connection.send_line(wire)
                if shown is not None:
                    self.frontend.show(shown)
            if len(pieces) > 1:
                self.frontend.show(
                    system_line(
                        f"That was too long for one line (the server takes {limit:,} bytes): "
                        f"it went out as {len(pieces)} messages."
                    )
                )
        connection.send_line("/exit")

    def _set_link(self, link: Link, detail: str = "") -> None:
        self.state.set_link(link, detail)
        self.frontend.refresh()
