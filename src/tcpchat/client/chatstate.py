"""What the client knows about its chat, kept up to date from events, with no I/O.

:class:`ChatState` follows the events the client receives (who is online, what
its own nickname is now) and its connection's state; the terminal front end
reads it for the prompt, the bottom toolbar and nickname completion.
"""

from __future__ import annotations

import enum

from prompt_toolkit.utils import get_cwidth

from tcpchat.core.events import (
    AIAnswer,
    AIDelta,
    Event,
    Join,
    Leave,
    NickChange,
    SearchFailed,
    UserList,
    Welcome,
)
from tcpchat.core.nicks import nick_key
from tcpchat.core.protocol import DEFAULT_MAX_LINE_BYTES
from tcpchat.core.render import MAX_USERS_LISTED
from tcpchat.core.sanitize import sanitize_text
from tcpchat.tui.display import Fragments

#: How much of a streaming AI answer the client keeps, and shows in its toolbar.
MAX_STREAMED_CHARS = 4000
STREAM_PREVIEW_CHARS = 100
#: AI answers followed while they stream in; past this, the oldest is let go (a server
#: that starts answers and never ends them cannot grow the client's memory).
MAX_STREAMING_ANSWERS = 8
#: Members the client keeps track of: the most a user list may hold. Joins past it are
#: not added (the count in the toolbar then stops there).
MAX_MEMBERS = MAX_USERS_LISTED


class Link(enum.Enum):
    """The state of the client's connection, as the toolbar shows it."""

    CONNECTING = "connecting"
    REGISTERING = "choosing a nickname"
    CONNECTED = "connected"
    WAITING = "reconnecting"
    CLOSED = "disconnected"


class ChatState:
    """The client's view of its chat: server, own nickname, members, connection state.

    ``nick`` is the nickname the server accepted (its welcome, then its ``nick``
    events), never one the client has only asked for: a refused name must not be
    shown as the user's. ``direct`` is the 1:1 mode (task 1), where there are no
    nicknames or members.
    """

    def __init__(self, server: str, nick: str | None = None, *, direct: bool = False) -> None:
        self.server = server
        self.nick = nick
        self.direct = direct
        self.link = Link.CONNECTING
        self.link_detail = ""
        #: The longest line the server accepts, as its welcome said.
        self.max_line_bytes = DEFAULT_MAX_LINE_BYTES
        self._users: dict[str, str] = {}  # nick_key -> nickname as shown
        # AI answers still streaming in: search id -> the text so far.
        self._answers: dict[int, str] = {}

    @property
    def users(self) -> list[str]:
        """Who is online, sorted as nicknames compare."""
        return sorted(self._users.values(), key=nick_key)

    def set_link(self, link: Link, detail: str = "") -> None:
        self.link = link
        self.link_detail = detail

    def apply(self, event: Event) -> None:
        """Update the state from one received event."""
        match event:
            case Welcome(nick=nick, users=users, max_line_bytes=max_line_bytes):
                self.nick = nick
                self.max_line_bytes = max_line_bytes
                self._set_users(users)
                self.link, self.link_detail = Link.CONNECTED, ""
            case UserList(users=users):
                self._set_users(users)
            case Join(nick=nick):
                self._add_user(nick)
            case Leave(nick=nick):
                self._users.pop(nick_key(nick), None)
            case NickChange(old=old, new=new):
                self._users.pop(nick_key(old), None)
                self._add_user(new)
                if self.nick is not None and nick_key(old) == nick_key(self.nick):
                    self.nick = new
            case AIDelta(search_id=search_id, text=text):
                if search_id not in self._answers and len(self._answers) >= MAX_STREAMING_ANSWERS:
                    del self._answers[min(self._answers)]
                so_far = self._answers.get(search_id, "") + text
                self._answers[search_id] = so_far[-MAX_STREAMED_CHARS:]
            case AIAnswer(search_id=search_id) | SearchFailed(search_id=search_id):
                self._answers.pop(search_id, None)
            case _:
                pass

    @property
    def streaming(self) -> str | None:
        """The latest AI answer still streaming in, as one line for the toolbar."""
        if not self._answers:
            return None
        latest = self._answers[max(self._answers)]
        return sanitize_text(" ".join(latest.split()))

    def forget_connection(self) -> None:
        """Forget what the lost connection told: the members (a new Welcome refills them)
        and the AI answers still streaming (their ends will never come)."""
        self._users.clear()
        self._answers.clear()

    def _add_user(self, nick: str) -> None:
        if len(self._users) < MAX_MEMBERS or nick_key(nick) in self._users:
            self._users[nick_key(nick)] = sanitize_text(nick)

    def _set_users(self, users: tuple[str, ...]) -> None:
        self._users = {nick_key(user): sanitize_text(user) for user in users[:MAX_MEMBERS]}

    # -- what the front end shows ----------------------------------------------

    def prompt(self) -> str:
        """The text before the input line."""
        if self.link is Link.REGISTERING:
            return "nickname> "
        if self.direct:
            return "> "
        return f"{sanitize_text(self.nick)}> " if self.nick else "> "

    def toolbar(self, width: int | None = None) -> Fragments:
        """The bottom toolbar: server, nickname, users online, connection state.

        In a terminal ``width`` columns wide, pieces are left out when they do not
        fit, least needed first: the server, then the nickname (the prompt shows
        it too), then the count. The connection state goes last, cut short with
        ``…`` only when it alone is wider than the terminal: it is what matters
        when the link drops.
        """
        link_style = "class:toolbar.good" if self.link is Link.CONNECTED else "class:toolbar.bad"
        link_text = self.link.value + (f" ({self.link_detail})" if self.link_detail else "")
        if self.direct:
            pieces = [self.server, "1:1 chat"]
        else:
            who = sanitize_text(self.nick) if self.nick else "(no nickname yet)"
            pieces = [self.server, who, f"{len(self._users)} online"]
        if width is not None:
            pieces, link_text = _fit_toolbar(pieces, link_text, width)
        parts: Fragments = [("class:toolbar", "".join(f" {piece} |" for piece in pieces) + " ")]
        parts += [(link_style, link_text), ("class:toolbar", " ")]
        streaming = self.streaming
        if streaming is not None:
            # The answer grows here as it streams; the whole of it is printed when done.
            tail = streaming[-STREAM_PREVIEW_CHARS:]
            if width is not None:
                tail = _tail_fitting(tail, width - get_cwidth(" AI ▸  "))
            parts += [("class:toolbar", "\n"), ("class:toolbar.ai", f" AI ▸ {tail} ")]
        return parts


def _fit_toolbar(pieces: list[str], link_text: str, width: int) -> tuple[list[str], str]:
    """The toolbar's pieces (in the order shown) and state that fit in ``width`` columns.

    Pieces go from the left, so that the state, always last, survives longest.
    """
    pieces = list(pieces)

    def needed() -> int:  # " a | b | state "
        return sum(get_cwidth(piece) + 3 for piece in pieces) + get_cwidth(link_text) + 2

    while pieces and needed() > width:
        pieces.pop(0)
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
