"""One IRC connection's conversation, with no I/O of its own.

:class:`IrcSession` is the IRC counterpart of :class:`tcpchat.core.session.Session`:
the front door (:mod:`tcpchat.server.irc`) hands it lines, and it acts on the
same hub, rooms and nicknames as every native connection. Registration is
:class:`~tcpchat.irc.registration.Registration`'s; then each command is looked
up in one table (:data:`COMMANDS`). Replies meant for this connection alone
are numerics, built by :class:`~tcpchat.irc.numerics.Replies` and queued in
order through :meth:`~tcpchat.core.hub.Hub.send_raw`; what is said in a room
is published as the same events a native user's words make, so that native
and IRC users see each other, and IRC members get the hub's one IRC encoding
(:mod:`tcpchat.irc.render`).

An IRC user is in no room after registering, as on every IRC server: clients
join their channels themselves (the message of the day says ``/join #lobby``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from tcpchat.core.conversation import HistoryService, SearchService
from tcpchat.core.errors import (
    Banned,
    InvalidRoom,
    LineTooLong,
    LocalProtocolError,
    ModerationError,
    NickError,
    NickTaken,
    RoomLimit,
    TcpchatError,
)
from tcpchat.core.events import (
    Action,
    EventClock,
    Join,
    Message,
    NickChange,
    Part,
    PrivateMessage,
    Topic,
)
from tcpchat.core.hub import Hub, Peer, Room
from tcpchat.core.moderation import Moderation
from tcpchat.core.nicks import AI_NICK, nick_key
from tcpchat.core.render import Rendering
from tcpchat.core.rooms import MAX_AWAY_CHARS, RoomRules, is_room_name, validate_room
from tcpchat.core.sanitize import sanitize_text
from tcpchat.core.session import leave_server
from tcpchat.irc import moderation as operators
from tcpchat.irc.errors import EmptyMessage, InputTooLong, IrcProtocolError, NotUtf8
from tcpchat.irc.message import IrcMessage, parse_message
from tcpchat.irc.nicks import validate_irc_nick
from tcpchat.irc.numerics import Replies
from tcpchat.irc.registration import MAX_TARGETS, Registration, ServerInfo
from tcpchat.irc.render import (
    CTCP_MARK,
    USER_HOST,
    ChannelNotice,
    mask,
    said_lines,
    strip_formatting,
    with_time,
)

log = logging.getLogger("tcpchat.server")

#: What starts a channel message that asks the AI (``!search what is IRC?``).
SEARCH_TRIGGER = "!search "
#: The most users one ``WHO`` lists; a wider mask gets the first ones, by nickname.
MAX_WHO_REPLIES = 500
#: The most nicknames one ``USERHOST`` answers for (RFC 1459).
MAX_USERHOST_NICKS = 5
#: What a ``WHOIS`` says of the server, and a CTCP VERSION of a native user.
SERVER_INFO = "tcpchat"
#: The user's session as IRC clients send it to the server, for the CTCP replies
#: tcpchat gives on behalf of native users.
CTCP_ANSWERED = frozenset({"VERSION", "PING", "TIME", "CLIENTINFO"})

IRC_RENDERINGS = frozenset({Rendering.IRC, Rendering.IRC_TIME})

Handler = Callable[["IrcSession", IrcMessage], None]


class IrcSession:
    """Registration, channels, messages and queries for one IRC connection.

    Provides :class:`~tcpchat.core.conversation.Conversation`, so that the
    search service answers an IRC user as it does a native one. ``room`` is
    the channel this connection spoke in last (where ``!search`` answers go);
    ``finished`` the reason the session ended, once it has.
    """

    def __init__(
        self,
        peer: Peer,
        hub: Hub,
        clock: EventClock,
        info: ServerInfo,
        *,
        search: SearchService | None = None,
        password: str | None = None,
        rules: RoomRules | None = None,
        moderation: Moderation | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.peer = peer
        self.hub = hub
        self.clock = clock
        self.info = info
        self.search = search
        # History reaches IRC users through the hub's replay on JOIN; the history
        # commands (/history, /find, /seen, /summary) are the native protocol's.
        self.history: HistoryService | None = None
        # Bans, mutes and slow mode hold for IRC users as for everyone; OPER, KICK and
        # MODE +o/+b/+q are the operators' commands (tcpchat.irc.moderation).
        self.moderation = moderation
        self.rules = rules or RoomRules()
        self.monotonic = monotonic
        self.wall_clock = wall_clock
        self.room: Room | None = None
        self.finished: str | None = None
        self.registration = Registration(info, password=password)
        self._member = False
        peer.rendering = Rendering.IRC
        peer.connected_at = peer.active_at = monotonic()

    # -- what commands and searches read (Conversation) ------------------------

    @property
    def registered(self) -> bool:
        return self._member

    @property
    def awaiting_password(self) -> bool:
        return False  # PASS is registration's: one try, before the nickname

    @property
    def nick(self) -> str:
        if self.peer.nick is None:
            raise LocalProtocolError("a nickname was used before registration")
        return self.peer.nick

    @property
    def replies(self) -> Replies:
        """This connection's replies: to its nickname, or ``*`` before it has one."""
        return self.registration.replies.to(self.peer.nick)

    @property
    def capabilities(self) -> set[str]:
        return self.registration.capabilities

    # -- input -------------------------------------------------------------------

    def receive_line(self, raw: bytes | LineTooLong) -> None:
        """Handle one line from the client (without its line ending), or an overlong one."""
        if self.finished is not None:
            return
        if isinstance(raw, LineTooLong):
            self.send(self.replies.input_too_long())
            return
        try:
            message = parse_message(raw)
        except EmptyMessage:
            return
        except InputTooLong:
            self.send(self.replies.input_too_long())
            return
        except NotUtf8 as exc:
            self.send(self.replies.fail(exc.command or "*", "INVALID_UTF8", str(exc)))
            return
        except IrcProtocolError:
            return  # not IRC (a stray CR, no command): nothing can be answered
        self.receive(message)

    def receive(self, message: IrcMessage) -> None:
        """Handle one message: registration's until it is done, then the command table's."""
        if not self._member:
            self._register_with(message)
            return
        handler = COMMANDS.get(message.command)
        if handler is None:
            self.send(self.replies.unknown_command(message.command))
            return
        handler(self, message)

    def _register_with(self, message: IrcMessage) -> None:
        registration = self.registration
        self.send(*registration.receive(message))
        self._follow_capabilities()
        if registration.closing is not None:
            self.end(registration.closing)
        elif registration.ready:
            self._try_nick()

    def _try_nick(self) -> None:
        """All is given: take the nickname if it is free, and welcome the client."""
        registration = self.registration
        assert registration.nick is not None
        # Named before registering: a cluster node describes the member to the others then.
        self.peer.user = registration.user or registration.nick
        self.peer.realname = registration.realname or registration.nick
        try:
            self.hub.register(self.peer, registration.nick)
        except NickError as exc:
            self.send(*registration.refuse_nick(exc))
            return
        self._member = True
        if self.moderation is not None:
            self.moderation.arrived(self.peer, self)
        log.info("%s registered over IRC as %s", self.peer.address, registration.nick)
        self.send(*registration.complete())

    def _follow_capabilities(self) -> None:
        """Give the connection the rendering its capabilities ask for (``server-time``)."""
        timed = "server-time" in self.registration.capabilities
        self.peer.rendering = Rendering.IRC_TIME if timed else Rendering.IRC

    # -- output ------------------------------------------------------------------

    def send(self, *messages: IrcMessage) -> None:
        """Queue ``messages`` to this connection, after what it is owed already."""
        if messages:
            self.hub.send_raw(self.peer, b"".join(message.to_bytes() for message in messages))

    def send_all(self, messages: Iterable[IrcMessage]) -> None:
        self.send(*messages)

    def notice(self, text: str) -> None:
        """Tell this connection something, as a server NOTICE."""
        target = self.peer.nick or "*"
        self.hub.send_raw(self.peer, said_lines(self.info.name, "NOTICE", target, text))

    def error(self, code: str, text: str) -> None:
        self.notice(text)

    def fail(self, exc: TcpchatError) -> None:
        self.notice(str(exc))

    def ping(self, token: str) -> None:
        """Ask the client to show it is still there."""
        self.send(self.replies.ping(token))

    def close_with(self, reason: str) -> None:
        """Say ``ERROR`` with ``reason``, IRC's last line, and end the session with it."""
        self.send(self.replies.error(f"Closing link: {reason}"))
        self.end(reason)

    def registration_timed_out(self) -> None:
        """No NICK and USER in time: ``ERROR``, and the end."""
        self.close_with("registration timed out")

    # -- the end -----------------------------------------------------------------

    def end(self, reason: str, *, announce: bool = True) -> None:
        """Finish the session: leave the server, and tell those who shared a room, once."""
        if self.finished is not None:
            return
        self.finished = reason
        if self._member:
            self._member = False
            leave_server(self, reason, announce=announce)

    # -- Conversation's actions --------------------------------------------------

    def register(self, wanted: str) -> None:
        """Try ``wanted`` as the nickname, as ``NICK`` does."""
        self.receive(IrcMessage("NICK", [wanted]))

    def say_in(self, room: Room, text: str) -> None:
        """Say ``text`` (sanitised, not blank) in ``room``, one of this connection's."""
        self.peer.active_at = self.monotonic()
        self.room = room
        event_id, ts = self.clock.stamp()
        message = Message(event_id, ts, self.nick, text, room.name)
        self.hub.publish(message, room=room, exclude=self._not_echoed())
        if self.search is not None:
            self.search.observe(message)

    def _not_echoed(self) -> Peer | None:
        """Whom a message of this connection's leaves out: itself, unless it asked for echoes."""
        return None if "echo-message" in self.capabilities else self.peer

    # -- the commands --------------------------------------------------------------

    def _nick(self, message: IrcMessage) -> None:
        if not message.params or not message.params[0]:
            self.send(self.replies.no_nickname_given())
            return
        wanted = message.params[0]
        try:
            new = validate_irc_nick(wanted)
            old = self.nick
            if new == old:
                return
            self.hub.rename(self.peer, new)
        except NickTaken as exc:
            self.send(self.replies.nickname_in_use(wanted, str(exc)))
            return
        except NickError as exc:
            self.send(self.replies.erroneous_nickname(wanted, str(exc)))
            return
        self.registration.nick = new
        event_id, ts = self.clock.stamp()
        self.hub.announce(NickChange(event_id, ts, old, new), about=self.peer)

    def _registration_command(self, message: IrcMessage) -> None:
        self.send(*self.registration.receive(message))
        self._follow_capabilities()

    def _ping(self, message: IrcMessage) -> None:
        if not message.params or not message.params[0]:
            self.send(self.replies.need_more_params("PING"))
            return
        self.send(self.replies.pong(message.params[0]))

    def _pong(self, message: IrcMessage) -> None:
        """Any line shows the client is alive; the front door notes every one."""

    def _quit(self, message: IrcMessage) -> None:
        words = sanitize_text(strip_formatting(message.params[0])).strip() if message.params else ""
        self.close_with(f"Quit: {words}" if words else "quit")

    def _join(self, message: IrcMessage) -> None:
        if not message.params or not message.params[0]:
            self.send(self.replies.need_more_params("JOIN"))
            return
        if message.params[0] == "0":
            for room in list(self.peer.rooms):
                self._part_one(room, "")
            return
        for name in message.params[0].split(","):
            self._join_one(name)

    def _join_one(self, name: str) -> None:
        replies = self.replies
        if not is_room_name(name):
            self.send(replies.no_such_channel(name))
            return
        try:
            name = validate_room(name)
        except InvalidRoom as exc:
            self.send(replies.bad_channel_mask(name, str(exc)))
            return
        existing = self.hub.room(name)
        if existing is not None and existing in self.peer.rooms:
            return  # already in it: nothing to say, as IRC servers do
        try:
            if self.moderation is not None:
                self.moderation.check_join(self.nick, name)
            room = self.hub.join_room(self.peer, name)
        except Banned as exc:
            self.send(replies.banned_from_channel(name, str(exc)))
            return
        except RoomLimit as exc:
            self.send(replies.too_many_channels(name, str(exc)))
            return
        if self.moderation is not None:
            self.moderation.joined(self.peer, room, created=existing is None)
        self.room = room
        event_id, ts = self.clock.stamp()
        # The joiner reads its JOIN (how an IRC client learns it is in), the topic and
        # the names first, and only then the room's history, which the hub replays when
        # the join is published (to server-time clients: tcpchat.irc.render).
        joined = IrcMessage("JOIN", [room.name], mask(self.nick)).to_bytes()
        if self.peer.rendering is Rendering.IRC_TIME:
            joined = with_time(joined, ts)
        self.hub.send_raw(self.peer, joined)
        if room.topic:
            self.send(replies.topic(room.name, room.topic))
        if self.rules.is_quiet(len(room)):
            # A big channel, as Twitch's: NAMES names the joiner alone, a notice gives
            # the count, and an explicit NAMES lists everyone.
            self.send(*replies.names(room.name, (self.nick,), self._operators(room)))
            self.notice(f"{len(room):,} users in {room.name}; NAMES {room.name} lists them")
        else:
            self.send(*replies.names(room.name, room.names_for(self.peer), self._operators(room)))
        self.hub.publish(Join(event_id, ts, self.nick, room.name), room=room, exclude=self.peer)

    def _part(self, message: IrcMessage) -> None:
        if not message.params or not message.params[0]:
            self.send(self.replies.need_more_params("PART"))
            return
        reason = message.params[1] if len(message.params) > 1 else ""
        for name in message.params[0].split(","):
            room = self.hub.room(name) if is_room_name(name) else None
            if room is None:
                self.send(self.replies.no_such_channel(name))
            elif room not in self.peer.rooms:
                self.send(self.replies.not_on_channel(room.name))
            else:
                self._part_one(room, reason)

    def _part_one(self, room: Room, reason: str) -> None:
        event_id, ts = self.clock.stamp()
        words = sanitize_text(strip_formatting(reason)).strip()
        self.hub.publish(Part(event_id, ts, self.nick, room.name, words), room=room)
        self.hub.part_room(self.peer, room)
        if self.room is room:
            remaining = list(self.peer.rooms)
            self.room = remaining[-1] if remaining else None

    def _topic(self, message: IrcMessage) -> None:
        if not message.params or not message.params[0]:
            self.send(self.replies.need_more_params("TOPIC"))
            return
        name = message.params[0]
        room = self.hub.room(name) if is_room_name(name) else None
        if room is None:
            self.send(self.replies.no_such_channel(name))
            return
        if len(message.params) == 1:
            if room.topic:
                self.send(self.replies.topic(room.name, room.topic))
            else:
                self.send(self.replies.no_topic(room.name))
            return
        if room not in self.peer.rooms:
            self.send(self.replies.not_on_channel(room.name))
            return
        # As IRC servers do with TOPICLEN: a longer topic is cut, not refused.
        text = sanitize_text(strip_formatting(message.params[1])).strip()
        text = text[: self.rules.max_topic_chars]
        self.hub.set_topic(room, text, self.nick)
        event_id, ts = self.clock.stamp()
        topic = Topic(event_id, ts, room.name, self.nick, text, changed=True)
        self.hub.publish(topic, room=room)

    def _names(self, message: IrcMessage) -> None:
        if not message.params or not message.params[0]:
            self.send(self.replies.end_of_names("*"))
            return
        for name in message.params[0].split(","):
            room = self.hub.room(name) if is_room_name(name) else None
            if room is None:
                self.send(self.replies.end_of_names(name))
            else:
                names = room.names_for(self.peer)
                self.send(*self.replies.names(room.name, names, self._operators(room)))

    def _operators(self, room: Room) -> tuple[str, ...]:
        """The nicknames of ``room``'s operators, for the ``@`` of NAMES."""
        return self.moderation.operators(room) if self.moderation is not None else ()

    def _list(self, message: IrcMessage) -> None:
        rooms = self.hub.rooms()
        if message.params and message.params[0]:
            wanted = {nick_key(name) for name in message.params[0].split(",")}
            rooms = [room for room in rooms if room.key in wanted]
        replies = self.replies
        self.send(*(replies.list_entry(room.name, len(room), room.topic) for room in rooms))
        self.send(replies.list_end())

    def _who(self, message: IrcMessage) -> None:
        query = message.params[0] if message.params and message.params[0] else "*"
        replies = self.replies
        room: Room | None = None
        if is_room_name(query):
            room = self.hub.room(query)
            # (In a cluster, the other nodes' members too.)
            members = list(room.everyone().values()) if room is not None else []
            channel = room.name if room is not None else "*"
        else:
            matches = _mask_matcher(query)
            members = [
                peer
                for nick in self.hub.nicks()
                if matches(nick) and (peer := self.hub.find(nick)) is not None
            ]
            channel = "*"
        moderation = self.moderation
        for peer in members[:MAX_WHO_REPLIES]:
            nick = peer.nick or "*"
            self.send(
                replies.who_reply(
                    channel,
                    peer.user or nick,
                    USER_HOST,
                    nick,
                    away=peer.away is not None,
                    realname=peer.realname or nick,
                    server_operator=moderation is not None and moderation.is_server_operator(peer),
                    room_operator=room is not None
                    and moderation is not None
                    and moderation.is_operator(peer, room),
                )
            )
        self.send(replies.end_of_who(query))

    def _whois(self, message: IrcMessage) -> None:
        if not message.params or not message.params[-1]:
            self.send(self.replies.no_nickname_given())
            return
        target = message.params[-1].split(",")[0]
        replies = self.replies
        peer = self.hub.find(target)
        if peer is None or peer.nick is None:
            self.send(replies.no_such_nick(target), replies.end_of_whois(target))
            return
        nick = peer.nick
        now = self.monotonic()
        idle = max(int(now - peer.active_at), 0)
        signon = int(self.wall_clock() - max(now - peer.connected_at, 0))
        moderation = self.moderation
        channels = [
            f"@{room.name}"
            if moderation is not None and moderation.is_operator(peer, room)
            else room.name
            for room in peer.rooms
        ]
        self.send(
            replies.whois_user(nick, peer.user or nick, USER_HOST, peer.realname or nick),
            *replies.whois_channels(nick, channels),
            replies.whois_server(nick, SERVER_INFO),
        )
        if moderation is not None and moderation.is_server_operator(peer):
            self.send(replies.whois_operator(nick))
        if peer.away is not None:
            self.send(replies.away(nick, peer.away))
        self.send(replies.whois_idle(nick, idle, signon), replies.end_of_whois(nick))

    def _away(self, message: IrcMessage) -> None:
        text = message.params[0] if message.params else ""
        text = sanitize_text(strip_formatting(text)).strip()[:MAX_AWAY_CHARS]
        if text:
            self.hub.set_away(self.peer, text)
            self.send(self.replies.now_away())
        else:
            self.hub.set_away(self.peer, None)
            self.send(self.replies.unaway())

    def _privmsg(self, message: IrcMessage) -> None:
        self._say(message, notice=False)

    def _notice(self, message: IrcMessage) -> None:
        self._say(message, notice=True)

    def _say(self, message: IrcMessage, *, notice: bool) -> None:
        """PRIVMSG and NOTICE, to channels and users; a NOTICE is never answered with an error."""
        replies = self.replies
        if not message.params or not message.params[0]:
            if not notice:
                self.send(replies.no_recipient(message.command))
            return
        if len(message.params) < 2 or not message.params[1]:
            if not notice:
                self.send(replies.no_text_to_send())
            return
        text = message.params[1]
        for target in message.params[0].split(",")[:MAX_TARGETS]:
            if is_room_name(target):
                self._say_in_channel(target, text, notice=notice)
            else:
                self._say_to_user(target, text, notice=notice)

    def _say_in_channel(self, target: str, text: str, *, notice: bool) -> None:
        room = self.hub.room(target)
        if room is None:
            if not notice:
                self.send(self.replies.no_such_channel(target))
            return
        if room not in self.peer.rooms:
            if not notice:
                reason = "You must join the channel first (+n)"
                self.send(self.replies.cannot_send_to_channel(room.name, reason))
            return
        if self.moderation is not None:
            try:
                self.moderation.check_speak(self.peer, room)
            except ModerationError as exc:  # muted, or slow mode
                if not notice:
                    self.send(self.replies.cannot_send_to_channel(room.name, str(exc)))
                return
        ctcp = _ctcp(text)
        if ctcp is not None:
            command, argument = ctcp
            if command == "ACTION" and not notice:
                self._act(room, argument)
            return  # other CTCPs to a channel are not carried
        if not notice and text.startswith(SEARCH_TRIGGER):
            self._ask_ai(room, text.removeprefix(SEARCH_TRIGGER))
            return
        clean = sanitize_text(strip_formatting(text))
        if not clean.strip():
            return
        if notice:
            self._notice_in(room, clean)
        else:
            self.say_in(room, clean)

    def _notice_in(self, room: Room, text: str) -> None:
        """A channel NOTICE: a line to native members, a NOTICE to IRC members (ChannelNotice)."""
        self.peer.active_at = self.monotonic()
        event_id, ts = self.clock.stamp()
        notice = ChannelNotice(event_id, ts, self.nick, text, room.name)
        self.hub.publish(notice, room=room, exclude=self._not_echoed())

    def _act(self, room: Room, text: str) -> None:
        clean = sanitize_text(strip_formatting(text))
        if not clean.strip():
            return
        self.peer.active_at = self.monotonic()
        self.room = room
        event_id, ts = self.clock.stamp()
        action = Action(event_id, ts, self.nick, clean, room.name)
        self.hub.publish(action, room=room, exclude=self._not_echoed())

    def _ask_ai(self, room: Room, question: str) -> None:
        if self.search is None:
            self.notice("search is not available on this server")
            return
        question = sanitize_text(strip_formatting(question)).strip()
        if not question:
            self.notice("usage: !search QUESTION")
            return
        self.room = room
        self.peer.active_at = self.monotonic()
        self.search.request(self, question)

    def _ask_ai_privately(self, text: str) -> None:
        """``PRIVMSG AI :question``: answered to this user alone, as PRIVMSGs from AI."""
        if self.search is None:
            self.notice("search is not available on this server")
            return
        question = sanitize_text(strip_formatting(text)).strip()
        if not question:
            return
        self.peer.active_at = self.monotonic()
        self.search.request(
            self, question.removeprefix(SEARCH_TRIGGER).strip() or question, private=True
        )

    def _say_to_user(self, target: str, text: str, *, notice: bool) -> None:
        replies = self.replies
        if nick_key(target) == nick_key(AI_NICK):
            if not notice and _ctcp(text) is None:
                self._ask_ai_privately(text)
            return
        recipient = self.hub.find(target)
        if recipient is None or recipient.nick is None:
            if not notice:
                self.send(replies.no_such_nick(target))
            return
        self.peer.active_at = self.monotonic()
        ctcp = _ctcp(text)
        if recipient.rendering in IRC_RENDERINGS:
            self._relay(recipient, text, notice=notice)
        elif ctcp is not None:
            self._ctcp_for_native(recipient, *ctcp, notice=notice)
            return
        else:
            clean = sanitize_text(strip_formatting(text))
            if not clean.strip():
                return
            event_id, ts = self.clock.stamp()
            self.hub.send(recipient, PrivateMessage(event_id, ts, self.nick, recipient.nick, clean))
        if "echo-message" in self.capabilities and recipient is not self.peer:
            self._relay(recipient, text, notice=notice, to=self.peer)
        if not notice and ctcp is None and recipient.away is not None:
            self.send(replies.away(recipient.nick, recipient.away))

    def _relay(self, recipient: Peer, text: str, *, notice: bool, to: Peer | None = None) -> None:
        """A line from this user to another IRC user, as sent (CTCP and formatting kept).

        ``to`` is whom the line is written to: the recipient, or (for
        echo-message) this connection.
        """
        reader = to or recipient
        command = "NOTICE" if notice else "PRIVMSG"
        data = said_lines(mask(self.nick), command, recipient.nick or "*", _one_line(text))
        if reader.rendering is Rendering.IRC_TIME:
            data = with_time(data, datetime.fromtimestamp(self.wall_clock(), UTC))
        self.hub.send_raw(reader, data)

    def _ctcp_for_native(
        self, recipient: Peer, command: str, argument: str, *, notice: bool
    ) -> None:
        """A CTCP to a native user: an ACTION is said privately; a few queries tcpchat answers."""
        if notice:
            return  # a CTCP reply: native users asked nothing
        nick = recipient.nick or "*"
        if command == "ACTION":
            clean = sanitize_text(strip_formatting(argument))
            if clean.strip():
                event_id, ts = self.clock.stamp()
                text = f"* {self.nick} {clean}"
                self.hub.send(recipient, PrivateMessage(event_id, ts, self.nick, nick, text))
            return
        if command not in CTCP_ANSWERED:
            return
        answer = {
            "VERSION": f"{SERVER_INFO} {self.info.version} (a native tcpchat user)",
            "PING": argument,
            "TIME": datetime.fromtimestamp(self.wall_clock(), UTC).strftime(
                "%a, %d %b %Y %H:%M:%S UTC"
            ),
            "CLIENTINFO": " ".join(sorted(CTCP_ANSWERED | {"ACTION"})),
        }[command]
        reply = f"{CTCP_MARK}{command} {answer}".rstrip() + CTCP_MARK
        self.hub.send_raw(self.peer, said_lines(mask(nick), "NOTICE", self.nick, reply))

    def _mode(self, message: IrcMessage) -> None:
        replies = self.replies
        if not message.params or not message.params[0]:
            self.send(replies.need_more_params("MODE"))
            return
        target, changes = message.params[0], message.params[1:]
        if is_room_name(target):
            room = self.hub.room(target)
            if room is None:
                self.send(replies.no_such_channel(target))
            elif not changes or not changes[0].strip("+-"):
                self.send(replies.channel_mode_is(room.name))
            else:
                operators.change_modes(self, room, list(changes))
            return
        peer = self.hub.find(target)
        if peer is None:
            self.send(replies.no_such_nick(target))
        elif peer is not self.peer:
            self.send(replies.users_dont_match())
        elif not changes or not changes[0].strip("+-"):
            self.send(replies.umode_is(away=self.peer.away is not None))
        else:
            self.send(replies.umode_unknown_flag())  # +a is AWAY's to set

    def _ison(self, message: IrcMessage) -> None:
        if not message.params:
            self.send(self.replies.need_more_params("ISON"))
            return
        present = []
        for word in " ".join(message.params).split():
            peer = self.hub.find(word)
            if peer is not None and peer.nick is not None:
                present.append(peer.nick)
        self.send(*self.replies.ison(present))

    def _userhost(self, message: IrcMessage) -> None:
        if not message.params:
            self.send(self.replies.need_more_params("USERHOST"))
            return
        found = []
        for word in message.params[:MAX_USERHOST_NICKS]:
            peer = self.hub.find(word)
            if peer is not None and peer.nick is not None:
                here = "-" if peer.away is not None else "+"
                oper = "*" if self.moderation and self.moderation.is_server_operator(peer) else ""
                found.append(f"{peer.nick}{oper}={here}{peer.user or peer.nick}@{USER_HOST}")
        self.send(*self.replies.userhost(found))

    def _oper(self, message: IrcMessage) -> None:
        operators.oper(self, message)

    def _kick(self, message: IrcMessage) -> None:
        if len(message.params) < 2 or not message.params[1]:
            self.send(self.replies.need_more_params("KICK"))
            return
        name = message.params[0]
        room = self.hub.room(name) if is_room_name(name) else None
        if room is None:
            self.send(self.replies.no_such_channel(name))
            return
        operators.kick(self, message, room)

    def _motd(self, message: IrcMessage) -> None:
        self.send(*self.replies.motd(self.info.motd))

    def _tagmsg(self, message: IrcMessage) -> None:
        """Client-only tags alone (typing notifications): accepted, not relayed."""


