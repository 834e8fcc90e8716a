"""Events to wire lines, in the two renderings, and JSON lines back to events.

* **Text** (the default) is for people on ``nc`` or ``telnet``:
  ``[14:03:22] <alice> hello``, with system lines marked ``***`` and errors ``!!!``.
* **JSON lines** is for programs, the official client among them: one object per
  event, with ``type``, ``id``, ``ts`` (ISO 8601, UTC) and the event's fields.
  A browser gets the same objects, each as one WebSocket text frame instead of
  a line (``Rendering.WEBSOCKET``).

Both are pure functions of the event, so the hub encodes each event once per
rendering and sends the same bytes to everyone.

The wording of the text rendering (:func:`system_lines`, :func:`users_online`,
:func:`welcome_line`, :func:`source_lines`, the marks and the time stamp) is
also what the terminal client shows: :mod:`tcpchat.tui.display` adds styles to it.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import MISSING, fields
from datetime import UTC, datetime, tzinfo
from typing import Any, assert_never

from tcpchat.core.errors import RemoteProtocolError
from tcpchat.core.events import (
    EVENT_TYPES,
    MODE_CHANGES,
    Action,
    AIAnswer,
    AIDelta,
    AwayReply,
    BanInfo,
    BanList,
    CurrentRoom,
    Error,
    Event,
    Found,
    HistoryEnd,
    Hit,
    Join,
    Kick,
    Leave,
    Message,
    ModeChange,
    NickChange,
    Notice,
    Part,
    PrivateMessage,
    RoomInfo,
    RoomList,
    SearchFailed,
    SearchStarted,
    Seen,
    Shutdown,
    Topic,
    UserList,
    Welcome,
    Whois,
)
from tcpchat.core.frames import text_frame
from tcpchat.core.nicks import AI_NICK, MAX_NICK_LENGTH


class Rendering(enum.IntEnum):
    """How events are written to a connection.

    A connection chooses ``TEXT`` or ``JSON`` (``/format``, see :data:`FORMATS`).
    ``TEXT_ROOMS`` is the text a connection in more than one room gets: every
    room line names its room after the time, ``[14:03:22] #dev <alice> hello``.
    The hub picks it by the member's room count, never the member.

    ``IRC`` and ``IRC_TIME`` are the IRC front door's (``:alice!alice@tcpchat
    PRIVMSG #lobby :hello``; ``IRC_TIME`` with the ``time`` tag, for clients
    that negotiated ``server-time``). The core does not write IRC: the hub is
    handed the IRC encoder by the server (:mod:`tcpchat.server.irc`);
    :func:`encode` knows all but these two.

    ``WEBSOCKET`` is the JSON rendering of a browser member: each event's
    object is one unmasked WebSocket text frame rather than a line
    (:mod:`tcpchat.core.frames`), so the bytes the hub hands a room's browsers
    are frames already. The hub picks it for a connection whose door frames
    JSON (``Peer.json_only``), never the connection.
    """

    TEXT = 0
    JSON = 1
    TEXT_ROOMS = 2
    IRC = 3
    IRC_TIME = 4
    WEBSOCKET = 5


#: The renderings a connection may choose, by the name ``/format`` takes.
FORMATS = {"text": Rendering.TEXT, "json": Rendering.JSON}


#: How a system line (joins, notices, who is online...) starts, after the time.
SYSTEM_MARK = "***"
#: How an error line starts, after the time.
ERROR_MARK = "!!!"
#: How a private message starts, after the time.
PRIVATE_MARK = "[private]"
#: The second line of the welcome in the text rendering. The terminal client
#: words its own, since it also completes nicknames with Tab.
WELCOME_HINT = "Type a message and press Enter to chat; /help lists the commands."

#: The events shown as system lines, worded by :func:`system_lines`. (The welcome
#: is one too, but its second line differs: see :func:`welcome_line`.)
SystemEvent = (
    Join
    | Leave
    | NickChange
    | UserList
    | Notice
    | SearchStarted
    | SearchFailed
    | Part
    | Topic
    | CurrentRoom
    | RoomList
    | Whois
    | AwayReply
    | HistoryEnd
    | Found
    | Seen
    | Shutdown
    | Kick
    | ModeChange
    | BanList
)
#: The events said in a room, which name it in ``TEXT_ROOMS``; a topic change is one too.
RoomEvent = (
    Message
    | Action
    | Join
    | Part
    | Topic
    | SearchStarted
    | SearchFailed
    | AIAnswer
    | HistoryEnd
    | Kick
    | ModeChange
)
#: The events that may be replayed from a room's history (``history`` is true).
HistoryEvent = Message | Action | Topic | SearchStarted | AIAnswer
#: What marks an operator in lists of members (``/users``) and of rooms (``/whois``).
OPERATOR_MARK = "@"


def text_lines(event: Event, tz: tzinfo | None = None, *, rooms: bool = False) -> list[str]:
    """The text rendering of ``event``: the lines a person reads, without newlines.

    Times are shown in ``tz`` (default: the local time zone of the machine rendering).
    With ``rooms`` (the reader is in more than one room), a line said in a room
    names it after the time. An event that has no text form (a streamed piece of an
    AI answer) gives no lines.
    """
    if isinstance(event, HistoryEvent) and event.history:
        stamp = history_timestamp(event.ts, tz)
    else:
        stamp = timestamp(event.ts, tz)
    if rooms and room_of(event):
        stamp = f"{stamp}{room_of(event)} "
    match event:
        case Message(nick=nick, text=text):
            return [f"{stamp}<{nick}> {text}"]
        case Action(nick=nick, text=text):
            return [f"{stamp}* {nick} {text}"]
        case PrivateMessage(nick=nick, recipient=recipient, text=text):
            return [f"{stamp}{PRIVATE_MARK} {nick} -> {recipient}: {text}"]
        case Welcome(nick=nick, users=users, members=members):
            return [
                f"{stamp}{SYSTEM_MARK} {welcome_line(nick, users, members)}",
                f"{stamp}{SYSTEM_MARK} {WELCOME_HINT}",
            ]
        case (
            Join()
            | Leave()
            | NickChange()
            | UserList()
            | Notice()
            | SearchStarted()
            | SearchFailed()
            | Part()
            | Topic()
            | CurrentRoom()
            | RoomList()
            | Whois()
            | AwayReply()
            | HistoryEnd()
            | Found()
            | Seen()
            | Shutdown()
            | Kick()
            | ModeChange()
            | BanList()
        ):
            return [f"{stamp}{SYSTEM_MARK} {line}" for line in system_lines(event, tz=tz)]
        case Error(text=text):
            return [f"{stamp}{ERROR_MARK} {line}" for line in text.split("\n")]
        case AIDelta():
            return []
        case AIAnswer(text=text, sources=sources):
            return [
                f"{stamp}<{AI_NICK}> {line}" for line in [*text.split("\n"), *source_lines(sources)]
            ]
    raise AssertionError(f"no text rendering for {event!r}")  # pragma: no cover


def room_of(event: Event) -> str:
    """The room ``event`` was said in, for its line in ``TEXT_ROOMS`` ("" if none).

    A topic that answers ``/topic`` names its room in its words already.
    """
    match event:
        case Topic(changed=False):
            return ""
        case Message() | Action() | Join() | Part() | Topic() | SearchStarted():
            return event.room
        case SearchFailed() | AIAnswer() | HistoryEnd() | Kick() | ModeChange():
            return event.room
    return ""


def timestamp(ts: datetime, tz: tzinfo | None = None) -> str:
    """``ts`` as the stamp that starts each line, ``[14:03:22] ``, in the time zone ``tz``.

    Converting time zones is slow and a busy room stamps thousands of events a
    second, so the stamp is made once per second.
    """
    return _timestamp_of_second(int(ts.timestamp() // 1), tz)


def history_timestamp(ts: datetime, tz: tzinfo | None = None) -> str:
    """The stamp of a replayed line: ``[14:03:22] `` today, ``[2026-05-01 14:03:22] `` before.

    "Today" is the reader's (the time zone ``tz``), at the time of rendering.
    """
    local = ts.astimezone(tz)
    if local.date() == datetime.now(tz).date():
        return timestamp(ts, tz)
    return local.strftime("[%Y-%m-%d %H:%M:%S] ")


def when(ts: datetime, tz: tzinfo | None = None) -> str:
    """A moment of history as people read it: ``2026-05-01 14:03``, in the time zone ``tz``."""
    return ts.astimezone(tz).strftime("%Y-%m-%d %H:%M")


@functools.lru_cache(maxsize=256)
def _timestamp_of_second(second: int, tz: tzinfo | None) -> str:
    return datetime.fromtimestamp(second, tz).strftime("[%H:%M:%S] ")


def _as_is(text: str) -> str:
    return text


def system_lines(
    event: SystemEvent, clean: Callable[[str], str] = _as_is, *, tz: tzinfo | None = None
) -> list[str]:
    """What a system event says, one string per line, without the time or the mark.

    ``clean`` is applied to every text the event carries (to each line of a
    multi-line one) before it is put into words: the client passes
    :func:`~tcpchat.core.sanitize.sanitize_text`. The default leaves the texts as they
    are, as the text rendering wants: the server sanitised remote text on arrival.
    Times of history (``/find``, ``/seen``) are shown in ``tz`` (default: local).
    """
    match event:
        case Join(nick=nick):
            return [f"{clean(nick)} joined"]
        case Leave(nick=nick, reason=reason):
            return [f"{clean(nick)} left ({clean(reason)})"]
        case NickChange(old=old, new=new):
            return [f"{clean(old)} is now known as {clean(new)}"]
        case UserList(users=users, room=room, away=away, online=online, operators=operators):
            listed = users_in(room, users, away, online=online, clean=clean, operators=operators)
            if len(users) < event.members:
                listed = users_counted(event.members, clean(room), online=online)
            return [listed]
        case Notice(text=text):
            return [clean(line) for line in text.split("\n")]
        case SearchStarted(nick=nick, question=question):
            return [f"{clean(nick)} asked the AI: {clean(question)}"]
        case SearchFailed(nick=nick):
            return [f"the AI could not answer {clean(nick)}'s question"]
        case Part(nick=nick, reason=reason):
            because = f" ({clean(reason)})" if reason else ""
            return [f"{clean(nick)} left the room{because}"]
        case Topic(room=room, nick=nick, text=text, changed=True):
            if not text:
                return [f"{clean(nick)} cleared the topic"]
            return [f"{clean(nick)} set the topic: {clean(text)}"]
        case Topic(room=room, nick=nick, text=text):
            if not text:
                return [f"{clean(room)} has no topic"]
            by = f" (set by {clean(nick)})" if nick else ""
            return [f"topic of {clean(room)}: {clean(text)}{by}"]
        case CurrentRoom(room=None):
            return ["you are in no room; /join #room to talk"]
        case CurrentRoom(room=room):
            return [f"you are now talking in {clean(room or '')}"]
        case RoomList(rooms=rooms):
            return [count(len(rooms), "room") + ":", *(room_line(info, clean) for info in rooms)]
        case Whois(nick=nick, rooms=rooms, connected=connected, idle=idle, away=away):
            ops = frozenset(event.operator_in)
            marked = [(OPERATOR_MARK if room in ops else "") + clean(room) for room in rooms]
            where = ", ".join(marked) if rooms else "no room"
            line = (
                f"{clean(nick)}: in {where}; connected {duration(connected)}; idle {duration(idle)}"
            )
            line += f"; away: {clean(away)}" if away is not None else ""
            return [line + ("; server operator" if event.server_operator else "")]
        case AwayReply(nick=nick, text=text):
            return [f"{clean(nick)} is away: {clean(text)}"]
        case HistoryEnd(room=room, count=0):
            return [f"no older history in {clean(room)}"]
        case HistoryEnd(more=True):
            return ["end of history; /history for more"]
        case HistoryEnd():
            return ["end of history; nothing older is kept"]
        case Found(room=room, words=words, hits=()):
            return [f"no line of {clean(room)} matches {clean(words)}"]
        case Found(room=room, words=words, hits=hits):
            verb = "match" if len(hits) > 1 else "matches"
            head = f"{count(len(hits), 'line')} of {clean(room)} {verb} {clean(words)}:"
            return [head, *(f"  {hit_line(hit, clean, tz)}" for hit in hits)]
        case Seen():
            return [seen_line(event, clean, tz)]
        case Shutdown(text=text):
            return [clean(text)]
        case Kick(nick=nick, target=target, room=room, reason=reason):
            because = f" ({clean(reason)})" if reason else ""
            return [f"{clean(nick)} kicked {clean(target)} out of {clean(room)}{because}"]
        case ModeChange():
            return [mode_line(event, clean)]
        case BanList(room=room, bans=bans):
            where = f" in {clean(room)}" if room else ""
            if not bans:
                return [f"no bans{where}"]
            return [f"{count(len(bans), 'ban')}{where}:", *(ban_line(ban, clean) for ban in bans)]
        case _:  # pragma: no cover
            assert_never(event)


def hit_line(hit: Hit, clean: Callable[[str], str] = _as_is, tz: tzinfo | None = None) -> str:
    """One line ``/find`` found: ``[2026-05-01 14:03] <alice> we deploy on friday``."""
    nick, text = clean(hit.nick), " ".join(clean(line) for line in hit.text.split("\n"))
    match hit.kind:
        case "action":
            said = f"* {nick} {text}"
        case "topic":
            said = f"{nick} set the topic: {text}"
        case "search":
            said = f"{nick} asked the AI: {text}"
        case "ai":
            said = f"<{AI_NICK}> {text}"
        case _:
            said = f"<{nick}> {text}"
    return f"[{when(hit.ts, tz)}] {said}"


def seen_line(seen: Seen, clean: Callable[[str], str] = _as_is, tz: tzinfo | None = None) -> str:
    """The answer to ``/seen``: ``alice was last seen in #dev 2026-05-01 14:03 (2h 5m ago),
    saying: hello``; ``; online now`` when someone has the nickname now."""
    nick = clean(seen.nick)
    online = "; online now" if seen.online else ""
    if seen.at is None:
        return f"{nick} has not been seen here{online}"
    ago = duration(int((seen.ts - seen.at).total_seconds()))
    moment = f"{when(seen.at, tz)} ({ago} ago)"
    if seen.did == "left":
        why = f": {clean(seen.text)}" if seen.text else ""
        return f"{nick} was last seen leaving {clean(seen.room)} {moment}{why}{online}"
    text = " ".join(clean(line) for line in seen.text.split("\n"))
    match seen.did:
        case "action":
            doing = f": * {nick} {text}"
        case "topic":
            doing = f", setting the topic: {text}"
        case "search":
            doing = f", asking the AI: {text}"
        case _:
            doing = f", saying: {text}"
    return f"{nick} was last seen in {clean(seen.room)} {moment}{doing}{online}"


def mode_line(event: ModeChange, clean: Callable[[str], str] = _as_is) -> str:
    """What a change of a room's moderation says: ``alice muted bob in #dev for 10m``."""
    nick, target, room = clean(event.nick), clean(event.target), clean(event.room)
    because = f" ({clean(event.reason)})" if event.reason else ""
    lasting = f"for {duration(event.seconds)}" if event.seconds else "for good"
    match event.change:
        case "op" if not nick:  # the server tells how the room stands
            return f"{target} is an operator of {room}"
        case "deop" if not nick:
            return f"{target} is not an operator of {room}"
        case "op":
            return f"{nick} made {target} an operator of {room}"
        case "deop":
            return f"{nick} removed {target} as an operator of {room}"
        case "mute":
            return f"{nick} muted {target} in {room} {lasting}{because}"
        case "unmute":
            return f"{nick} unmuted {target} in {room}"
        case "slow" if event.seconds:
            return f"{nick} set slow mode in {room}: one line per {duration(event.seconds)}"
        case "slow":
            return f"{nick} turned slow mode off in {room}"
        case "ban":
            where = room or "the server"
            return f"{nick} banned {target} from {where} {lasting}{because}"
        case "unban":
            where = room or "the server"
            return f"{nick} lifted the ban on {target} from {where}"
    return f"{nick} changed {clean(event.change)} {target} in {room}".rstrip()


