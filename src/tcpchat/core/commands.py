"""The slash commands, looked up in one table.

Each command is a plain function of the session and its argument. It answers
the sender alone unless it says otherwise, and never awaits: anything slow
(``/search``) is started and reported later as events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tcpchat.core import modcommands
from tcpchat.core.conversation import Conversation, HistoryService, SummaryScope
from tcpchat.core.errors import (
    CommandError,
    HistoryUnavailable,
    NickError,
    NoRoom,
    NotInRoom,
    RoomError,
    TopicTooLong,
)
from tcpchat.core.events import (
    Action,
    AwayReply,
    CurrentRoom,
    Join,
    NickChange,
    Part,
    PrivateMessage,
    RoomInfo,
    RoomList,
    Topic,
    UserList,
    Whois,
)
from tcpchat.core.hub import Room
from tcpchat.core.nicks import validate_nick
from tcpchat.core.protocol import CommandInput
from tcpchat.core.render import FORMATS, MAX_USERS_LISTED, Rendering
from tcpchat.core.rooms import MAX_AWAY_CHARS, is_room_name, room_key, validate_room
from tcpchat.core.sanitize import sanitize_text

#: What ``/topic -`` means: clear the topic.
CLEAR_TOPIC = "-"
#: Lines one ``/history`` shows when not told, and the most it may ask for.
HISTORY_PAGE = 20
MAX_HISTORY_PAGE = 100
#: The most messages, and minutes, one ``/summary`` may cover.
MAX_SUMMARY_MESSAGES = 100
MAX_SUMMARY_MINUTES = 7 * 24 * 60
NO_HISTORY = "this server keeps no history"

Handler = Callable[[Conversation, str], None]


@dataclass(frozen=True, slots=True)
class Command:
    """One slash command: how to call it, what it does, and whether it needs a nickname."""

    name: str
    usage: str
    summary: str
    handler: Handler
    before_registration: bool = False


def _help(session: Conversation, argument: str) -> None:
    width = max(len(command.usage) for command in COMMANDS)
    lines = ["Commands:"]
    if session.awaiting_password:
        lines.append(
            "  /pass PASSWORD".ljust(width + 2) + "  give the server password (asked first)"
        )
    lines += [f"  {command.usage.ljust(width)}  {command.summary}" for command in COMMANDS]
    lines.append("  //text".ljust(width + 2) + "  send a message that starts with '/'")
    session.notice("\n".join(lines))


def current_room(session: Conversation) -> Room:
    """The connection's current room; raise :class:`NoRoom` if it is in none."""
    if session.room is None:
        raise NoRoom("you are in no room; /join #room")
    return session.room


def _own_room(session: Conversation, name: str) -> Room:
    """The room ``name`` if the connection is in it; else raise :class:`NotInRoom`."""
    name = validate_room(name)
    room = session.hub.room(name)
    if room is None or room not in session.peer.rooms:
        raise NotInRoom(f"you are not in {name}; /join {name} first")
    return room


def _send_users(session: Conversation, room: Room, *, named: bool = True) -> None:
    """Tell the connection who is in ``room``. A room that keeps its joins quiet says
    how many (``members``), and, unless ``named`` (``/users``), no names: a joiner
    is told a count, not 10,000 names, as the welcome is."""
    # The default room, to a connection in it alone, is worded as before rooms.
    online = session.peer.rooms.keys() == {room} and room.key == room_key(
        session.rules.default_room
    )
    members = session.rules.count_if_quiet(len(room))
    event_id, ts = session.clock.stamp()
    if members and not named:
        users = UserList(event_id, ts, (), room.name, online=online, members=members)
    else:
        moderation = session.moderation
        operators = moderation.operators(room) if moderation is not None else ()
        names = room.names_for(session.peer)
        if len(names) > MAX_USERS_LISTED:
            # The most names one event may carry: the first of them, and the count, which
            # tells the client the list is not everyone.
            names, members = names[:MAX_USERS_LISTED], len(room)
        if len(names) < len(room):  # (a cluster's joiner not shown yet, or past the most)
            shown = set(names)
            operators = tuple(nick for nick in operators if nick in shown)
            away = tuple(nick for nick in room.away() if nick in shown)
        else:
            away = room.away()
        users = UserList(
            event_id,
            ts,
            names,
            room.name,
            away,
            online=online,
            operators=operators,
            members=members,
        )
    session.hub.send(session.peer, users)


def _send_current(session: Conversation) -> None:
    event_id, ts = session.clock.stamp()
    name = session.room.name if session.room is not None else None
    session.hub.send(session.peer, CurrentRoom(event_id, ts, name))


