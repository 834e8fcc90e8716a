"""What the client knows about its chat, kept up to date from events, with no I/O.

:class:`ChatState` follows the events the client receives (its own nickname, the
rooms it is in and which one is current, who is in each, who is away, topics and
unread lines) and its connection's state; the terminal front end reads it for
the prompt, the bottom toolbar, room marks and completion.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from prompt_toolkit.utils import get_cwidth

from tcpchat.core.events import (
    Action,
    AIAnswer,
    AIDelta,
    AwayReply,
    CurrentRoom,
    Event,
    Join,
    Kick,
    Leave,
    Message,
    NickChange,
    Part,
    RoomList,
    SearchFailed,
    SearchStarted,
    Topic,
    UserList,
    Welcome,
    Whois,
)
from tcpchat.core.nicks import nick_key
from tcpchat.core.protocol import DEFAULT_MAX_LINE_BYTES
from tcpchat.core.render import MAX_USERS_LISTED, room_of
from tcpchat.core.rooms import room_key
from tcpchat.core.sanitize import sanitize_text
from tcpchat.tui.display import Fragments

#: How much of a streaming AI answer the client keeps, and shows in its toolbar.
MAX_STREAMED_CHARS = 4000
STREAM_PREVIEW_CHARS = 100
#: AI answers followed while they stream in; past this, the oldest is let go (a server
#: that starts answers and never ends them cannot grow the client's memory).
MAX_STREAMING_ANSWERS = 8
#: Members the client keeps track of in one room: the most a user list may hold. Joins
#: past it are not added (the count in the toolbar then stops there).
MAX_MEMBERS = MAX_USERS_LISTED
#: Rooms the client follows at once (the server's default cap per member is 20): joins
#: of the user's own nickname past it are not followed.
MAX_FOLLOWED_ROOMS = 100
#: Room names learnt from ``/rooms`` and kept for completion.
MAX_KNOWN_ROOMS = MAX_USERS_LISTED
#: Nicknames marked away that the client remembers.
MAX_AWAY_MARKS = MAX_USERS_LISTED

#: The room of a server from before rooms: events without a ``room`` are said in it.
UNNAMED_ROOM = ""

#: Lines that count as unread in a room that is not current: what people (and the AI)
#: say there. Joins, parts and topic changes are marked with their room but not counted.
UNREAD_EVENTS = (Message, Action, SearchStarted, AIAnswer)


class Link(enum.Enum):
    """The state of the client's connection, as the toolbar shows it."""

    CONNECTING = "connecting"
    REGISTERING = "choosing a nickname"
    CONNECTED = "connected"
    WAITING = "reconnecting"
    CLOSED = "disconnected"


@dataclass(slots=True)
class RoomView:
    """What the client knows of one room it is in."""

    #: The name as the server shows it (sanitised).
    name: str
    members: dict[str, str] = field(default_factory=dict)  # nick_key -> nickname as shown
    topic: str = ""
    #: Lines said there since it was last the current room.
    unread: int = 0
    #: How many members the server said a big room has (0: ``members`` is everyone).
    #: A room past the server's ``--quiet-joins-above`` announces no joins or parts, so
    #: ``members`` is then only those the client has heard of, and the count is as of
    #: the join or the last ``/users``.
    counted: int = 0

    @property
    def size(self) -> int:
        """How many are in the room, as far as the client knows."""
        return self.counted or len(self.members)

    def add(self, nick: str) -> None:
        if len(self.members) < MAX_MEMBERS or nick_key(nick) in self.members:
            self.members[nick_key(nick)] = sanitize_text(nick)

    def set_members(self, users: tuple[str, ...]) -> None:
        self.members = {nick_key(user): sanitize_text(user) for user in users[:MAX_MEMBERS]}