def ban_line(ban: BanInfo, clean: Callable[[str], str] = _as_is) -> str:
    """One ban in ``/bans``: ``  bob in #dev, by alice, 1h 59m left: spam``."""
    where = clean(ban.room) if ban.room else "the server"
    left = "for good" if ban.expires_in is None else f"{duration(ban.expires_in)} left"
    line = f"  {clean(ban.target)} from {where}, by {clean(ban.by)}, {left}"
    return f"{line}: {clean(ban.reason)}" if ban.reason else line


def count(number: int, noun: str) -> str:
    """``1 room``, ``3 rooms``."""
    return f"1 {noun}" if number == 1 else f"{number} {noun}s"


def users_in(
    room: str,
    users: Iterable[str],
    away: Iterable[str] = (),
    *,
    online: bool = False,
    clean: Callable[[str], str] = _as_is,
    operators: Iterable[str] = (),
) -> str:
    """Who is in ``room``, with operator and away marks: ``2 users in #dev: @alice, bob (away)``.

    With ``online`` (the default room, told to a connection in it alone), in the
    words from before rooms: ``2 users online: alice, bob``.
    """
    away_keys = frozenset(away)
    ops = frozenset(operators)
    names = [
        (OPERATOR_MARK if user in ops else "")
        + clean(user)
        + (" (away)" if user in away_keys else "")
        for user in users
    ]
    if online or not room:
        return users_online(names)
    return f"{count(len(names), 'user')} in {clean(room)}: {', '.join(names)}"


