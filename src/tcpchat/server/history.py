"""Room history in a running server: recording, replay on join, and the history commands.

:class:`RoomHistory` is what a :class:`~tcpchat.server.chat.ChatServer` owns
when it keeps history (``docs/history.md``). It holds the historian (the store
and its flush and prune tasks), one bounded ring of recent lines per room (as
Ergo does, ``irc/history/history.go``), and the clock, which reserves ids ahead
in the store so that no id is handed out twice across restarts.

Everything reaches it through one seam, :class:`HistoryHub`: the in-process
hub, which records what is published to a room (O(1): a record on the ring and
on the historian's buffer, no I/O) and replays a room's ring to whoever joins
it, synchronously, before any live line of that room can reach them. The
history commands (``/history``, ``/find``, ``/seen``, ``/summary``) read the
store in its thread and answer the asker alone, as events, when the answer is
there.

Rings are loaded from the store when the server starts (the rooms said in most
recently, up to ``--max-rooms``), so that joining one replays at once. A room
whose ring is not in memory (its history is older than that of ``--max-rooms``
others) is loaded when it is first made again: whoever joins it in the
millisecond that takes gets what the ring holds so far (the lines said since),
never a line out of order, and ``/history`` shows them the rest.

On a node of a cluster (``--redis-url``, ``docs/scaling.md``) the store is the
Redis store every node shares, and the hub is the cluster's
(:class:`~tcpchat.server.redis_hub.RedisHub`), which calls the same
:class:`RoomHistory` where a cluster knows things: :meth:`RoomHistory.keep`,
:meth:`RoomHistory.load_ring`, :meth:`RoomHistory.heard` and
:meth:`RoomHistory.replay_for`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tcpchat.config import HistorySettings
from tcpchat.core.conversation import Conversation, HistoryLine, SummaryScope
from tcpchat.core.errors import (
    CommandError,
    HistoryUnavailable,
    LocalProtocolError,
    TcpchatError,
)
from tcpchat.core.events import (
    Action,
    AIAnswer,
    Event,
    EventClock,
    Found,
    HistoryEnd,
    Hit,
    Join,
    Leave,
    Message,
    Part,
    SearchStarted,
    Seen,
    Topic,
    utc_now,
)
from tcpchat.core.hub import Peer, Room
from tcpchat.core.render import Encoder, Rendering, encode
from tcpchat.core.rooms import RoomRules, room_key
from tcpchat.server.local_hub import LocalHub
from tcpchat.store.base import MAX_PAGE, Kind, Store, StoredEvent
from tcpchat.store.historian import Historian

if TYPE_CHECKING:
    from tcpchat.core.conversation import SearchService

log = logging.getLogger("tcpchat.store")

#: Ids reserved in the store at a time: the clock asks for the next block when half of
#: this one is used, in the store's thread, and never waits for it.
RESERVE_BLOCK = 10_000
#: Lines a ``/summary`` reads when it covers "since you left" or a time span.
SUMMARY_LINES = MAX_PAGE
UNAVAILABLE = "history is unavailable right now (the server cannot read its database); chat goes on"
BUSY = "your previous history requests are still being answered; wait for them"

#: What /seen says someone last did (``Seen.did``), by the kind of their last record.
SEEN_DOING = {
    Kind.MESSAGE: "said",
    Kind.ACTION: "action",
    Kind.TOPIC: "topic",
    Kind.SEARCH: "search",
    Kind.LEAVE: "left",
}

#: History requests (/history, /find, /seen) one connection may have waiting at once.
MAX_QUEUED_REQUESTS = 4


#: The events said in a room that are kept as they are, by kind.
_SAID_AS: dict[type[Event], Kind] = {
    Message: Kind.MESSAGE,
    Action: Kind.ACTION,
    Topic: Kind.TOPIC,
}


class ReservingClock(EventClock):
    """An event clock whose ids are reserved in the store before they are handed out.

    ``after`` is the highest id stored or reserved; the store already holds a
    reservation up to ``after + RESERVE_BLOCK`` when the clock starts. Once half
    of a block is used, ``reserve(through)`` is called (it must not wait) to move
    the reservation a block ahead of the id just handed out.
    """

    def __init__(self, after: int, reserve: Callable[[int], None]) -> None:
        super().__init__(after=after)
        self._reserve = reserve
        self._mark = after + RESERVE_BLOCK // 2

    def stamp(self) -> tuple[int, datetime]:
        event_id, ts = super().stamp()
        if event_id >= self._mark:
            self._mark = event_id + RESERVE_BLOCK // 2
            self._reserve(event_id + RESERVE_BLOCK)
        return event_id, ts


class Ring:
    """A room's recent lines in memory (the newest ``size``), and its last topic record.

    ``loaded`` is False while its lines are being read from the store. The replay
    of its last lines is encoded once per rendering (and day, for the dates of the
    text rendering) until a line is added: a burst of joins costs one encoding.
    """

    __slots__ = ("_replays", "lines", "loaded", "name", "topic")

    def __init__(self, name: str, size: int, *, loaded: bool = True) -> None:
        self.name = name
        self.lines: deque[StoredEvent] = deque(maxlen=size)
        self.topic: StoredEvent | None = None
        self.loaded = loaded
        self._replays: dict[tuple[Rendering, int, date], Replay] = {}

    def add(self, record: StoredEvent) -> None:
        """A line just said in the room."""
        self.lines.append(record)
        self._replays.clear()
        if record.kind is Kind.TOPIC:
            self.topic = record

    def merge(self, stored: Iterable[StoredEvent], topic: StoredEvent | None) -> None:
        """Put lines read from the store before those recorded since, once each."""
        by_id = {record.id: record for record in stored}
        by_id.update((record.id, record) for record in self.lines)
        lines = sorted(by_id.values(), key=lambda record: record.id)
        self.lines.clear()
        self.lines.extend(lines)
        self._replays.clear()
        if topic is not None and (self.topic is None or self.topic.id < topic.id):
            self.topic = topic
        self.loaded = True

    def replay(self, count: int, rendering: Rendering, encoder: Encoder = encode) -> Replay | None:
        """The last ``count`` lines encoded in ``rendering`` by ``encoder`` (the hub's, which
        writes IRC too); None if there are none."""
        key = (rendering, count, date.today())
        made = self._replays.get(key)
        if made is None:
            lines = list(self.lines)[-count:]
            if not lines:
                return None
            data = b"".join(encoder(replayed(record), rendering) for record in lines)
            more = len(self.lines) > len(lines) or not self.loaded
            made = self._replays[key] = Replay(data, lines[0].id, len(lines), more)
        return made


@dataclass(frozen=True, slots=True)
class Replay:
    """A room's last lines, encoded for a joiner: the bytes, the oldest id, how many, and
    whether older ones are kept."""

    data: bytes
    oldest: int
    count: int
    more: bool


def said_record(event: Event, room: str, key: str) -> StoredEvent | None:
    """The history record of ``event``, said in the room ``room`` (its key ``key``): a
    message, an action, a topic change, a question to the AI or its answer; None for
    what is not kept as a line (joins, parts, streamed pieces, failed searches...)."""
    said = _SAID_AS.get(type(event))
    if said is not None:  # a message, an action or a topic change: the common case
        return StoredEvent(
            event.id,
            event.ts,
            room,
            key,
            said,
            event.nick,  # type: ignore[union-attr]
            event.text,  # type: ignore[union-attr]
        )
    if type(event) is SearchStarted:
        assert isinstance(event, SearchStarted)
        return StoredEvent(event.id, event.ts, room, key, Kind.SEARCH, event.nick, event.question)
    if type(event) is AIAnswer:
        assert isinstance(event, AIAnswer)
        return StoredEvent(
            event.id, event.ts, room, key, Kind.AI, event.nick, event.text, event.sources
        )
    return None


def leave_record(event: Part | Leave, room: str, key: str) -> StoredEvent:
    """The record of someone leaving a room (``/part``, or the server while in it): it serves
    ``/seen`` and ``/summary``, and is not a line of the room's history."""
    return StoredEvent(event.id, event.ts, room, key, Kind.LEAVE, event.nick, event.reason)