class ChatState:
    """The client's view of its chat: server, own nickname, rooms, members, connection state.

    ``nick`` is the nickname the server accepted (its welcome, then its ``nick``
    events), never one the client has only asked for: a refused name must not be
    shown as the user's. ``current`` is the current room as the server last said
    (its welcome, then its ``current`` events): ``None`` in no room, ``""`` on a
    server from before rooms. ``direct`` is the 1:1 mode (task 1), where there
    are no nicknames, members or rooms.
    """

    def __init__(self, server: str, nick: str | None = None, *, direct: bool = False) -> None:
        self.server = server
        self.nick = nick
        self.direct = direct
        self.link = Link.CONNECTING
        self.link_detail = ""
        #: The longest line the server accepts, as its welcome said.
        self.max_line_bytes = DEFAULT_MAX_LINE_BYTES
        self.current: str | None = None
        # The rooms the user is in, in the order it joined them: room_key -> view.
        self._rooms: dict[str, RoomView] = {}
        # Room names the last /rooms listed (room_key -> name), for completion.
        self._listed: dict[str, str] = {}
        self._away: set[str] = set()  # nick keys of those marked away
        # AI answers still streaming in: search id -> the text so far.
        self._answers: dict[int, str] = {}
        #: The rooms the user was in when the connection was lost, and the current one,
        #: to join again once back (see :meth:`forget_connection`).
        self.rooms_before_loss: list[str] = []
        self.current_before_loss: str | None = None

    # -- what the client knows -------------------------------------------------

    @property
    def rooms(self) -> list[str]:
        """The rooms the user is in, in the order it joined them."""
        return [view.name for view in self._rooms.values() if view.name]

    def room(self, name: str) -> RoomView | None:
        """What the client knows of ``name``, one of the user's rooms (else None)."""
        return self._rooms.get(room_key(name))

    @property
    def users(self) -> list[str]:
        """Who is in the current room, sorted as nicknames compare."""
        view = self._current_view()
        return _sorted_nicks(view.members.values()) if view is not None else []

    @property
    def everyone(self) -> list[str]:
        """Everyone in any of the user's rooms, once each, sorted (for completion)."""
        seen: dict[str, str] = {}
        for view in self._rooms.values():
            seen.update(view.members)
        return _sorted_nicks(seen.values())

    def is_away(self, nick: str) -> bool:
        """Whether ``nick`` was last seen marked away (in a user list, /whois or an away reply)."""
        return nick_key(nick) in self._away

    def unread(self, room: str) -> int:
        """Lines said in ``room`` since it was last current (0 for a room the user is not in)."""
        view = self.room(room)
        return view.unread if view is not None else 0

    def completion_rooms(self, command: str = "") -> list[str]:
        """The room names Tab offers after ``command`` (``/part``, ``/msg``: the user's own
        rooms, which are all those commands accept; otherwise also those /rooms listed)."""
        names = {room_key(name): name for name in self.rooms}
        if command not in ("/part", "/msg"):
            names = {**self._listed, **names}
        return sorted(names.values(), key=room_key)

    def room_after(self, step: int) -> str | None:
        """The room ``step`` places after the current one in the user's rooms, wrapping
        round (-1: the one before); None when there is no other room to go to."""
        rooms = self.rooms
        if not rooms or (len(rooms) == 1 and self._is_current(rooms[0])):
            return None
        keys = [room_key(name) for name in rooms]
        if self.current is None or room_key(self.current) not in keys:
            return rooms[0] if step > 0 else rooms[-1]
        return rooms[(keys.index(room_key(self.current)) + step) % len(rooms)]

    def room_mark(self, event: Event) -> str:
        """The room to mark ``event``'s lines with: its room when that is not the current
        one, else "" (lines of the current room, and lines of no room, are not marked)."""
        room = room_of(event)
        if not room or self._is_current(room):
            return ""
        return sanitize_text(room)

    def set_link(self, link: Link, detail: str = "") -> None:
        self.link = link
        self.link_detail = detail

    def apply(self, event: Event) -> None:
        """Update the state from one received event."""
        match event:
            case Welcome(nick=nick, users=users, max_line_bytes=max_line_bytes, room=room):
                self.nick = nick
                self.max_line_bytes = max_line_bytes
                self._rooms.clear()
                view = self._follow(room)
                if view is not None:
                    view.set_members(users)
                    view.counted = event.members
                self.current = room
                self.link, self.link_detail = Link.CONNECTED, ""
            case UserList(users=users, room=room, away=away):
                view = self._view(room)
                if view is not None:
                    view.set_members(users)
                    view.counted = event.members
                else:
                    self._learn(room)
                away_keys = {nick_key(nick) for nick in away}
                for user in users:
                    self._mark_away(user, nick_key(user) in away_keys)
            case Join(nick=nick, room=room):
                if self._is_own(nick):
                    view = self._follow(room)
                    if view is not None:
                        view.add(nick)
                elif (view := self._view(room)) is not None:
                    view.add(nick)
            case Part(nick=nick, room=room):
                if self._is_own(nick):
                    if self._is_current(room):
                        self.current = None  # until the server names the new one
                    self._rooms.pop(room_key(room), None)
                elif (view := self._view(room)) is not None:
                    view.members.pop(nick_key(nick), None)
            case Kick(target=nick, room=room):
                if self._is_own(nick):  # as a /part of its own; the server names the new room
                    if self._is_current(room):
                        self.current = None
                    self._rooms.pop(room_key(room), None)
                elif (view := self._view(room)) is not None:
                    view.members.pop(nick_key(nick), None)
            case Leave(nick=nick):
                for view in self._rooms.values():
                    view.members.pop(nick_key(nick), None)
                self._away.discard(nick_key(nick))
            case NickChange(old=old, new=new):
                for view in self._rooms.values():
                    if view.members.pop(nick_key(old), None) is not None:
                        view.add(new)
                if nick_key(old) in self._away:
                    self._away.discard(nick_key(old))
                    self._mark_away(new, True)
                if self._is_own(old):
                    self.nick = new
            case CurrentRoom(room=room):
                self.current = room
                if room is not None and (view := self._view(room)) is not None:
                    view.unread = 0
            case Topic(room=room, text=text, history=False):  # a replayed one is old news
                if (view := self._view(room)) is not None:
                    view.topic = sanitize_text(text)
            case RoomList(rooms=rooms):
                self._listed = {
                    room_key(info.name): sanitize_text(info.name)
                    for info in rooms[:MAX_KNOWN_ROOMS]
                }
            case Whois(nick=nick, away=away):
                self._mark_away(nick, away is not None)
            case AwayReply(nick=nick):
                self._mark_away(nick, True)
            case AIDelta(search_id=search_id, text=text):
                if search_id not in self._answers and len(self._answers) >= MAX_STREAMING_ANSWERS:
                    del self._answers[min(self._answers)]
                so_far = self._answers.get(search_id, "") + text
                self._answers[search_id] = so_far[-MAX_STREAMED_CHARS:]
            case AIAnswer(search_id=search_id) | SearchFailed(search_id=search_id):
                self._answers.pop(search_id, None)
            case _:
                pass
        if isinstance(event, UNREAD_EVENTS) and not event.history:  # history was read before
            self._count_unread(event.room)

    @property
    def streaming(self) -> str | None:
        """The latest AI answer still streaming in, as one line for the toolbar."""
        if not self._answers:
            return None
        latest = self._answers[max(self._answers)]
        return sanitize_text(" ".join(latest.split()))

    def forget_connection(self) -> None:
        """Forget what the lost connection told: rooms and members (a new Welcome refills
        them) and the AI answers still streaming (their ends will never come).

        The rooms the user was in, and its current room, are kept in
        :attr:`rooms_before_loss` and :attr:`current_before_loss`, to join again.
        """
        if self._rooms:
            self.rooms_before_loss = self.rooms
            self.current_before_loss = self.current or None
        self._rooms.clear()
        self.current = None
        self._away.clear()
        self._answers.clear()

    def _count_unread(self, room: str) -> None:
        view = None if self._is_current(room) else self._view(room)
        if view is not None:
            view.unread += 1

    def _is_own(self, nick: str) -> bool:
        return self.nick is not None and nick_key(nick) == nick_key(self.nick)

    def _is_current(self, room: str) -> bool:
        return self.current is not None and room_key(room) == room_key(self.current)

    def _current_view(self) -> RoomView | None:
        return self._view(self.current) if self.current is not None else None

    def _view(self, room: str) -> RoomView | None:
        """The user's room ``room``; a server from before rooms has one, unnamed, room."""
        if room == UNNAMED_ROOM:
            if self.current is None:
                self.current = UNNAMED_ROOM  # that one room is where the user talks
            return self._follow(UNNAMED_ROOM)
        return self._rooms.get(room_key(room))

    def _follow(self, room: str) -> RoomView | None:
        """Start following ``room`` (it is one of the user's), unless too many are followed."""
        key = room_key(room)
        if key not in self._rooms and len(self._rooms) < MAX_FOLLOWED_ROOMS:
            self._rooms[key] = RoomView(sanitize_text(room))
        return self._rooms.get(key)

    def _learn(self, room: str) -> None:
        if room and (len(self._listed) < MAX_KNOWN_ROOMS or room_key(room) in self._listed):
            self._listed[room_key(room)] = sanitize_text(room)

    def _mark_away(self, nick: str, away: bool) -> None:
        if not away:
            self._away.discard(nick_key(nick))
        elif len(self._away) < MAX_AWAY_MARKS:
            self._away.add(nick_key(nick))

    # -- what the front end shows ----------------------------------------------

    def prompt(self) -> str:
        """The text before the input line: the nickname and the current room, ``alice #dev> ``."""
        if self.link is Link.REGISTERING:
            return "nickname> "
        if self.direct:
            return "> "
        if not self.nick:
            return "> "
        room = f" {sanitize_text(self.current)}" if self.current else ""
        return f"{sanitize_text(self.nick)}{room}> "

    def toolbar(self, width: int | None = None) -> Fragments:
        """The bottom toolbar: server, nickname, who is here, the user's rooms, connection state.

        The rooms are listed in the order they were joined, the current one
        styled apart and each other one with its unread lines counted:
        ``#lobby(3) #dev``. In a terminal ``width`` columns wide, pieces are left
        out when they do not fit, least needed first (see :func:`_fit_toolbar`).
        The connection state goes last, cut short with ``…`` only when it alone
        is wider than the terminal: it is what matters when the link drops.
        """
        link_style = "class:toolbar.good" if self.link is Link.CONNECTED else "class:toolbar.bad"
        link_text = self.link.value + (f" ({self.link_detail})" if self.link_detail else "")
        if self.direct:
            pieces = [_Piece.of(self.server), _Piece.of("1:1 chat")]
            steps = [_Step.drop(0), _Step.drop(1)]
        else:
            who = sanitize_text(self.nick) if self.nick else "(no nickname yet)"
            rooms = self.rooms
            pieces = [
                _Piece.of(self.server),
                _Piece.of(who),
                _Piece.of(self._count()),
                _Piece(self._room_list(compact=False)),
            ]
            compact = self._room_list(compact=True)
            steps = [_Step.drop(0), _Step.drop(1)]
            if len(rooms) > 1:
                # With several rooms the list (and its unread counts) is worth more than
                # the count of the current room; first only the quiet rooms go from it.
                steps += [_Step.replace(3, compact), _Step.drop(2), _Step.drop(3)]
            else:
                steps += [_Step.drop(3), _Step.drop(2)]
        if width is not None:
            pieces, link_text = _fit_toolbar(pieces, steps, link_text, width)
        parts: Fragments = [("class:toolbar", " ")]
        for piece in pieces:
            if piece.fragments:
                parts += [*piece.fragments, ("class:toolbar", " | ")]
        parts += [(link_style, link_text), ("class:toolbar", " ")]
        streaming = self.streaming
        if streaming is not None:
            # The answer grows here as it streams; the whole of it is printed when done.
            tail = streaming[-STREAM_PREVIEW_CHARS:]
            if width is not None:
                tail = _tail_fitting(tail, width - get_cwidth(" AI ▸  "))
            parts += [("class:toolbar", "\n"), ("class:toolbar.ai", f" AI ▸ {tail} ")]
        return parts

    def _count(self) -> str:
        """How many are in the current room: ``2 online`` while in one room (as before
        rooms), ``3 in #dev`` while in several, ``in no room`` in none."""
        if self.current is None:
            return "in no room"
        view = self._current_view()
        count = f"{view.size:,}" if view is not None and view.counted else f"{len(self.users)}"
        if len(self.rooms) > 1:
            return f"{count} in {sanitize_text(self.current)}"
        return f"{count} online"

    def _room_list(self, *, compact: bool) -> Fragments:
        """The user's rooms, ``#lobby(3) #dev``; ``compact`` keeps only the current room
        and those with unread lines."""
        shown: Fragments = []
        for view in self._rooms.values():
            if not view.name:
                continue  # the one room of a server from before rooms has no name to show
            current = self._is_current(view.name)
            if compact and not current and not view.unread:
                continue
            if shown:
                shown.append(("class:toolbar", " "))
            if current:
                shown.append(("class:toolbar.current", view.name))
            elif view.unread:
                shown.append(("class:toolbar.unread", f"{view.name}({view.unread:,})"))
            else:
                shown.append(("class:toolbar", view.name))
        return shown


