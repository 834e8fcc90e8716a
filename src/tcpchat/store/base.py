"""What a history store keeps, and the one interface every backend implements.

A store keeps each room's history: messages, actions, topic changes, the
questions put to the AI and its answers (with their sources), and one record
per room when someone leaves it (what ``/seen`` and ``/summary`` need). It
also keeps the bans (:class:`~tcpchat.core.moderation.Ban`), so that they
survive a restart. It never keeps private messages: without accounts, nobody
could later prove to be their recipient (``docs/security.md``).

Writing never waits: :meth:`Store.append` puts records on an in-memory buffer
and returns, and a flush (every 100 ms, from
:class:`~tcpchat.store.historian.Historian`) commits the buffer off the event
loop. Reads are coroutines, each with a hard limit on the rows it returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple, Protocol

from tcpchat.core.moderation import Ban

#: The most records one history page (``recent``, ``before``, ``since``) returns.
MAX_PAGE = 100
#: The most hits one search returns: the newest ones.
MAX_SEARCH_HITS = 20


def stored_time(ts: datetime) -> str:
    """``ts`` as both backends store it: UTC, ISO 8601 to the microsecond, always as long,
    so that stored times sort as they read."""
    if ts.tzinfo is not UTC:
        ts = ts.astimezone(UTC)
    # isoformat() with no argument is twice as fast, but leaves out a microsecond of 0.
    return ts.isoformat() if ts.microsecond else ts.isoformat(timespec="microseconds")


class Kind(StrEnum):
    """What a stored record is."""

    MESSAGE = "message"
    ACTION = "action"
    TOPIC = "topic"
    #: A question put to the AI (``/search``); ``text`` is the question.
    SEARCH = "search"
    #: The AI's answer; ``nick`` is the asker, ``sources`` its numbered web sources.
    AI = "ai"
    #: ``nick`` left this room (``/part``, or leaving the server while in it); ``text``: why.
    LEAVE = "leave"


#: The kinds that are said in a room: what ``/find`` searches and ``/summary`` reads.
SAID = frozenset({Kind.MESSAGE, Kind.ACTION, Kind.TOPIC, Kind.SEARCH, Kind.AI})
#: The kinds in which a nick shows itself: what ``/seen`` looks for (an AI answer is not theirs).
SIGHTINGS = frozenset({Kind.MESSAGE, Kind.ACTION, Kind.TOPIC, Kind.SEARCH, Kind.LEAVE})


class StoredEvent(NamedTuple):
    """One record of a room's history, as it is stored and read back.

    ``id`` and ``ts`` are the event's own (the server's id, a UTC time), so that
    a replayed event keeps them. ``room`` is the room's name as first written,
    for display; ``room_key`` the key under which names are compared
    (:func:`tcpchat.core.nicks.nick_key`), under which the store files it.

    A named tuple rather than a frozen dataclass: one is made for every line said
    in a room, on the event loop, and a tuple is made five times faster (0.3 µs).
    """

    id: int
    ts: datetime
    room: str
    room_key: str
    kind: Kind
    nick: str
    text: str
    sources: tuple[str, ...] = ()


class Store(Protocol):
    """A history backend: SQLite embedded (:mod:`tcpchat.store.sqlite`), or Redis shared
    (:mod:`tcpchat.store.redis`).

    ``open`` raises :class:`~tcpchat.core.errors.StoreError` (one line naming the
    path) when the store cannot be used, before a server listens. After that,
    nothing raises into the chat: ``append`` and ``flush`` never raise for
    trouble with the disk, which they log once and retry (``available`` says
    whether the last write worked), and the reads raise only
    :class:`~tcpchat.core.errors.HistoryUnavailable`, whose words suit users.
    """

    async def open(self) -> None:
        """Open (or create) the store; StoreError if it cannot be used."""
        ...

    async def close(self) -> None:
        """Commit everything appended so far, then release the store."""
        ...

    def append(self, records: Iterable[StoredEvent]) -> None:
        """Queue records to be committed by the next flush. O(1) a record; never waits."""
        ...

    async def flush(self) -> None:
        """Commit what ``append`` queued. On trouble, keep it (bounded) for the next flush."""
        ...

    @property
    def pending(self) -> int:
        """How many appended records wait for a flush."""
        ...

    @property
    def available(self) -> bool:
        """Whether the last write worked (False while the disk is full or the store locked)."""
        ...

    def highest_id(self) -> int:
        """The highest id ever committed or reserved (0 for none): a server's clock starts
        above it."""
        ...

    async def reserve_ids(self, through: int) -> None:
        """Keep ``through`` as an id that may have been handed out: ``highest_id`` at the next
        open is at least ``through``, whether or not anything with that id was stored."""
        ...

    async def rooms(self, limit: int) -> list[str]:
        """The keys of the ``limit`` rooms said in most recently, the most recent first."""
        ...

    async def recent(self, room_key: str, limit: int) -> list[StoredEvent]:
        """The room's last ``limit`` SAID records (at most MAX_PAGE), oldest first.

        History pages hold what was said; LEAVE records serve ``seen`` and ``last_left``.
        """
        ...

    async def before(self, room_key: str, before_id: int, limit: int) -> list[StoredEvent]:
        """The room's ``limit`` SAID records (at most MAX_PAGE) just older than
        ``before_id``, oldest first: ``/history`` paging back."""
        ...

    async def since(self, room_key: str, after_id: int, limit: int) -> list[StoredEvent]:
        """The room's last ``limit`` SAID records (at most MAX_PAGE) newer than ``after_id``, oldest
        first: what someone missed since they left."""
        ...

    async def search(
        self, room_key: str, words: str, limit: int = MAX_SEARCH_HITS
    ) -> list[StoredEvent]:
        """The room's newest ``limit`` (at most MAX_SEARCH_HITS) said records matching
        ``words`` (:mod:`tcpchat.store.fts`), newest first. CommandError for words with
        nothing to find."""
        ...

    async def seen(self, nick: str, room_key: str | None = None) -> StoredEvent | None:
        """The last time ``nick`` (compared as nicknames are) spoke or left, in any room or in
        ``room_key``'s: a SAID record of theirs, or a LEAVE record, whichever is newer."""
        ...

    async def last_left(self, nick: str, room_key: str) -> StoredEvent | None:
        """``nick``'s last LEAVE record in the room (``/summary``: what they missed since)."""
        ...

    async def topic(self, room_key: str) -> StoredEvent | None:
        """The room's last topic record: a room that empties keeps its topic."""
        ...

    async def save_ban(self, ban: Ban) -> None:
        """Keep ``ban``, replacing any with the same room and mask (``Ban.key``), so that
        it outlives a restart. HistoryUnavailable on trouble; bans are rare and written
        at once, not buffered."""
        ...

    async def remove_ban(self, ban: Ban) -> None:
        """Forget the ban with ``ban``'s room and mask (lifted, or expired)."""
        ...

    async def bans(self) -> list[Ban]:
        """Every ban kept, expired ones included (the server drops those as it loads them)."""
        ...

    async def prune(self, max_age_days: int, max_rows_per_room: int) -> int:
        """Delete records older than ``max_age_days`` and past ``max_rows_per_room`` (the
        oldest of each room; 0 turns either off), keeping each room's last topic.
        Returns how many went."""
        ...