def _ctcp(text: str) -> tuple[str, str] | None:
    """A CTCP message's command (upper-cased) and argument, or None for plain text."""
    if not text.startswith(CTCP_MARK):
        return None
    body = text[1:].removesuffix(CTCP_MARK)
    command, _, argument = body.partition(" ")
    return command.upper(), argument


def _one_line(text: str) -> str:
    """A client's text, relayed as it came, but never with NUL (which parsing refuses anyway)."""
    return text.replace("\0", "")


def _mask_matcher(mask_text: str) -> Callable[[str], bool]:
    """Whether a nickname matches an IRC mask (``*`` and ``?``), compared as nicknames are.

    ``*`` and ``0`` match everyone; a ``nick!user@host`` mask is matched on its nick.
    """
    nick_part = mask_text.split("!", 1)[0]
    if nick_part in ("*", "0", ""):
        return lambda nick: True
    pattern = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char)
        for char in nick_key(nick_part)
    )
    regex = re.compile(pattern, re.DOTALL)
    return lambda nick: regex.fullmatch(nick_key(nick)) is not None


COMMANDS: dict[str, Handler] = {
    "AWAY": IrcSession._away,
    "CAP": IrcSession._registration_command,
    "ISON": IrcSession._ison,
    "JOIN": IrcSession._join,
    "KICK": IrcSession._kick,
    "LIST": IrcSession._list,
    "MODE": IrcSession._mode,
    "MOTD": IrcSession._motd,
    "NAMES": IrcSession._names,
    "NICK": IrcSession._nick,
    "NOTICE": IrcSession._notice,
    "OPER": IrcSession._oper,
    "PART": IrcSession._part,
    "PASS": IrcSession._registration_command,
    "PING": IrcSession._ping,
    "PONG": IrcSession._pong,
    "PRIVMSG": IrcSession._privmsg,
    "QUIT": IrcSession._quit,
    "TAGMSG": IrcSession._tagmsg,
    "TOPIC": IrcSession._topic,
    "USER": IrcSession._registration_command,
    "USERHOST": IrcSession._userhost,
    "WHO": IrcSession._who,
    "WHOIS": IrcSession._whois,
}
