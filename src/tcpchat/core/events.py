"""What happens in a chat, as frozen dataclasses.

The server turns everything into events; :mod:`tcpchat.core.render` turns events
into bytes for the wire, in the text or the JSON-lines rendering. Every event
has a server-assigned ``id`` (increasing, in the one order in which the server
accepted things) and a UTC timestamp ``ts``. :data:`Event` names them all.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from tcpchat.core.protocol import DEFAULT_MAX_LINE_BYTES

# Every room event carries ``room``, the room's name as first written. It defaults
# to "" so that events built without a room (and JSON from servers before rooms)
# still make sense.


@dataclass(frozen=True, slots=True)
class Message:
    """A chat line from ``nick`` to ``room``.

    ``history``: this is a replayed line of the room's history (on joining, or
    ``/history``), with its original id and time, not something said just now.
    """

    kind: ClassVar[str] = "message"
    id: int
    ts: datetime
    nick: str
    text: str
    room: str = ""
    history: bool = False


@dataclass(frozen=True, slots=True)
class Action:
    """A ``/me`` line: shown as ``* nick text``."""

    kind: ClassVar[str] = "action"
    id: int
    ts: datetime
    nick: str
    text: str
    room: str = ""
    history: bool = False  # replayed from the room's history


@dataclass(frozen=True, slots=True)
class PrivateMessage:
    """A ``/msg`` line, delivered to its sender and its recipient only."""

    kind: ClassVar[str] = "private"
    id: int
    ts: datetime
    nick: str
    recipient: str
    text: str


@dataclass(frozen=True, slots=True)
class Join:
    """``nick`` entered ``room`` (at registration, the default room; else by ``/join``)."""

    kind: ClassVar[str] = "join"
    id: int
    ts: datetime
    nick: str
    room: str = ""


@dataclass(frozen=True, slots=True)
class Leave:
    """``nick`` left the server; ``reason`` says how (``quit``, ``connection lost`` …).

    Told once to everyone who shared a room with ``nick``, whatever the number of rooms.
    """

    kind: ClassVar[str] = "leave"
    id: int
    ts: datetime
    nick: str
    reason: str


@dataclass(frozen=True, slots=True)
class NickChange:
    """``old`` is now known as ``new``."""

    kind: ClassVar[str] = "nick"
    id: int
    ts: datetime
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Welcome:
    """Registration succeeded: the connection is ``nick``, in the default room ``room``.

    ``users`` are the members of ``room``; in a room too big to list them in a
    welcome (see :attr:`RoomRules.quiet_joins_above
    <tcpchat.core.rooms.RoomRules.quiet_joins_above>`), none, and ``members``
    says how many there are (0: ``users`` is the whole room).
    ``max_line_bytes`` is the longest line this server accepts, so that a client
    can cut longer messages itself instead of having them discarded.
    """

    kind: ClassVar[str] = "welcome"
    id: int
    ts: datetime
    nick: str
    users: tuple[str, ...]
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    room: str = ""
    members: int = 0


@dataclass(frozen=True, slots=True)
class UserList:
    """The answer to ``/users``, and what follows a ``/join``: who is in ``room``.

    ``away`` names those of ``users`` who are away. ``online`` says to word it as
    before rooms (``2 users online: ...``): it is the default room's list, told to
    a connection in that room alone.
    """

    kind: ClassVar[str] = "users"
    id: int
    ts: datetime
    users: tuple[str, ...]
    room: str = ""
    away: tuple[str, ...] = ()
    #: Word it as before rooms, ``2 users online: ...``: the list of the default room,
    #: told to a connection in that room alone.
    online: bool = False
    #: Those of ``users`` who are operators of ``room`` (server operators among them).
    operators: tuple[str, ...] = ()
    #: How many members ``room`` has, in a room that keeps its joins and parts quiet
    #: (0 in any other): ``users`` is then a snapshot, and empty after a ``/join``.
    members: int = 0


@dataclass(frozen=True, slots=True)
class Notice:
    """A message from the server itself: the greeting, ``/help``, goodbye. May span lines."""

    kind: ClassVar[str] = "notice"
    id: int
    ts: datetime
    text: str


@dataclass(frozen=True, slots=True)
class Error:
    """Something the recipient asked went wrong: ``code`` for programs, ``text`` for people."""

    kind: ClassVar[str] = "error"
    id: int
    ts: datetime
    code: str
    text: str


@dataclass(frozen=True, slots=True)
class SearchStarted:
    """``nick`` asked the AI ``question``; the answer follows as AI events with ``search_id``."""

    kind: ClassVar[str] = "search"
    id: int
    ts: datetime
    nick: str
    search_id: int
    question: str
    room: str = ""
    history: bool = False  # replayed from the room's history (its search_id is then 0)


@dataclass(frozen=True, slots=True)
class AIDelta:
    """A piece of an AI answer as it streams in (JSON rendering only)."""

    kind: ClassVar[str] = "ai_delta"
    id: int
    ts: datetime
    search_id: int
    text: str
    room: str = ""


@dataclass(frozen=True, slots=True)
class AIAnswer:
    """The whole AI answer to ``nick``'s search, with its numbered web sources."""

    kind: ClassVar[str] = "ai"
    id: int
    ts: datetime
    nick: str
    search_id: int
    text: str
    sources: tuple[str, ...]
    room: str = ""
    history: bool = False  # replayed from the room's history (its search_id is then 0)