def replayed(record: StoredEvent) -> Event:
    """A stored record as the event it was, marked as history (AI ids are not kept: 0)."""
    match record.kind:
        case Kind.ACTION:
            return Action(record.id, record.ts, record.nick, record.text, record.room, True)
        case Kind.TOPIC:
            return Topic(
                record.id, record.ts, record.room, record.nick, record.text, True, history=True
            )
        case Kind.SEARCH:
            return SearchStarted(
                record.id, record.ts, record.nick, 0, record.text, record.room, history=True
            )
        case Kind.AI:
            return AIAnswer(
                record.id,
                record.ts,
                record.nick,
                0,
                record.text,
                record.sources,
                record.room,
                history=True,
            )
    return Message(record.id, record.ts, record.nick, record.text, record.room, True)


class HistoryHub(LocalHub):
    """The in-process hub, recording what is said in rooms and replaying it to joiners.

    The seam between the chat and its history: nothing else records. ``publish``
    keeps messages, actions, topic changes, searches and AI answers (O(1), no
    I/O); a ``/part`` and a leaving keep one leave record per room; a published
    :class:`~tcpchat.core.events.Join` replays the room's ring to the joiner at
    once. Private messages are sent, never published, and never kept.
    """

    def __init__(
        self,
        history: RoomHistory,
        max_queue_bytes: int,
        on_drop: Callable[[Peer, str], None] | None,
        *,
        rules: RoomRules,
        encode: Encoder = encode,
    ) -> None:
        super().__init__(max_queue_bytes, on_drop, rules=rules, encode=encode)
        self._history = history
        self._leaving: dict[Peer, str] = {}  # the reason each peer is leaving the server with

    def join_room(self, peer: Peer, name: str) -> Room:
        new = self.room(name) is None
        room = super().join_room(peer, name)
        if new:
            self._history.room_made(room, self)
        return room

    def part_room(self, peer: Peer, room: Room) -> None:
        super().part_room(peer, room)
        self._history.forget(peer, room)

    def publish(self, event: Event, *, room: Room, exclude: Peer | None = None) -> None:
        super().publish(event, room=room, exclude=exclude)
        if type(event) is Join:
            joiner = exclude if exclude is not None else self.find(event.nick)
            if joiner is not None:
                self._history.replay(joiner, room, event.id, self)
        else:
            self._history.record(event, room)

    def announce(self, event: Event, *, about: Peer, exclude: Peer | None = None) -> None:
        super().announce(event, about=about, exclude=exclude)
        if type(event) is Leave:
            self._leaving[about] = event.reason

    @property
    def encoder(self) -> Encoder:
        """How this hub writes events: the core's encode, or the IRC door's encoder."""
        return self._encode

    def leave(self, peer: Peer) -> bool:
        reason = self._leaving.pop(peer, None)
        if peer.nick is not None and self.find(peer.nick) is peer:
            self._history.left(peer.nick, list(peer.rooms), reason or peer.drop_reason or "")
        for room in list(peer.rooms):
            self._history.forget(peer, room)
        return super().leave(peer)