def _send_topic(session: Conversation, room: Room) -> None:
    event_id, ts = session.clock.stamp()
    topic = Topic(event_id, ts, room.name, room.topic_by, room.topic, changed=False)
    session.hub.send(session.peer, topic)


def _users(session: Conversation, argument: str) -> None:
    name = argument.strip()
    if not name:
        _send_users(session, current_room(session))
        return
    room = session.hub.room(validate_room(name))
    if room is None:
        raise CommandError(f"there is no room {sanitize_text(name)}; /rooms lists them")
    _send_users(session, room)


def _join(session: Conversation, argument: str) -> None:
    if not argument.strip():
        raise CommandError("usage: /join #ROOM")
    name = validate_room(argument)
    room = session.hub.room(name)
    if room is None or room not in session.peer.rooms:
        created = room is None
        if session.moderation is not None:
            session.moderation.check_join(session.nick, name)  # Banned
        room = session.hub.join_room(session.peer, name)
        if session.moderation is not None:
            session.moderation.joined(session.peer, room, created=created)
        event_id, ts = session.clock.stamp()
        # The joiner is told too: it is how a client learns the join worked.
        session.hub.publish(Join(event_id, ts, session.nick, room.name), room=room)
        if room.topic:
            _send_topic(session, room)
        _send_users(session, room, named=False)
    session.room = room
    _send_current(session)


def _part(session: Conversation, argument: str) -> None:
    argument = argument.strip()
    if is_room_name(argument):
        name, _, reason = argument.partition(" ")
        room = _own_room(session, name)
    else:
        room, reason = current_room(session), argument
    event_id, ts = session.clock.stamp()
    part = Part(event_id, ts, session.nick, room.name, sanitize_text(reason).strip())
    session.hub.publish(part, room=room)
    session.hub.part_room(session.peer, room)
    if session.room is room:
        # As on IRC clients: the room joined most recently of those left becomes current.
        remaining = list(session.peer.rooms)
        session.room = remaining[-1] if remaining else None
        _send_current(session)


def _rooms(session: Conversation, argument: str) -> None:
    rooms = tuple(RoomInfo(room.name, len(room), room.topic) for room in session.hub.rooms())
    event_id, ts = session.clock.stamp()
    session.hub.send(session.peer, RoomList(event_id, ts, rooms))


def _topic(session: Conversation, argument: str) -> None:
    room = current_room(session)
    text = sanitize_text(argument).strip()
    if not text:
        _send_topic(session, room)
        return
    if text == CLEAR_TOPIC:
        text = ""
    most = session.rules.max_topic_chars
    if len(text) > most:
        raise TopicTooLong(f"a topic is at most {most:,} characters long")
    session.hub.set_topic(room, text, session.nick)
    event_id, ts = session.clock.stamp()
    session.hub.publish(Topic(event_id, ts, room.name, session.nick, text, changed=True), room=room)


def _whois(session: Conversation, argument: str) -> None:
    target = argument.strip()
    if not target:
        raise CommandError("usage: /whois NICK")
    peer = session.hub.find(target)
    if peer is None or peer.nick is None:
        raise CommandError(f"there is no user called {sanitize_text(target)!r}; see /users")
    now = session.monotonic()
    rooms = tuple(room.name for room in peer.rooms)
    connected, idle = int(now - peer.connected_at), int(now - peer.active_at)
    moderation = session.moderation
    server_operator = moderation is not None and moderation.is_server_operator(peer)
    operator_in = moderation.operator_rooms(peer) if moderation is not None else ()
    event_id, ts = session.clock.stamp()
    whois = Whois(
        event_id,
        ts,
        peer.nick,
        rooms,
        max(connected, 0),
        max(idle, 0),
        peer.away,
        server_operator,
        operator_in,
    )
    session.hub.send(session.peer, whois)


def _away(session: Conversation, argument: str) -> None:
    text = sanitize_text(argument).strip()
    if not text:
        session.hub.set_away(session.peer, None)
        session.notice("you are no longer marked as away")
        return
    if len(text) > MAX_AWAY_CHARS:
        raise CommandError(f"an away message is at most {MAX_AWAY_CHARS} characters long")
    session.hub.set_away(session.peer, text)
    session.notice(f"you are marked as away: {text}")