@dataclass(frozen=True, slots=True)
class SearchFailed:
    """``nick``'s search ended without an answer (JSON rendering only).

    The asker alone is told why, in an :class:`Error`; this tells the room's
    programs to stop waiting for the answer to ``search_id``.
    """

    kind: ClassVar[str] = "search_failed"
    id: int
    ts: datetime
    nick: str
    search_id: int
    room: str = ""


@dataclass(frozen=True, slots=True)
class Part:
    """``nick`` left ``room`` (``/part``), saying ``reason`` (may be "")."""

    kind: ClassVar[str] = "part"
    id: int
    ts: datetime
    nick: str
    room: str
    reason: str


@dataclass(frozen=True, slots=True)
class Topic:
    """The topic of ``room``: ``text`` ("" for none), set by ``nick`` ("" if never set).

    ``changed`` is true when this announces a change to the room, false when it
    answers ``/topic`` or follows a ``/join``.
    """

    kind: ClassVar[str] = "topic"
    id: int
    ts: datetime
    room: str
    nick: str
    text: str
    changed: bool
    history: bool = False  # a change replayed from the room's history


@dataclass(frozen=True, slots=True)
class CurrentRoom:
    """The connection's current room is now ``room`` (None: it is in no room)."""

    kind: ClassVar[str] = "current"
    id: int
    ts: datetime
    room: str | None


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """One line of ``/rooms``: a room's name, how many are in it, and its topic."""

    name: str
    members: int
    topic: str


@dataclass(frozen=True, slots=True)
class RoomList:
    """The answer to ``/rooms``: every room of the server, by name."""

    kind: ClassVar[str] = "rooms"
    id: int
    ts: datetime
    rooms: tuple[RoomInfo, ...]


@dataclass(frozen=True, slots=True)
class Whois:
    """The answer to ``/whois``: ``nick``'s rooms, seconds connected and idle, away message.

    ``server_operator``: ``nick`` is a server operator; ``operator_in``: the rooms of
    ``rooms`` it is an operator of.
    """

    kind: ClassVar[str] = "whois"
    id: int
    ts: datetime
    nick: str
    rooms: tuple[str, ...]
    connected: int
    idle: int
    away: str | None
    server_operator: bool = False
    operator_in: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AwayReply:
    """The automatic answer to a ``/msg`` sent to ``nick``, who is away: ``text``."""

    kind: ClassVar[str] = "away"
    id: int
    ts: datetime
    nick: str
    text: str


@dataclass(frozen=True, slots=True)
class HistoryEnd:
    """The end of a page of ``room``'s history: ``count`` replayed lines came just before.

    ``more``: older lines are kept, and ``/history`` shows them.
    """

    kind: ClassVar[str] = "history_end"
    id: int
    ts: datetime
    room: str
    count: int
    more: bool


@dataclass(frozen=True, slots=True)
class Hit:
    """One line of a room's history that ``/find`` found: its id, time, kind, nick and text."""

    id: int
    ts: datetime
    kind: str
    nick: str
    text: str


@dataclass(frozen=True, slots=True)
class Found:
    """The answer to ``/find WORDS``: the newest lines of ``room`` that match, oldest first."""

    kind: ClassVar[str] = "find"
    id: int
    ts: datetime
    room: str
    words: str
    hits: tuple[Hit, ...]