class RoomHistory:
    """A server's history: the store, the rings, the id reservation and the commands.

    Made with the settings; :meth:`open` opens the store (StoreError, before the
    server listens), loads the rings and returns the clock the server must use;
    :meth:`close` commits everything. ``hub`` makes the server's hub.
    """

    def __init__(
        self, settings: HistorySettings, rules: RoomRules, *, redis_url: str | None = None
    ) -> None:
        self.settings = settings
        self.rules = rules
        #: A cluster's Redis (docs/scaling.md): the history is its store, shared by every
        #: node, rather than the SQLite file; the clock is then the cluster hub's.
        self.redis_url = redis_url
        self.on_join = settings.history_on_join
        self.historian: Historian | None = None
        self.clock: EventClock = EventClock()
        self.search: SearchService | None = None  # set by the server: /summary asks it
        self._rings: OrderedDict[str, Ring] = OrderedDict()  # room key -> ring, least used first
        # The oldest id of each room each connection has been shown (/history pages back).
        self._oldest: dict[tuple[Peer, str], int] = {}
        # Per connection: history requests in flight or waiting, and the turn they wait for.
        self._asking: dict[Peer, int] = {}
        self._turns: dict[Peer, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def store(self) -> Store | None:
        """The open history store (None before :meth:`open` and after :meth:`close`):
        where the server also keeps its bans."""
        return self.historian.store if self.historian is not None else None

    @property
    def rings(self) -> int:
        """How many rooms' recent lines are in memory."""
        return len(self._rings)

    @property
    def loading(self) -> int:
        """How many rooms' recent lines are being read from the store."""
        return sum(not ring.loaded for ring in self._rings.values())

    def hub(
        self,
        max_queue_bytes: int,
        on_drop: Callable[[Peer, str], None] | None,
        encode: Encoder = encode,
    ) -> HistoryHub:
        return HistoryHub(self, max_queue_bytes, on_drop, rules=self.rules, encode=encode)

    # -- opening and closing ----------------------------------------------------

    async def open(self) -> EventClock:
        """Open the store, reserve the first block of ids, load the rings; StoreError if
        the file cannot be used. Returns the clock, which starts above every id ever used."""
        if self.redis_url is not None:
            return await self._open_shared(self.redis_url)
        from tcpchat.store.sqlite import SQLiteStore  # sqlite3: only when history is kept

        historian = Historian(
            SQLiteStore(self.settings.db),
            max_age_days=self.settings.history_max_days,
            max_rows_per_room=self.settings.history_max_rows,
        )
        await historian.start()
        self.historian = historian
        try:
            after = historian.highest_id()
            await historian.store.reserve_ids(after + RESERVE_BLOCK)
            await self._load_rings()
        except BaseException:
            await self.close()
            raise
        self.clock = ReservingClock(after, self._reserve)
        log.info(
            "history in %s: ids from %d, %d rooms' recent lines loaded",
            self.settings.db,
            after + 1,
            len(self._rings),
        )
        return self.clock

    async def _open_shared(self, url: str) -> EventClock:
        """A node of a cluster: open the Redis store every node shares. The ids are the
        cluster's (the hub's clock), and the rings are loaded as the node starts reading
        each room (:meth:`load_ring`)."""
        from tcpchat.store.redis import RedisStore  # redis-py: only in a cluster

        store = RedisStore(
            url,
            max_age_days=self.settings.history_max_days,
            max_rows_per_room=self.settings.history_max_rows,
            write_lines=False,  # the hub writes each line with its event
        )
        historian = Historian(
            store,
            max_age_days=self.settings.history_max_days,
            max_rows_per_room=self.settings.history_max_rows,
        )
        await historian.start()
        self.historian = historian
        log.info("history in %s, shared by every node of the cluster", store.shown_url)
        return self.clock

    async def close(self) -> None:
        """Stop the history requests, then commit everything and close the store."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        historian, self.historian = self.historian, None
        if historian is not None:
            await historian.close()

    async def _load_rings(self) -> None:
        store = self._store()
        keys = await store.rooms(self.rules.max_rooms)
        default = room_key(self.rules.default_room)
        if default not in keys:
            keys.append(default)
        for key in reversed(keys):  # the most recent last: the first to be dropped is the oldest
            lines = await store.recent(key, self.on_join + 1) if self.on_join else []
            topic = await store.topic(key)
            name = (lines[-1].room if lines else topic.room if topic else "") or key
            ring = self._rings[key] = Ring(name, self.on_join + 1)
            ring.merge(lines, topic)

    def _store(self) -> Store:
        if self.historian is None:
            raise LocalProtocolError("the history store is not open")
        return self.historian.store

    def _reserve(self, through: int) -> None:
        """Move the id reservation ahead, in the store's thread; never waits (the clock)."""
        if self.historian is not None:
            self._spawn(self._reserve_in_store(through))

    async def _reserve_in_store(self, through: int) -> None:
        # An outage is logged by the store; the next block tries again.
        with contextlib.suppress(HistoryUnavailable):
            await self._store().reserve_ids(through)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the hub's side: recording and replay (synchronous, no I/O) ----------------

    def record(self, event: Event, room: Room) -> None:
        """Keep ``event``, just published to ``room``, if it is worth keeping. O(1), no I/O:
        about 2 µs, most of it making the record and queueing it for the writer thread."""
        record = said_record(event, room.name, room.key)
        if record is None:
            if type(event) is Part and self.historian is not None:
                assert isinstance(event, Part)
                # For /seen and /summary: not a line of the room's history.
                self.historian.append((leave_record(event, room.name, room.key),))
            return  # joins, streamed AI pieces, failed searches, leavings: not kept
        if self.historian is not None:
            self.historian.append((record,))
        ring = self._rings.get(room.key)
        if ring is not None:
            ring.add(record)

    def left(self, nick: str, rooms: Sequence[Room], reason: str) -> None:
        """Keep one leave record per room ``nick`` was in as it left the server."""
        if self.historian is None or not rooms:
            return
        records = []
        for room in rooms:
            event_id, ts = self.clock.stamp()  # one id each: a record's id is its key
            records.append(StoredEvent(event_id, ts, room.name, room.key, Kind.LEAVE, nick, reason))
        self.historian.append(records)

    def room_made(self, room: Room, hub: HistoryHub) -> None:
        """A room was made (first joined since the server started, or since it emptied):
        give it back its topic, and load its ring if it is not in memory."""
        ring = self._rings.get(room.key)
        if ring is not None:
            self._rings.move_to_end(room.key)
            if ring.topic is not None and ring.topic.text:
                hub.set_topic(room, ring.topic.text, ring.topic.nick)
            return
        ring = self._rings[room.key] = Ring(room.name, self.on_join + 1, loaded=False)
        self._drop_unused_rings(hub)
        if self.historian is None:
            ring.loaded = True  # no store: what it records is all there is
        else:
            self._spawn(self._load_ring(room, ring, hub))

    async def _load_ring(self, room: Room, ring: Ring, hub: HistoryHub) -> None:
        store = self._store()
        try:
            lines = await store.recent(room.key, self.on_join + 1) if self.on_join else []
            topic = await store.topic(room.key)
        except HistoryUnavailable:
            ring.loaded = True  # what it holds is what was said since; /history reads the rest
            return
        had_topic = ring.topic is not None
        ring.merge(lines, topic)
        live = hub.room(room.name)
        if not had_topic and ring.topic is not None and live is room and not room.topic:
            hub.set_topic(room, ring.topic.text, ring.topic.nick)

    def _drop_unused_rings(self, hub: HistoryHub) -> None:
        """Keep at most ``--max-rooms`` rings: drop the least used of rooms that are gone."""
        excess = len(self._rings) - self.rules.max_rooms
        if excess <= 0:
            return
        for key in [key for key, ring in self._rings.items() if hub.room(ring.name) is None][
            :excess
        ]:
            del self._rings[key]

    def replay(self, peer: Peer, room: Room, join_id: int, hub: HistoryHub) -> None:
        """Send ``peer``, who just joined ``room``, the room's last lines and the end marker.

        Synchronous, right after the join: the lines are those published before it,
        and every live line of the room comes after them."""
        made = self.replay_for(peer, room, join_id, hub.encoder)
        if made is not None:
            data, end = made
            hub.send_raw(peer, data)
            hub.send(peer, end)

    def replay_for(
        self, peer: Peer, room: Room, join_id: int, encoder: Encoder
    ) -> tuple[bytes, HistoryEnd] | None:
        """What ``peer``, whose join of ``room`` is ``join_id``, is replayed: the room's last
        lines in its wire rendering (written by the hub's ``encoder``), and the end marker
        (None: nothing to replay)."""
        ring = self._rings.get(room.key)
        made = (
            ring.replay(self.on_join, peer.wire_rendering, encoder)
            if ring and self.on_join
            else None
        )
        if made is None:
            self._oldest[(peer, room.key)] = join_id
            return None
        self._oldest[(peer, room.key)] = made.oldest
        event_id, ts = self.clock.stamp()
        return made.data, HistoryEnd(event_id, ts, room.name, made.count, made.more)

    # -- a node of a cluster's side (server/redis_hub.py) ------------------------------
    #
    # In a cluster the hub writes each line to the room's history stream on Redis in the
    # script that appends its event, on the node that sent it; that node hands the other
    # records (leavings, topics, the sightings of /seen) to :meth:`keep` once the script
    # has given them their ids. Every node keeps a ring for each room its members are in:
    # loaded from Redis with what was said before the node's first event there
    # (:meth:`load_ring`), then fed with what it reads off the room's stream (:meth:`heard`).

    def keep(self, records: Iterable[StoredEvent]) -> None:
        """Keep these records of events this node sent to the cluster (ids final)."""
        if self.historian is not None:
            self.historian.append(records)

    def heard(self, event: Event, room: Room) -> None:
        """``event`` came off ``room``'s stream: a line said goes on the room's ring."""
        ring = self._rings.get(room.key)
        if ring is not None:
            record = said_record(event, room.name, room.key)
            if record is not None:
                ring.add(record)

    async def load_ring(self, name: str, key: str, before_id: int) -> None:
        """Read the room's last lines said before ``before_id`` into a fresh ring: what
        came before the node's first event in the room (the stream brings the rest)."""
        ring = self._rings[key] = Ring(name, self.on_join + 1, loaded=False)
        lines: list[StoredEvent] = []
        if self.on_join and self.historian is not None:
            with contextlib.suppress(HistoryUnavailable):
                lines = await self.historian.store.before(key, before_id, self.on_join + 1)
        ring.merge(lines, None)

    def drop_ring(self, key: str) -> None:
        """The node no longer reads the room: its ring would go stale."""
        self._rings.pop(key, None)

    def forget(self, peer: Peer, room: Room) -> None:
        """``peer`` left ``room``: what it was shown there no longer matters."""
        self._oldest.pop((peer, room.key), None)

    # -- the commands' side (HistoryService) ----------------------------------------

    def page(self, asker: Conversation, count: int) -> None:
        room = self._current(asker)
        key = (asker.peer, room.key)
        before = self._oldest.get(key)
        if before is None:
            before, _ = self.clock.stamp()  # nothing shown yet: page back from now
        self._ask(asker, self._page(asker, room, before, count))

    async def _page(self, asker: Conversation, room: Room, before: int, count: int) -> None:
        records = await self._store().before(room.key, before, min(count + 1, MAX_PAGE))
        more = len(records) > count or (len(records) == MAX_PAGE == count)
        records = records[-count:]
        if not asker.registered or room not in asker.peer.rooms:
            return  # gone meanwhile
        for record in records:
            asker.hub.send(asker.peer, replayed(record))
        if records:
            self._oldest[(asker.peer, room.key)] = records[0].id
        event_id, ts = asker.clock.stamp()
        asker.hub.send(asker.peer, HistoryEnd(event_id, ts, room.name, len(records), more))

    def find(self, asker: Conversation, words: str) -> None:
        from tcpchat.store.fts import fts_query

        room = self._current(asker)
        fts_query(words)  # CommandError, in the user's words, before any I/O
        self._ask(asker, self._find(asker, room, words))

    async def _find(self, asker: Conversation, room: Room, words: str) -> None:
        records = await self._store().search(room.key, words)
        hits = tuple(
            Hit(record.id, record.ts, record.kind.value, record.nick, record.text)
            for record in reversed(records)
        )
        if asker.registered:
            event_id, ts = asker.clock.stamp()
            asker.hub.send(asker.peer, Found(event_id, ts, room.name, words, hits))

    def seen(self, asker: Conversation, nick: str) -> None:
        self._ask(asker, self._seen(asker, nick))

    async def _seen(self, asker: Conversation, nick: str) -> None:
        record = await self._store().seen(nick)
        if not asker.registered:
            return
        online = asker.hub.find(nick)
        shown = online.nick if online is not None and online.nick else nick
        event_id, ts = asker.clock.stamp()
        if record is None:
            answer = Seen(event_id, ts, shown, online is not None)
        else:
            did = SEEN_DOING.get(record.kind, "said")
            answer = Seen(
                event_id,
                ts,
                record.nick if online is None else shown,
                online is not None,
                record.ts,
                record.room,
                did,
                record.text,
            )
        asker.hub.send(asker.peer, answer)

    def summary(self, asker: Conversation, scope: SummaryScope) -> None:
        room = self._current(asker)
        if asker.search is None:
            raise CommandError("search is not available on this server")
        self._check_available()
        store = self._store()
        nick = asker.nick
        until, _ = self.clock.stamp()  # what was said up to the asking, not after it

        if scope.count is not None:
            count = scope.count
            words = f"(its last {count} messages)"

            async def load() -> list[HistoryLine]:
                return _lines(await store.recent(room.key, count), until)

        elif scope.minutes is not None:
            words = f"(the last {_span(scope.minutes)})"
            since = utc_now() - timedelta(minutes=scope.minutes)

            async def load() -> list[HistoryLine]:
                recent = await store.recent(room.key, SUMMARY_LINES)
                return _lines((record for record in recent if record.ts >= since), until)

        else:
            words = "(since you last left it, or its last 100 messages)"

            async def load() -> list[HistoryLine]:
                left = await store.last_left(nick, room.key)
                if left is None:
                    return _lines(await store.recent(room.key, SUMMARY_LINES), until)
                return _lines(await store.since(room.key, left.id, SUMMARY_LINES), until)

        asker.search.summarize(asker, room, words, load)

    def _current(self, asker: Conversation) -> Room:
        if asker.room is None:
            raise LocalProtocolError("a history command without a current room")
        return asker.room

    def _check_available(self) -> None:
        if self.historian is None or not self.historian.available:
            raise HistoryUnavailable(UNAVAILABLE)

    def _ask(self, asker: Conversation, work: Coroutine[Any, Any, None]) -> None:
        """Run one history request for ``asker``, after those it asked before (in order);
        at most MAX_QUEUED_REQUESTS wait per connection."""
        peer = asker.peer
        try:
            self._check_available()
            if self._asking.get(peer, 0) >= MAX_QUEUED_REQUESTS:
                raise CommandError(BUSY)
        except TcpchatError:
            work.close()
            raise
        self._asking[peer] = self._asking.get(peer, 0) + 1
        turn = self._turns.setdefault(peer, asyncio.Lock())
        self._spawn(self._answer(asker, work, turn))

    async def _answer(
        self, asker: Conversation, work: Coroutine[Any, Any, None], turn: asyncio.Lock
    ) -> None:
        peer = asker.peer
        try:
            async with turn:
                await work
        except TcpchatError as exc:  # HistoryUnavailable, or words FTS5 cannot take
            if asker.registered:
                asker.fail(exc)
        finally:
            work.close()  # never started if cancelled while waiting its turn
            left = self._asking.pop(peer, 1) - 1
            if left:
                self._asking[peer] = left
            else:
                self._turns.pop(peer, None)


def _lines(records: Iterable[StoredEvent], until: int) -> list[HistoryLine]:
    return [HistoryLine(r.ts, r.kind.value, r.nick, r.text) for r in records if r.id < until]


def _span(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return "hour" if hours == 1 else f"{hours} hours"
    return "minute" if minutes == 1 else f"{minutes} minutes"