def _nick(session: Conversation, argument: str) -> None:
    if not argument:
        raise CommandError("usage: /nick NEWNAME")
    if not session.registered:
        session.register(argument)
        return
    new = validate_nick(argument)
    old = session.nick
    if new == old:
        raise CommandError(f"you are already {old}")
    session.hub.rename(session.peer, new)
    event_id, ts = session.clock.stamp()
    # The sender is told too: it is how a client learns its own new name. Everyone
    # sharing a room with it is told once, however many rooms they share.
    session.hub.announce(NickChange(event_id, ts, old, new), about=session.peer)


def _exit(session: Conversation, argument: str) -> None:
    session.notice("Goodbye!")
    session.end("quit")


def _msg(session: Conversation, argument: str) -> None:
    target, _, text = argument.partition(" ")
    text = sanitize_text(text.strip())
    if not target or not text.strip():
        raise CommandError("usage: /msg NICK TEXT")
    if is_room_name(target):
        # Said in one of its rooms, as IRC's PRIVMSG #room, without changing the current one.
        session.say_in(_own_room(session, target), text)
        return
    recipient = session.hub.find(target)
    if recipient is None or recipient.nick is None:
        raise CommandError(f"there is no user called {sanitize_text(target)!r}; see /users")
    session.peer.active_at = session.monotonic()
    event_id, ts = session.clock.stamp()
    event = PrivateMessage(event_id, ts, session.nick, recipient.nick, text)
    session.hub.send(recipient, event)
    if recipient is not session.peer:
        session.hub.send(session.peer, event)  # the sender's copy confirms delivery
    if recipient.away is not None:
        event_id, ts = session.clock.stamp()
        session.hub.send(session.peer, AwayReply(event_id, ts, recipient.nick, recipient.away))


def _me(session: Conversation, argument: str) -> None:
    text = sanitize_text(argument)
    if not text.strip():
        raise CommandError("usage: /me ACTION")
    room = current_room(session)
    if session.moderation is not None:
        session.moderation.check_speak(session.peer, room)  # Muted, SlowMode
    session.peer.active_at = session.monotonic()
    event_id, ts = session.clock.stamp()
    action = Action(event_id, ts, session.nick, text, room.name)
    session.hub.publish(action, room=room, exclude=session.peer)


def _search(session: Conversation, argument: str) -> None:
    if session.search is None:
        raise CommandError("search is not available on this server")
    question = sanitize_text(argument).strip()
    if not question:
        raise CommandError("usage: /search QUESTION")
    room = current_room(session)  # the answer goes to the room where it was asked
    if session.moderation is not None:
        session.moderation.check_speak(session.peer, room)  # the question is said there
    session.peer.active_at = session.monotonic()
    session.search.request(session, question)


def _history_service(session: Conversation) -> HistoryService:
    if session.history is None:
        raise HistoryUnavailable(NO_HISTORY)
    return session.history


def _history(session: Conversation, argument: str) -> None:
    text = argument.strip()
    if not text:
        count = HISTORY_PAGE
    elif text.isdecimal() and 1 <= int(text) <= MAX_HISTORY_PAGE:
        count = int(text)
    else:
        raise CommandError(f"usage: /history [N], N from 1 to {MAX_HISTORY_PAGE}")
    current_room(session)
    _history_service(session).page(session, count)


def _find(session: Conversation, argument: str) -> None:
    words = sanitize_text(argument).strip()
    if not words:
        raise CommandError("usage: /find WORDS")
    current_room(session)
    _history_service(session).find(session, words)


def _seen(session: Conversation, argument: str) -> None:
    nick = sanitize_text(argument).strip()
    if not nick or " " in nick:
        raise CommandError("usage: /seen NICK")
    _history_service(session).seen(session, nick)


def summary_scope(argument: str) -> SummaryScope:
    """``/summary``'s argument: nothing, a number of messages, or minutes (``30m``) or
    hours (``2h``); CommandError for anything else."""
    text = argument.strip().lower()
    usage = (
        f"usage: /summary [N | 30m | 2h]: the last N messages (at most "
        f"{MAX_SUMMARY_MESSAGES}), or those of the last minutes or hours"
    )
    if not text:
        return SummaryScope()
    if text.isdecimal():
        if not 1 <= int(text) <= MAX_SUMMARY_MESSAGES:
            raise CommandError(usage)
        return SummaryScope(count=int(text))
    number, unit = text[:-1], text[-1:]
    if unit in ("m", "h") and number.isdecimal():
        minutes = int(number) * (60 if unit == "h" else 1)
        if 1 <= minutes <= MAX_SUMMARY_MINUTES:
            return SummaryScope(minutes=minutes)
    raise CommandError(usage)


def _summary(session: Conversation, argument: str) -> None:
    scope = summary_scope(argument)
    if session.search is None:
        raise CommandError("search is not available on this server")
    current_room(session)
    session.peer.active_at = session.monotonic()
    _history_service(session).summary(session, scope)


