"""What commands and searches need from the conversation they act for.

A command (:mod:`tcpchat.core.commands`) or a search (:mod:`tcpchat.ai.search`)
acts for one connection: it reads who that is, tells them things, and
publishes to the room through the hub. :class:`Conversation` names exactly
what they use, and :class:`~tcpchat.core.session.Session` provides it. Naming
it here, rather than importing the session, keeps the session, the command
table and the search service free of import cycles.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tcpchat.core.errors import TcpchatError
from tcpchat.core.events import EventClock, Message
from tcpchat.core.hub import Hub, Peer, Room
from tcpchat.core.moderation import Moderation
from tcpchat.core.rooms import RoomRules


class Conversation(Protocol):
    """One connection's side of the chat, as a command or a search sees it.

    ``room`` is its current room (None: it is in none); ``rules`` the server's
    room rules; ``monotonic`` the clock of idle and connected times; ``search``
    and ``history`` the server's services (None: the server has none).
    """

    peer: Peer
    hub: Hub
    clock: EventClock
    search: SearchService | None
    history: HistoryService | None
    room: Room | None
    rules: RoomRules
    monotonic: Callable[[], float]
    #: The server's operators, bans, mutes and slow modes (None: no moderation).
    moderation: Moderation | None

    @property
    def nick(self) -> str:
        """The connection's nickname (only once registered)."""

    @property
    def registered(self) -> bool:
        """Whether the connection is in the room under a nickname."""

    @property
    def awaiting_password(self) -> bool:
        """Whether the server password is still to be given."""

    def register(self, wanted: str) -> None:
        """Try to enter the room as ``wanted``; on failure, say why and ask again."""

    def say_in(self, room: Room, text: str) -> None:
        """Say ``text`` (sanitised, not blank) in ``room``, one of this connection's."""

    def notice(self, text: str) -> None:
        """Tell this connection something, as the server."""

    def error(self, code: str, text: str) -> None:
        """Tell this connection that something it asked went wrong."""

    def fail(self, exc: TcpchatError) -> None:
        """Tell this connection what went wrong, in the exception's user-facing words."""

    def end(self, reason: str, *, announce: bool = True) -> None:
        """Finish the conversation: leave the room and tell the others, once."""


class SearchService(Protocol):
    """What a conversation needs from ``/search``: start one, never wait for it."""

    def request(self, asker: Conversation, question: str, *, private: bool = False) -> None:
        """Start answering ``question`` for ``asker``; report everything as events: to
        ``asker``'s current room, or, ``private``, to ``asker`` alone (room "")."""

    def observe(self, message: Message) -> None:
        """See a message said in the room (for the optional room context)."""

    def summarize(self, asker: Conversation, room: Room, scope: str, load: HistoryLoader) -> None:
        """``/summary``, which counts as a search: check the same limits, then load the
        lines and stream their summary to ``asker`` alone. ``scope`` says in words what
        is summarised."""

    async def aclose(self) -> None:
        """Cancel the searches in flight and release the API client (at server shutdown)."""


@dataclass(frozen=True, slots=True)
class SummaryScope:
    """What ``/summary`` covers: the last ``count`` messages, those of the last ``minutes``,
    or (neither) what was said since the asker last left the room, else the last 100."""

    count: int | None = None
    minutes: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One line of a room's history as the AI is given it to summarise."""

    ts: datetime
    kind: str
    nick: str
    text: str


#: What a summary reads when it is asked: the lines to summarise, oldest first.
HistoryLoader = Callable[[], Awaitable[Sequence[HistoryLine]]]


class HistoryService(Protocol):
    """What the history commands need from a server that keeps history.

    Each call returns at once: the store is read in its own thread, and the
    answer reaches the asker alone, as events, when it is there.
    """

    def page(self, asker: Conversation, count: int) -> None:
        """``/history``: ``count`` lines of the current room older than any it was shown."""

    def find(self, asker: Conversation, words: str) -> None:
        """``/find``: the current room's newest lines that match ``words``."""

    def seen(self, asker: Conversation, nick: str) -> None:
        """``/seen``: when ``nick`` last spoke or left, and where."""

    def summary(self, asker: Conversation, scope: SummaryScope) -> None:
        """``/summary``: the AI's summary of the current room's history, to the asker."""