def room_line(info: RoomInfo, clean: Callable[[str], str] = _as_is) -> str:
    """One room in ``/rooms``: ``  #dev (3 users): topic``."""
    line = f"  {clean(info.name)} ({count(info.members, 'user')})"
    return f"{line}: {clean(info.topic)}" if info.topic else line


def duration(seconds: int) -> str:
    """A span of time in its two largest units: ``5s``, ``3m 2s``, ``2h 3m``, ``4d 1h``."""
    minutes, secs = divmod(max(seconds, 0), 60)
    hours, mins = divmod(minutes, 60)
    days, hrs = divmod(hours, 24)
    if days:
        return f"{days}d {hrs}h"
    if hours:
        return f"{hours}h {mins}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def users_online(users: Iterable[str]) -> str:
    """Who is in the room, counted and named: ``2 users online: alice, bob``."""
    names = list(users)
    count = "1 user" if len(names) == 1 else f"{len(names)} users"
    return f"{count} online: {', '.join(names)}"


def users_counted(members: int, room: str = "", *, online: bool = False) -> str:
    """Who is in a room too big to name everyone on joining: its count, and how to list
    them: ``1,234 users online; /users lists them``, ``1,234 users in #big; /users #big
    lists them``."""
    if online or not room:
        return f"{members:,} users online; /users lists them"
    return f"{members:,} users in {room}; /users {room} lists them"