@dataclass(frozen=True, slots=True)
class Seen:
    """The answer to ``/seen NICK``: when ``nick`` last spoke or left, and where.

    ``at`` is None when the history holds nothing of theirs; else ``did`` says what
    they last did in ``room``: ``said``, ``action`` (``/me``), ``topic`` (set it),
    ``search`` (asked the AI), with ``text`` their words; or ``left``, with ``text``
    why.
    ``online`` says whether someone has that nickname now.
    """

    kind: ClassVar[str] = "seen"
    id: int
    ts: datetime
    nick: str
    online: bool
    at: datetime | None = None
    room: str = ""
    did: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The server is shutting down; the connection will close."""

    kind: ClassVar[str] = "shutdown"
    id: int
    ts: datetime
    text: str


@dataclass(frozen=True, slots=True)
class Kick:
    """``nick``, an operator, put ``target`` out of ``room``, saying ``reason`` (may be "").

    Told to the room, ``target`` included: it is how the kicked member learns it is out.
    """

    kind: ClassVar[str] = "kick"
    id: int
    ts: datetime
    nick: str
    target: str
    room: str
    reason: str


@dataclass(frozen=True, slots=True)
class ModeChange:
    """``nick``, an operator, changed how ``room`` is moderated. ``change`` is one of
    :data:`MODE_CHANGES`:

    - ``op`` / ``deop``: ``target`` is now (no longer) an operator of the room;
    - ``mute`` / ``unmute``: ``target`` may not (may again) speak there; a mute lasts
      ``seconds`` (0: until lifted);
    - ``slow``: slow mode, one line per ``seconds`` a member (0: off);
    - ``ban`` / ``unban``: ``target`` (a nickname; for a server ban, an address or a
      network, and ``room`` is "") is banned for ``seconds`` (0: for good), or no longer.

    ``reason`` is the operator's (may be "").
    """

    kind: ClassVar[str] = "mode"
    id: int
    ts: datetime
    nick: str
    room: str
    change: str
    target: str = ""
    seconds: int = 0
    reason: str = ""


#: The changes a :class:`ModeChange` may announce.
MODE_CHANGES = frozenset({"op", "deop", "mute", "unmute", "slow", "ban", "unban"})


@dataclass(frozen=True, slots=True)
class BanInfo:
    """One line of ``/bans``: ``target`` banned from ``room`` ("": the server) by ``by``,
    for ``reason``; ``expires_in`` seconds are left (None: for good)."""

    target: str
    room: str
    by: str
    reason: str
    expires_in: int | None


@dataclass(frozen=True, slots=True)
class BanList:
    """The answer to ``/bans``: the bans of ``room``, then (to a server operator) the
    server's."""

    kind: ClassVar[str] = "bans"
    id: int
    ts: datetime
    room: str
    bans: tuple[BanInfo, ...]


Event = (
    Message
    | Action
    | PrivateMessage
    | Join
    | Leave
    | NickChange
    | Welcome
    | UserList
    | Notice
    | Error
    | SearchStarted
    | AIDelta
    | AIAnswer
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

EVENT_TYPES: tuple[type[Event], ...] = (
    Message,
    Action,
    PrivateMessage,
    Join,
    Leave,
    NickChange,
    Welcome,
    UserList,
    Notice,
    Error,
    SearchStarted,
    AIDelta,
    AIAnswer,
    SearchFailed,
    Part,
    Topic,
    CurrentRoom,
    RoomList,
    Whois,
    AwayReply,
    HistoryEnd,
    Found,
    Seen,
    Shutdown,
    Kick,
    ModeChange,
    BanList,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


class EventClock:
    """Hands out event ids, in increasing order, and timestamps.

    One per server, so that two servers in one process keep their own counts.
    The first id is ``after + 1``: a server that keeps history starts its clock
    above the highest id its store holds, so that ids keep increasing across
    restarts and a replayed event never shares an id with a new one.
    """

    def __init__(self, now: Callable[[], datetime] = utc_now, *, after: int = 0) -> None:
        if after < 0:
            raise ValueError(f"ids start above `after`, which must be 0 or more, not {after}")
        self._ids = itertools.count(after + 1)
        self._now = now

    def stamp(self) -> tuple[int, datetime]:
        """The next event id and the current UTC time."""
        return next(self._ids), self._now()
