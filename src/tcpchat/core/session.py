"""One connection's conversation with the room, with no I/O of its own.

A :class:`Session` takes decoded input lines and turns them into events for the
hub: first registration (choosing a nickname), then chat and commands. It never
awaits and never touches a socket: the server feeds it lines and reads
``finished`` to know when to close, so it can be driven by plain calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from tcpchat.core.commands import LEAVE_COMMANDS, current_room, dispatch
from tcpchat.core.conversation import Conversation, HistoryService, SearchService
from tcpchat.core.errors import (
    InvalidEncoding,
    LineTooLong,
    LocalProtocolError,
    ModerationError,
    NickError,
    RoomError,
    TcpchatError,
)
from tcpchat.core.events import Error, EventClock, Join, Leave, Message, Notice, Topic, Welcome
from tcpchat.core.hub import Hub, Peer, Room
from tcpchat.core.moderation import Moderation
from tcpchat.core.nicks import validate_nick
from tcpchat.core.password import PASSWORD_REQUIRED, PASSWORD_WRONG, PasswordGate, tries
from tcpchat.core.protocol import (
    DEFAULT_MAX_LINE_BYTES,
    ChatInput,
    CommandInput,
    decode_line,
    parse_received,
)
from tcpchat.core.rooms import RoomRules
from tcpchat.core.sanitize import sanitize_text

log = logging.getLogger("tcpchat.server")

GREETING = "Welcome to tcpchat. Choose a nickname (letters, digits, '_' and '-'):"
NICK_PROMPT = "Choose a nickname:"

PASSWORD_GREETING = "Welcome to tcpchat."
PASSWORD_PROMPT = "this server needs a password: type it, or send /pass PASSWORD"
#: What a connection may do before it has given the server password.
_BEFORE_PASSWORD_COMMANDS = frozenset({"help", "format", *LEAVE_COMMANDS})
_PASSWORD_COMMANDS = frozenset({"pass", "password"})


class Session:
    """Registration, chat and commands for one connection.

    ``room`` is the connection's current room (None: it is in none), where plain
    lines, ``/me`` and ``/search`` go. ``finished`` becomes the reason the session
    ended (``"quit"``, ``"connection lost"`` …) once it has; everyone who shared a
    room with it is told it left exactly once.
    """

    # One per connection, thousands idle at once: no per-instance dict.
    __slots__ = (
        "_member",
        "clock",
        "finished",
        "history",
        "hub",
        "max_line_bytes",
        "moderation",
        "monotonic",
        "password_gate",
        "peer",
        "room",
        "rules",
        "search",
    )

    def __init__(
        self,
        peer: Peer,
        hub: Hub,
        clock: EventClock,
        *,
        search: SearchService | None = None,
        history: HistoryService | None = None,
        password: str | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        rules: RoomRules | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        moderation: Moderation | None = None,
    ) -> None:
        self.peer = peer
        self.hub = hub
        self.clock = clock
        self.search = search
        self.history = history
        self.max_line_bytes = max_line_bytes  # told in the welcome
        self.rules = rules or RoomRules()
        self.monotonic = monotonic
        self.moderation = moderation
        self.room: Room | None = None
        self.finished: str | None = None
        self._member = False
        peer.connected_at = peer.active_at = monotonic()
        self.password_gate = PasswordGate(password) if password else None

    @property
    def awaiting_password(self) -> bool:
        """Whether the server password is still to be given on this connection."""
        return self.password_gate is not None and not self.password_gate.passed

    @property
    def registered(self) -> bool:
        """Whether this connection is in the room under a nickname."""
        return self._member

    @property
    def nick(self) -> str:
        if self.peer.nick is None:
            raise LocalProtocolError("a nickname was used before registration")
        return self.peer.nick

    # -- input ---------------------------------------------------------------

    def greet(self) -> None:
        """Send the opening lines that ask for a nickname (or for the password first)."""
        if self.password_gate is not None:
            self.notice(PASSWORD_GREETING)
            self.ask_password()
            return
        self.notice(GREETING)

    def receive_line(self, raw: bytes | LineTooLong) -> None:
        """Handle one complete input line (without its line ending), or an overlong one."""
        if self.finished is not None:
            return
        if isinstance(raw, LineTooLong):
            self.fail(raw)  # and carry on: the line was discarded whole, never acted on
            return
        try:
            text = decode_line(raw)
        except InvalidEncoding as exc:
            self.fail(exc)
            return
        parsed = parse_received(text)
        if parsed is None:
            return  # blank lines are ignored
        if self.awaiting_password:
            self._before_password(parsed)
            return
        if isinstance(parsed, CommandInput):
            dispatch(self, parsed)
        elif self._member:
            self.say(parsed)
        else:
            self.register(parsed.text)

    def say(self, chat: ChatInput) -> None:
        text = sanitize_text(chat.text)
        if not text.strip():
            return
        try:
            self.say_in(current_room(self), text)
        except (RoomError, ModerationError) as exc:
            self.fail(exc)

    def say_in(self, room: Room, text: str) -> None:
        """Say ``text`` (sanitised, not blank) in ``room``, one of this connection's.

        Raise :class:`ModerationError` if the member is muted there, or in slow mode.
        """
        if self.moderation is not None:
            self.moderation.check_speak(self.peer, room)
        self.peer.active_at = self.monotonic()
        event_id, ts = self.clock.stamp()
        message = Message(event_id, ts, self.nick, text, room.name)
        self.hub.publish(message, room=room, exclude=self.peer)
        if self.search is not None:
            self.search.observe(message)

    def register(self, wanted: str) -> None:
        """Try to get on the server as ``wanted``, in the default room; else say why, ask again."""
        try:
            nick = validate_nick(wanted)
            if self.moderation is not None:  # a nickname banned from the default room
                self.moderation.check_join(nick, self.rules.default_room)
            self.hub.register(self.peer, nick)
        except (NickError, ModerationError) as exc:
            self.fail(exc)
            self.notice(NICK_PROMPT)
            return
        self._member = True
        log.info("%s registered as %s", self.peer.address, nick)
        # The default room is always there and a new member is in no room: this cannot fail.
        room = self.room = self.hub.join_room(self.peer, self.rules.default_room)
        if self.moderation is not None:
            self.moderation.arrived(self.peer, self)
            self.moderation.joined(self.peer, room, created=False)
        # A big room is counted, not listed: 10,000 names to each of 10,000 joiners is 1 GB.
        members = self.rules.count_if_quiet(len(room))
        users = () if members else room.names_for(self.peer)
        event_id, ts = self.clock.stamp()
        self.hub.send(
            self.peer,
            Welcome(event_id, ts, nick, users, self.max_line_bytes, room.name, members),
        )
        event_id, ts = self.clock.stamp()
        self.hub.publish(Join(event_id, ts, nick, room.name), room=room, exclude=self.peer)
        if room.topic:
            event_id, ts = self.clock.stamp()
            topic = Topic(event_id, ts, room.name, room.topic_by, room.topic, changed=False)
            self.hub.send(self.peer, topic)

    # -- the server password (tcpchat.password) -------------------------------

    def ask_password(self) -> None:
        """Ask for the server password, with a code programs can act on."""
        self.error(PASSWORD_REQUIRED, PASSWORD_PROMPT)

    def _before_password(self, parsed: ChatInput | CommandInput) -> None:
        """Handle a line from a connection that has not given the password yet.

        A bare line or ``/pass PASSWORD`` is an attempt; ``/format``, ``/help`` and
        ``/exit`` work; anything else is answered by asking for the password again.
        """
        if isinstance(parsed, ChatInput):
            self._try_password(parsed.text)
        elif parsed.name in _PASSWORD_COMMANDS:
            self._try_password(parsed.argument)
        elif parsed.name in _BEFORE_PASSWORD_COMMANDS:
            dispatch(self, parsed)
            if parsed.name == "format" and self.finished is None:
                self.ask_password()  # again, now in the rendering the client asked for
        else:
            self.ask_password()

    def _try_password(self, attempt: str) -> None:
        gate = self.password_gate
        assert gate is not None
        if gate.attempt(attempt):
            log.info("%s gave the server password", self.peer.address)
            self.notice("Password accepted. " + NICK_PROMPT)
            return
        log.warning("%s sent a wrong server password", self.peer.address)
        if gate.locked:
            self.error(PASSWORD_WRONG, "wrong password; too many tries, closing")
            self.end("too many wrong passwords")
            return
        self.error(PASSWORD_WRONG, f"wrong password; {tries(gate.tries_left)} left")

    # -- output --------------------------------------------------------------

    def notice(self, text: str) -> None:
        event_id, ts = self.clock.stamp()
        self.hub.send(self.peer, Notice(event_id, ts, text))

    def error(self, code: str, text: str) -> None:
        event_id, ts = self.clock.stamp()
        self.hub.send(self.peer, Error(event_id, ts, code, text))

    def fail(self, exc: TcpchatError) -> None:
        """Tell this connection what went wrong, in the exception's user-facing words."""
        self.error(getattr(exc, "code", "error"), str(exc))

    # -- the end -------------------------------------------------------------

    def registration_timed_out(self) -> None:
        """Say that no nickname was chosen in time, and end."""
        self.error("timeout", "no nickname was chosen in time; closing")
        self.end("registration timed out")

    def end(self, reason: str, *, announce: bool = True) -> None:
        """Finish the session: leave the server, and tell those who shared a room, once."""
        if self.finished is not None:
            return
        self.finished = reason
        if self._member:
            self._member = False
            leave_server(self, reason, announce=announce)


def leave_server(conversation: Conversation, reason: str, *, announce: bool) -> None:
    """Take a registered connection out of the server, whatever its front door: those who
    shared a room with it are told once (unless ``announce`` is false), it operates
    nothing any more, and it leaves the hub."""
    nick, peer = conversation.nick, conversation.peer
    if announce:
        event_id, ts = conversation.clock.stamp()
        conversation.hub.announce(Leave(event_id, ts, nick, reason), about=peer, exclude=peer)
    if conversation.moderation is not None:
        conversation.moderation.left(peer)
    conversation.hub.leave(peer)
    conversation.room = None
    log.info("%s (%s) left: %s", nick, peer.address, reason)