def welcome_line(nick: str, users: Iterable[str], members: int = 0) -> str:
    """The first line of the welcome: ``Welcome, alice! 2 users online: alice, bob``;
    with ``members`` and no names (a big room), ``Welcome, alice! 1,234 users online;
    /users lists them``."""
    names = list(users)
    if len(names) < members:
        return f"Welcome, {nick}! {users_counted(members)}"
    return f"Welcome, {nick}! {users_online(names)}"


def source_lines(sources: Sequence[str]) -> list[str]:
    """The lines under an AI answer that list its sources, numbered from 1 (none if none)."""
    if not sources:
        return []
    return ["Sources:", *(f"[{number}] {url}" for number, url in enumerate(sources, 1))]


def to_json(event: Event) -> dict[str, Any]:
    """The JSON rendering of ``event`` as a dict: ``type``, then the event's fields."""
    document: dict[str, Any] = {"type": event.kind}
    for name in _FIELD_NAMES[type(event)]:
        value = getattr(event, name)
        if name == "history" and not value:
            continue  # only replayed lines say so: live lines are as they were
        if name == "members" and not value:
            continue  # only a big room's list says so: others are as they were

        if isinstance(value, datetime):
            value = json_time(value)
        elif isinstance(value, tuple):
            value = [_json_item(item) for item in value]
        document[name] = value
    return document