def _format(session: Conversation, argument: str) -> None:
    rendering = FORMATS.get(argument.strip().lower())
    if rendering is None:
        raise CommandError("usage: /format text|json")
    if session.peer.json_only and rendering is not Rendering.JSON:
        raise CommandError("this connection speaks JSON only (it is a WebSocket)")
    session.peer.rendering = rendering
    session.notice(f"format: {rendering.name.lower()}")


COMMANDS: tuple[Command, ...] = (
    Command("help", "/help", "list the commands", _help, before_registration=True),
    Command("users", "/users [#ROOM]", "list who is in this room (or in #ROOM)", _users),
    Command("nick", "/nick NEWNAME", "change your nickname", _nick, before_registration=True),
    Command("msg", "/msg NICK TEXT", "send a private message to one user (#ROOM: to a room)", _msg),
    Command("me", "/me ACTION", "describe an action: * you ACTION", _me),
    Command("join", "/join #ROOM", "join a room (made if new) and talk in it", _join),
    Command("part", "/part [#ROOM] [REASON]", "leave this room (or #ROOM)", _part),
    Command("rooms", "/rooms", "list the rooms, with their topics", _rooms),
    Command("topic", "/topic [TEXT|-]", "show, set or (-) clear this room's topic", _topic),
    Command("whois", "/whois NICK", "someone's rooms, time connected and idle, away", _whois),
    Command("away", "/away [MESSAGE]", "mark yourself away (no message: back)", _away),
    Command("search", "/search QUESTION", "ask the AI; the room sees the answer", _search),
    Command("history", "/history [N]", "show N older lines of this room (at most 100)", _history),
    Command("find", "/find WORDS", 'search this room\'s history ("a phrase", pre*, -not)', _find),
    Command("seen", "/seen NICK", "when NICK last spoke or left, and where", _seen),
    Command(
        "summary",
        "/summary [N|30m]",
        "the AI sums up what you missed here, for you alone",
        _summary,
    ),
    Command(
        "format",
        "/format text|json",
        "choose how events are written to you",
        _format,
        before_registration=True,
    ),
    Command("exit", "/exit", "leave the chat (also /quit)", _exit, before_registration=True),
    # Moderation (core/modcommands.py): refused, with a code, to those who may not.
    Command("oper", "/oper PASSWORD", "become a server operator", modcommands.oper),
    Command("op", "/op NICK", "make NICK an operator of this room", modcommands.op),
    Command("deop", "/deop NICK", "take NICK's operator status here", modcommands.deop),
    Command("kick", "/kick NICK [REASON]", "put NICK out of this room", modcommands.kick),
    Command(
        "ban",
        "/ban NICK|IP|CIDR [30s|10m|2h|7d] [REASON]",
        "ban NICK from this room, or addresses from the server",
        modcommands.ban,
    ),
    Command("unban", "/unban NICK|IP|CIDR", "lift a ban", modcommands.unban),
    Command("mute", "/mute NICK [DURATION] [REASON]", "NICK may not speak here", modcommands.mute),
    Command("unmute", "/unmute NICK", "NICK may speak here again", modcommands.unmute),
    Command(
        "slow", "/slow [SECONDS]", "slow mode: one line per SECONDS each (0: off)", modcommands.slow
    ),
    Command(
        "bans", "/bans", "list this room's bans (and the server's, to operators)", modcommands.bans
    ),
)

_ALIASES = {"quit": "exit"}

#: The names that leave a chat, in the room, the 1:1 chat and the client alike.
LEAVE_COMMANDS = frozenset({"exit", *(alias for alias, name in _ALIASES.items() if name == "exit")})
_BY_NAME = {command.name: command for command in COMMANDS}


def find_command(name: str) -> Command | None:
    """The command called ``name`` (lower case, without the slash), aliases included."""
    return _BY_NAME.get(_ALIASES.get(name, name))


def dispatch(session: Conversation, command_input: CommandInput) -> None:
    """Run one command line for ``session``; a misuse becomes an error to the sender."""
    command = find_command(command_input.name)
    if command is None:
        name = sanitize_text(command_input.name)[:40]
        session.error("unknown_command", f"unknown command /{name}; type /help for the list")
        return
    if not (session.registered or command.before_registration):
        session.error("not_registered", "choose a nickname first (a bare name or /nick NAME)")
        return
    try:
        command.handler(session, command_input.argument)
    except (CommandError, NickError, RoomError, HistoryUnavailable) as exc:
        session.fail(exc)