def _sorted_nicks(nicks: Iterable[str]) -> list[str]:
    return sorted(nicks, key=nick_key)


@dataclass(frozen=True, slots=True)
class _Piece:
    """One piece of the toolbar, between ``|`` separators (none when empty)."""

    fragments: Fragments

    @classmethod
    def of(cls, text: str) -> _Piece:
        return cls([("class:toolbar", text)])

    @property
    def columns(self) -> int:
        return sum(get_cwidth(text) for _, text in self.fragments)


@dataclass(frozen=True, slots=True)
class _Step:
    """One way to make the toolbar narrower: piece ``index`` dropped, or replaced by a
    shorter form."""

    index: int
    shorter: Fragments

    @classmethod
    def drop(cls, index: int) -> _Step:
        return cls(index, [])

    @classmethod
    def replace(cls, index: int, shorter: Fragments) -> _Step:
        return cls(index, shorter)


def _fit_toolbar(
    pieces: list[_Piece], steps: list[_Step], link_text: str, width: int
) -> tuple[list[_Piece], str]:
    """The toolbar's pieces (in the order shown) and state that fit in ``width`` columns.

    ``steps`` are taken in order until the toolbar fits; the state, always last,
    survives them all.
    """
    pieces = list(pieces)

    def needed() -> int:  # " a | b | state "
        shown = [piece for piece in pieces if piece.fragments]
        return sum(piece.columns + 3 for piece in shown) + get_cwidth(link_text) + 2

    for step in steps:
        if needed() <= width:
            break
        pieces[step.index] = _Piece(step.shorter)
    if needed() > width:
        link_text = _head_fitting(link_text, width - 2)
    return pieces, link_text


def _head_fitting(text: str, columns: int) -> str:
    """``text`` cut to ``columns`` terminal columns, ending in ``…`` if it was cut."""
    if get_cwidth(text) <= columns:
        return text
    kept = ""
    for char in text:
        if get_cwidth(kept + char) > columns - 1:
            break
        kept += char
    return kept + "…" if columns >= 1 else ""


def _tail_fitting(text: str, columns: int) -> str:
    """The end of ``text`` that fits in ``columns`` terminal columns."""
    kept = ""
    for char in reversed(text):
        if get_cwidth(char + kept) > columns:
            break
        kept = char + kept
    return kept