# The names of each event's fields, in order.
_FIELD_NAMES: dict[type[Event], tuple[str, ...]] = {
    cls: tuple(field.name for field in fields(cls)) for cls in EVENT_TYPES
}


def _json_item(item: Any) -> Any:
    if isinstance(item, RoomInfo):
        return {"name": item.name, "members": item.members, "topic": item.topic}
    if isinstance(item, Hit):
        return {
            "id": item.id,
            "ts": json_time(item.ts),
            "kind": item.kind,
            "nick": item.nick,
            "text": item.text,
        }
    if isinstance(item, BanInfo):
        return {
            "target": item.target,
            "room": item.room,
            "by": item.by,
            "reason": item.reason,
            "expires_in": item.expires_in,
        }
    return item


#: An encoder of events for the wire: :func:`encode`, or one that also writes IRC.
Encoder = Callable[[Event, Rendering], bytes]


#: The last time :func:`json_time` wrote, and what it wrote. A cluster node stamps every
#: event of a millisecond with one datetime (``ClusterClock``): a busy room's events then
#: have their time written once, not once each (an ``isoformat`` costs about 2 µs).
_last_json_time: tuple[datetime | None, str] = (None, "")


def json_time(ts: datetime) -> str:
    """An event's time as its JSON rendering writes it: ISO 8601, to the millisecond, in Z."""
    global _last_json_time
    last, text = _last_json_time
    if ts is last:
        return text
    text = ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    _last_json_time = (ts, text)
    return text


def encode(event: Event, rendering: Rendering) -> bytes:
    """``event`` as bytes for the wire, each line ending in ``\\n`` (in ``WEBSOCKET``: one
    text frame); may be empty."""
    if rendering is Rendering.JSON:
        return (json.dumps(to_json(event), ensure_ascii=False) + "\n").encode()
    if rendering is Rendering.WEBSOCKET:
        return text_frame(json.dumps(to_json(event), ensure_ascii=False).encode())
    lines = text_lines(event, rooms=rendering is Rendering.TEXT_ROOMS)
    return "".join(line + "\n" for line in lines).encode()


_TYPES_BY_KIND: dict[str, type[Event]] = {cls.kind: cls for cls in EVENT_TYPES}

#: Largest event id or search id accepted (ids are positive 64-bit counters).
MAX_EVENT_ID = 2**63 - 1
#: Most names in a list of users (and items in any other list, rooms among them), and
#: most sources under an AI answer, that an event may carry.
MAX_USERS_LISTED = 10_000
#: Longest room name in characters: "#" and 32 more (see tcpchat.core.rooms).
MAX_ROOM_CHARS = 1 + MAX_NICK_LENGTH
MAX_SOURCES_LISTED = 100
#: Most lines one ``/find`` answer may carry (the server sends at most 20).
MAX_HITS_LISTED = 100
#: Longest target of a ban: a nickname, or an IPv6 network written out in full.
MAX_BAN_TARGET_CHARS = 64
#: Earliest and latest event times accepted: a day inside what ``datetime`` can hold, so
#: that converting to any local time zone cannot fall off either end.
EARLIEST_TS = datetime(1, 1, 2, tzinfo=UTC)
LATEST_TS = datetime(9999, 12, 30, tzinfo=UTC)

# The fields that hold a nickname: 1 to MAX_NICK_LENGTH characters, as the server allows.
_NICK_FIELDS = frozenset({"nick", "old", "new", "recipient"})


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_EVENT_ID


def _is_nick(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_NICK_LENGTH


def _is_room(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ROOM_CHARS


def _is_room_field(value: Any) -> bool:
    """A ``room``: a room name, or "" from a server that predates rooms."""
    return value == "" or _is_room(value)


def _is_count(value: Any) -> bool:
    return _is_id(value)


def _is_room_info(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and _is_room(value.get("name"))
        and _is_count(value.get("members"))
        and isinstance(value.get("topic"), str)
    )


def _is_hit(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and _is_id(value.get("id"))
        and isinstance(value.get("ts"), str)
        and isinstance(value.get("kind"), str)
        and isinstance(value.get("nick"), str)
        and len(value["nick"]) <= MAX_NICK_LENGTH
        and isinstance(value.get("text"), str)
    )


def _is_ban_info(value: Any) -> bool:
    expires_in = value.get("expires_in") if isinstance(value, dict) else None
    return (
        isinstance(value, dict)
        and isinstance(value.get("target"), str)
        and 0 < len(value["target"]) <= MAX_BAN_TARGET_CHARS
        and _is_room_field(value.get("room"))
        and isinstance(value.get("by"), str)
        and isinstance(value.get("reason"), str)
        and (expires_in is None or _is_count(expires_in))
    )


def _is_name_list(limit: int, items_are: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: (
        isinstance(value, list) and len(value) <= limit and all(items_are(item) for item in value)
    )


# What each field annotation of the events accepts in JSON (the annotations are
# strings: events.py uses postponed evaluation). A field named in _FIELD_CHECKS
# is checked there instead.
_JSON_FIELD_CHECKS: dict[str, Callable[[Any], bool]] = {
    "int": _is_id,
    "str": lambda value: isinstance(value, str),
    "datetime": lambda value: isinstance(value, str),
    "tuple[str, ...]": _is_name_list(MAX_USERS_LISTED, lambda item: isinstance(item, str)),
    "bool": lambda value: isinstance(value, bool),
    "str | None": lambda value: value is None or isinstance(value, str),
    "datetime | None": lambda value: value is None or isinstance(value, str),
}
_FIELD_CHECKS: dict[str, Callable[[Any], bool]] = {
    **dict.fromkeys(_NICK_FIELDS, _is_nick),
    "users": _is_name_list(MAX_USERS_LISTED, _is_nick),
    "away": _is_name_list(MAX_USERS_LISTED, _is_nick),
    "sources": _is_name_list(MAX_SOURCES_LISTED, lambda item: isinstance(item, str)),
    "room": _is_room_field,
}
# Fields whose check differs in one event from the same name elsewhere.
_EVENT_FIELD_CHECKS: dict[tuple[str, str], Callable[[Any], bool]] = {
    ("topic", "nick"): lambda value: value == "" or _is_nick(value),  # "" when never set
    ("current", "room"): lambda value: value is None or _is_room(value),
    ("rooms", "rooms"): _is_name_list(MAX_USERS_LISTED, _is_room_info),
    ("whois", "rooms"): _is_name_list(MAX_USERS_LISTED, _is_room),
    ("whois", "away"): lambda value: value is None or isinstance(value, str),
    ("away", "nick"): _is_nick,
    ("find", "hits"): _is_name_list(MAX_HITS_LISTED, _is_hit),
    ("whois", "operator_in"): _is_name_list(MAX_USERS_LISTED, _is_room),
    ("users", "operators"): _is_name_list(MAX_USERS_LISTED, _is_nick),
    ("mode", "nick"): lambda value: value == "" or _is_nick(value),  # "": the server's
    ("mode", "target"): lambda value: isinstance(value, str) and len(value) <= MAX_BAN_TARGET_CHARS,
    ("mode", "change"): lambda value: value in MODE_CHANGES,
    ("kick", "target"): _is_nick,
    ("bans", "bans"): _is_name_list(MAX_USERS_LISTED, _is_ban_info),
}


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _event_time(text: str) -> datetime:
    """The ``ts`` of an event: an ISO 8601 time with its offset, within what can be drawn."""
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"the time {text!r} has no offset from UTC")
    if not EARLIEST_TS <= ts <= LATEST_TS:
        raise ValueError(f"the time {text!r} is out of range")
    return ts


#: How :func:`parse_json_event` reads a field: its name, whether it may be missing (it has
#: a default), its check, whether it holds a time, and its annotation (for the error).
_JsonField = tuple[str, bool, Callable[[Any], bool], bool, str]


def _json_fields(cls: type[Event]) -> tuple[_JsonField, ...]:
    """How to read each field of ``cls``."""
    return tuple(
        (
            field.name,
            field.default is not MISSING,
            _EVENT_FIELD_CHECKS.get((cls.kind, field.name))
            or _FIELD_CHECKS.get(field.name)
            or _JSON_FIELD_CHECKS[str(field.type)],
            field.name == "ts" or field.type == "datetime | None",
            str(field.type),
        )
        for field in fields(cls)
    )


#: Worked out once per type: every event a cluster node hears from another is read here.
_JSON_FIELDS = {cls: _json_fields(cls) for cls in EVENT_TYPES}


def parse_json_event(line: str | bytes) -> Event:
    """Read one line of the JSON rendering back into an event.

    Raises :class:`RemoteProtocolError` for anything that is not a known event
    with every field of the right type and within its bounds, so that a broken
    or hostile server cannot hand a client a nickname that is a number, a text
    that is null, an id that is ``true`` or ``1e400``, a time in the year 0 or a
    list of a million users. ``NaN`` and ``Infinity`` are refused, and so is
    nesting too deep for the parser: whatever the line, the error is this one.
    Unknown extra fields are ignored, so that newer servers can add fields, and
    a field with a default may be missing, so that older servers need not send it.
    """
    try:
        document = json.loads(line, parse_constant=_refuse_constant)
        cls = _TYPES_BY_KIND[document["type"]]
        values: dict[str, Any] = {}
        for name, optional, check, is_time, annotation in _JSON_FIELDS[cls]:
            if optional and name not in document:
                continue
            value = document[name]
            if not check(value):
                raise TypeError(f"{name!r} is not a valid {annotation}")
            if is_time and value is not None:
                value = _event_time(value)
            elif isinstance(value, list):
                value = tuple(_from_json_item(item) for item in value)
            values[name] = value
        return cls(**values)
    except (ValueError, KeyError, TypeError, RecursionError, OverflowError) as exc:
        # ValueError covers JSONDecodeError and UnicodeDecodeError (bytes that are not
        # UTF-8); RecursionError is "[[[[…" past the parser's depth.
        raise RemoteProtocolError(f"not a tcpchat event: {_brief(exc)}") from None


def _from_json_item(item: Any) -> Any:
    if isinstance(item, dict) and "target" in item:  # checked above: a ban of /bans
        return BanInfo(item["target"], item["room"], item["by"], item["reason"], item["expires_in"])
    if isinstance(item, dict) and "members" in item:  # checked above: a room of /rooms
        return RoomInfo(item["name"], item["members"], item["topic"])
    if isinstance(item, dict):  # checked above: a line /find found
        return Hit(item["id"], _event_time(item["ts"]), item["kind"], item["nick"], item["text"])
    return item


def _brief(exc: BaseException) -> str:
    """The first 200 characters of what went wrong (the log must not hold a megabyte line)."""
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"
