"""The history store on Redis: what many tcpchat servers share (``docs/scaling.md``).

It is the same :class:`~tcpchat.store.base.Store` as the SQLite backend, and
behaves the same to the chat: :meth:`RedisStore.append` only buffers,
:meth:`RedisStore.flush` sends the buffer in pipelines, reads have the same
hard limits, and trouble with Redis never reaches the chat: a lost connection
makes the store unavailable (logged once, with the URL's password hidden),
reads raise :class:`~tcpchat.core.errors.HistoryUnavailable`, and the
records wait (bounded) until Redis answers again.

The keys (``PREFIX`` is ``tcpchat`` unless told otherwise; a room's keys carry
its key in a hash tag, ``{#lobby}``, so that they share a Redis Cluster slot):

- ``PREFIX:{ROOM}:history``: a Stream, what was said in the room. Each entry's
  id is ``EVENT_ID-0``: Redis keeps each room's entries in id order and refuses
  an id at or below the newest, so a batch sent twice is stored once, and
  ``before``/``since`` are exclusive id ranges. Capped at the retention's rows
  per room (``MAXLEN ~`` at every XADD, exact at pruning), and pruned by age.
- ``PREFIX:{ROOM}:room``: a hash; ``topic`` is the room's last topic record,
  which outlives retention as it does in SQLite.
- ``PREFIX:nick:{NICK}:seen``: a hash per nick; ``any``, ``in:ROOM`` and
  ``left:ROOM`` are its last sighting anywhere, in a room, and its last
  leaving of a room. It expires after the retention's days of silence.
- ``PREFIX:history:rooms``: the set of rooms with history (what pruning walks).
- ``PREFIX:bans``: a hash of the bans, each a JSON object under ``ROOM_KEY MASK``
  (``ROOM_KEY`` "" for a server ban).
- ``PREFIX:ids``: the highest event id handed out or stored. :meth:`RedisStore.next_ids`
  takes blocks from it (INCRBY): the event clock of several servers.

``/find`` reads the room's newest :data:`SEARCH_SCAN_ENTRIES` lines and matches
them in Python with the words' FTS5 meaning (:mod:`tcpchat.store.matching`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError
from redis.typing import EncodableT, FieldT

from tcpchat.core.errors import HistoryUnavailable, LocalProtocolError, StoreError
from tcpchat.core.events import utc_now
from tcpchat.core.moderation import Ban
from tcpchat.core.nicks import nick_key
from tcpchat.store.base import (
    MAX_PAGE,
    MAX_SEARCH_HITS,
    SAID,
    SIGHTINGS,
    Kind,
    StoredEvent,
    stored_time,
)
from tcpchat.store.matching import matcher
from tcpchat.store.pending import PendingRecords

log = logging.getLogger("tcpchat.store")

#: The first part of every key: two chats can share one Redis under two prefixes.
DEFAULT_PREFIX = "tcpchat"
#: Records kept in memory while Redis is away; past that the oldest are dropped, and counted.
DEFAULT_MAX_PENDING = 50_000
#: Seconds to connect, and to wait for one reply, before Redis counts as unavailable.
CONNECT_TIMEOUT = 2.0
REPLY_TIMEOUT = 5.0
#: Records sent in one pipeline: a big backlog goes in steps of bounded size.
PIPELINE_RECORDS = 500
#: The newest lines of a room that ``/find`` reads, and how many at a time.
SEARCH_SCAN_ENTRIES = 10_000
SEARCH_SCAN_STEP = 500
#: Entries one pruning step reads, oldest first, to find where age pruning stops.
PRUNE_STEP = 1_000
#: Streams' exclusive ranges and XTRIM MINID came with Redis 6.2.
MIN_REDIS_VERSION = (6, 2)


def version_of(text: str) -> tuple[int, ...]:
    """A Redis version's major and minor numbers, from ``INFO``'s ``redis_version``
    ("7.0.15": (7, 0)); ValueError if it is not one."""
    return tuple(int(n) for n in text.split(".")[:2])


UNAVAILABLE = "history is unavailable right now (the server cannot reach Redis); chat goes on"

# Keep, for each field, the value whose leading id is the highest: a batch sent again,
# or another server's older news, never overwrites a newer sighting.
# KEYS[1]: the hash. ARGV[1]: seconds to expire after (0: never); then field, value pairs.
_KEEP_NEWEST = """
for i = 2, #ARGV, 2 do
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  if not old or tonumber(string.match(old, '^%d+')) < tonumber(string.match(ARGV[i + 1], '^%d+'))
  then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
if tonumber(ARGV[1]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return 0
"""
# Raise the id counter to at least ARGV[1]; return it.
_RAISE_TO = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local wanted = tonumber(ARGV[1])
if wanted > current then redis.call('SET', KEYS[1], ARGV[1]) return wanted end
return current
"""
# Hand out ARGV[2] ids above max(the counter, ARGV[1]); return the last (the cluster hub
# takes its ids with it too). The floor keeps ids
# increasing when Redis came back empty: a server passes the highest id it has seen.
NEXT_IDS_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if floor > current then current = floor end
current = current + tonumber(ARGV[2])
redis.call('SET', KEYS[1], current)
return current
"""


def redact_url(url: str) -> str:
    """``url`` with its password (and a username's) replaced by ``***``: fit for logs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(a Redis URL that cannot be parsed)"
    if parts.password is None and parts.username is None:
        return url
    if ":" in host:
        host = f"[{host}]"
    netloc = "***@" + host + (f":{port}" if port is not None else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisKeys:
    """The names of tcpchat's keys under one prefix (the module's docstring lays them out)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self.ids = f"{prefix}:ids"
        self.rooms = f"{prefix}:history:rooms"
        self.bans = f"{prefix}:bans"

    def history(self, room_key: str) -> str:
        return f"{self.prefix}:{{{room_key}}}:history"

    def room(self, room_key: str) -> str:
        return f"{self.prefix}:{{{room_key}}}:room"

    def seen(self, nick: str) -> str:
        return f"{self.prefix}:nick:{{{nick_key(nick)}}}:seen"


class RedisStore:
    """History in Redis (:class:`~tcpchat.store.base.Store`), shared by every server on it.

    ``url`` is ``redis://[:PASSWORD@]HOST[:PORT][/DB]`` or ``rediss://`` for TLS,
    as redis-py reads it. ``max_age_days`` and ``max_rows_per_room`` are the
    retention (0 turns either off): the rows cap every XADD and the age expires
    the nicks' sightings; :meth:`prune` applies both exactly.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_age_days: int = 0,
        max_rows_per_room: int = 0,
        max_pending: int = DEFAULT_MAX_PENDING,
        write_lines: bool = True,
    ) -> None:
        self.url = url
        # False in a cluster: the hub appends each line to its history stream itself, in
        # the script that appends its event (server/redis_hub.py), so that the lines are
        # in the rooms' one order; the store then keeps topics, sightings and the rooms.
        self._write_lines = write_lines
        self.shown_url = redact_url(url)
        self.keys = RedisKeys(prefix)
        self._max_age_days = max_age_days
        self._max_rows = max_rows_per_room
        self._pending = PendingRecords(self.shown_url, "Redis", max_pending)
        self._client: aioredis.Redis | None = None
        self._write_lock = asyncio.Lock()  # one flush at a time: sightings go in id order
        self._highest = 0

    # -- opening and closing ------------------------------------------------------

    async def open(self) -> None:
        """Connect, check the server, read the id counter; StoreError (URL redacted) if not."""
        if self._client is not None:
            raise LocalProtocolError("the history store is already open")
        try:
            client = aioredis.Redis.from_url(
                self.url,
                decode_responses=True,
                encoding_errors="replace",  # (a value no node wrote: read, not a failure)
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=REPLY_TIMEOUT,
                # Once more at once, on a fresh connection: a pooled one dies when Redis restarts.
                retry=Retry(NoBackoff(), 1),
            )
        except ValueError as exc:
            raise StoreError(f"{self.shown_url}: not a Redis URL ({exc})") from None
        try:
            info = await client.info("server")
            version = version_of(str(info["redis_version"]))
            highest = int(await client.get(self.keys.ids) or 0)
        except (RedisError, OSError, ValueError) as exc:
            await client.aclose()
            raise StoreError(f"{self.shown_url}: cannot use Redis ({_said(exc)})") from None
        if version < MIN_REDIS_VERSION:
            await client.aclose()
            raise StoreError(
                f"{self.shown_url}: Redis {info['redis_version']} is too old "
                f"(tcpchat needs {'.'.join(map(str, MIN_REDIS_VERSION))} or later)"
            )
        self._client = client
        self._highest = highest

    async def close(self) -> None:
        """Send everything appended, then disconnect. Safe to call twice."""
        client = self._client
        if client is None:
            return
        try:
            await self.flush()
            self._pending.warn_unwritten()
        finally:
            self._client = None
            await client.aclose()

    # -- writing -----------------------------------------------------------------

    def append(self, records: Iterable[StoredEvent]) -> None:
        """Queue records for the next flush: no I/O, O(1) a record."""
        self._pending.add(records)

    async def flush(self) -> None:
        """Send what was appended, in pipelines of PIPELINE_RECORDS. Never raises for Redis
        trouble: what was not sent goes back on the buffer for the next flush."""
        async with self._write_lock:
            if not self._pending and not self._pending.available:
                await self._probe()
            while self._pending:
                batch = self._pending.take(PIPELINE_RECORDS)
                try:
                    highest = await self._write(batch)
                except RedisError as exc:
                    self._pending.put_back(batch)
                    self._failed(exc)
                    return
                except BaseException:
                    self._pending.put_back(batch)  # cancelled: sending again is harmless
                    raise
                self._highest = max(self._highest, highest)
                self._pending.recovered()

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def available(self) -> bool:
        return self._pending.available

    @property
    def dropped(self) -> int:
        """Records dropped from the buffer during the current outage."""
        return self._pending.dropped

    def highest_id(self) -> int:
        return self._highest

    async def reserve_ids(self, through: int) -> None:
        """Raise the shared id counter to ``through``: no id up to it is handed out again,
        stored or not. HistoryUnavailable when Redis cannot be reached."""
        try:
            await self._connected().eval(_RAISE_TO, 1, self.keys.ids, through)
        except RedisError as exc:
            self._failed(exc)
            raise HistoryUnavailable(UNAVAILABLE) from exc
        self._highest = max(self._highest, through)

    async def rooms(self, limit: int) -> list[str]:
        """The keys of the ``limit`` rooms said in most recently, most recent first.

        One pipeline of XREVRANGE COUNT 1 over the rooms with history (at most
        ``--max-rooms`` of them are asked for at start-up)."""
        if limit <= 0:
            return []
        await self.flush()
        try:
            client = self._connected()
            keys = [room_key async for room_key in client.sscan_iter(self.keys.rooms)]
            pipe = client.pipeline(transaction=False)
            for room_key in keys:
                pipe.xrevrange(self.keys.history(room_key), count=1)
            newest = await pipe.execute()
        except RedisError as exc:
            self._failed(exc)
            raise HistoryUnavailable(UNAVAILABLE) from exc
        said = [
            (int(entries[0][0].split("-", 1)[0]), room_key)
            for room_key, entries in zip(keys, newest, strict=True)
            if entries
        ]
        said.sort(reverse=True)
        return [room_key for _, room_key in said[:limit]]

    async def next_ids(self, count: int) -> range:
        """``count`` event ids no server has had, increasing: the cluster's event clock.

        One INCRBY of the shared counter (with this server's highest id as a floor,
        so that a Redis restarted empty never hands out an id twice).
        HistoryUnavailable when Redis cannot be reached."""
        if count < 1:
            raise LocalProtocolError("next_ids needs a count of at least 1")
        try:
            client = self._connected()
            last = int(await client.eval(NEXT_IDS_SCRIPT, 1, self.keys.ids, self._highest, count))
        except RedisError as exc:
            self._failed(exc)
            raise HistoryUnavailable(UNAVAILABLE) from exc
        self._highest = max(self._highest, last)
        return range(last - count + 1, last + 1)

    async def _write(self, batch: Sequence[StoredEvent]) -> int:
        """One pipeline for the batch; the id counter after it."""
        pipe = self._connected().pipeline(transaction=False)
        rooms: set[str] = set()
        sightings: dict[str, dict[str, str]] = {}
        topics: dict[str, str] = {}
        for record in batch:
            value = _encode(record)
            if record.kind in SAID:
                rooms.add(record.room_key)
            if record.kind in SAID and self._write_lines:
                pipe.xadd(
                    self.keys.history(record.room_key),
                    history_fields(record),
                    id=f"{record.id}-0",
                    maxlen=self._max_rows or None,
                    approximate=True,
                )
            if record.kind is Kind.TOPIC:
                topics[record.room_key] = value
            if record.kind in SIGHTINGS:
                fields = sightings.setdefault(self.keys.seen(record.nick), {})
                fields["any"] = fields[f"in:{record.room_key}"] = value
                if record.kind is Kind.LEAVE:
                    fields[f"left:{record.room_key}"] = value
        for room_key, value in topics.items():
            pipe.eval(_KEEP_NEWEST, 1, self.keys.room(room_key), 0, "topic", value)
        ttl = self._max_age_days * 86_400
        for key, fields in sightings.items():
            pipe.eval(_KEEP_NEWEST, 1, key, ttl, *(x for pair in fields.items() for x in pair))
        if rooms:
            pipe.sadd(self.keys.rooms, *rooms)
        pipe.eval(_RAISE_TO, 1, self.keys.ids, max(record.id for record in batch))
        results = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, ResponseError) and not _already_stored(result):
                raise result
            if isinstance(result, RedisError) and not isinstance(result, ResponseError):
                raise result
        return int(results[-1])

    def _failed(self, error: BaseException) -> None:
        self._pending.failed(_said(error))

    async def _probe(self) -> None:
        """Unavailable, with nothing waiting to be written (a read failed, a /seen or the
        hourly prune): whether Redis answers again. Without it the store would stay
        unavailable, its commands refused and the node not ready, until something was
        said on this node."""
        if self._client is None:
            return  # (closed)
        try:
            await self._client.ping()
        except RedisError as exc:
            self._failed(exc)
            return
        self._pending.recovered()

    # -- bans --------------------------------------------------------------------

    async def save_ban(self, ban: Ban) -> None:
        value = ban_json(ban)
        await self._bans_call(lambda client: client.hset(self.keys.bans, _ban_field(ban), value))

    async def remove_ban(self, ban: Ban) -> None:
        await self._bans_call(lambda client: client.hdel(self.keys.bans, _ban_field(ban)))

    async def bans(self) -> list[Ban]:
        values: dict[str, str] = await self._bans_call(
            lambda client: client.hgetall(self.keys.bans)
        )
        found = []
        for text in values.values():
            ban = ban_from_json(text)
            if ban is None:
                log.warning("a ban in %s cannot be read; it is skipped", self.keys.bans)
            else:
                found.append(ban)
        return sorted(found, key=lambda ban: ban.created)

    async def _bans_call(self, call: Callable[[aioredis.Redis], Awaitable[Any]]) -> Any:
        try:
            return await call(self._connected())
        except RedisError as exc:
            self._failed(exc)
            raise HistoryUnavailable(UNAVAILABLE) from exc

    # -- reading -----------------------------------------------------------------

    async def recent(self, room_key: str, limit: int) -> list[StoredEvent]:
        return await self._page(room_key, "+", "-", limit)

    async def before(self, room_key: str, before_id: int, limit: int) -> list[StoredEvent]:
        return await self._page(room_key, f"({before_id}-0", "-", limit)

    async def since(self, room_key: str, after_id: int, limit: int) -> list[StoredEvent]:
        return await self._page(room_key, "+", f"({after_id}-0", limit)

    async def search(
        self, room_key: str, words: str, limit: int = MAX_SEARCH_HITS
    ) -> list[StoredEvent]:
        wanted = matcher(words)  # CommandError, in the user's words, before any I/O
        bounded = min(max(limit, 0), MAX_SEARCH_HITS)
        hits: list[StoredEvent] = []
        newest = "+"
        read = 0
        while bounded and read < SEARCH_SCAN_ENTRIES:
            step = min(SEARCH_SCAN_STEP, SEARCH_SCAN_ENTRIES - read)
            entries = await self._newest(room_key, newest, "-", step)
            read += len(entries)
            for entry_id, fields in entries:
                if wanted.matches(fields["text"]):
                    hits.append(_decode_entry(room_key, entry_id, fields))
                    if len(hits) == bounded:
                        return hits
            if len(entries) < step:
                break
            newest = f"({entries[-1][0]}"
        return hits

    async def seen(self, nick: str, room_key: str | None = None) -> StoredEvent | None:
        field = "any" if room_key is None else f"in:{room_key}"
        return await self._hash_record(self.keys.seen(nick), field, expires=True)

    async def last_left(self, nick: str, room_key: str) -> StoredEvent | None:
        return await self._hash_record(self.keys.seen(nick), f"left:{room_key}", expires=True)

    async def topic(self, room_key: str) -> StoredEvent | None:
        return await self._hash_record(self.keys.room(room_key), "topic", expires=False)

    async def _page(self, room_key: str, top: str, bottom: str, limit: int) -> list[StoredEvent]:
        bounded = min(limit, MAX_PAGE)
        if bounded <= 0:
            return []
        entries = await self._newest(room_key, top, bottom, bounded)
        return [_decode_entry(room_key, entry_id, fields) for entry_id, fields in reversed(entries)]

    async def _newest(self, room_key: str, top: str, bottom: str, count: int) -> Entries:
        """The room's newest ``count`` entries from ``top`` down to ``bottom``, newest first."""
        stream = self.keys.history(room_key)
        return _entries(await self._read(lambda db: db.xrevrange(stream, top, bottom, count=count)))

    async def _hash_record(self, key: str, field: str, *, expires: bool) -> StoredEvent | None:
        value = await self._read(lambda db: db.hget(key, field))
        if value is None:
            return None
        record = _decode(str(value))
        if (
            expires
            and self._max_age_days
            and record.ts < utc_now() - timedelta(days=self._max_age_days)
        ):
            return None  # older than retention keeps: gone, as pruning makes it in SQLite
        return record

    async def _read(self, query: Callable[[aioredis.Redis], Awaitable[Any]]) -> Any:
        """Run one read after sending what waits (so that it sees every record appended
        before it); HistoryUnavailable if Redis cannot answer. During an outage the read
        does not try the write first: it would fail the same way, twice as slowly."""
        if self._pending.available:
            await self.flush()
        try:
            return await query(self._connected())
        except RedisError as exc:
            self._failed(exc)
            raise HistoryUnavailable(UNAVAILABLE) from exc

    def _connected(self) -> aioredis.Redis:
        if self._client is None:
            raise LocalProtocolError("the history store is not open")
        return self._client

    # -- retention ---------------------------------------------------------------

    async def prune(self, max_age_days: int, max_rows_per_room: int) -> int:
        """Trim each room's stream by age (XTRIM MINID) and rows (XTRIM MAXLEN, exact);
        topics and the nicks' sightings are kept and expire apart. HistoryUnavailable
        if Redis cannot answer."""
        await self.flush()
        cutoff = stored_time(utc_now() - timedelta(days=max_age_days)) if max_age_days else None
        deleted = 0
        try:
            client = self._connected()
            async for room_key in client.sscan_iter(self.keys.rooms):
                stream = self.keys.history(room_key)
                if cutoff is not None:
                    deleted += await self._trim_older(client, stream, cutoff)
                if max_rows_per_room > 0:
                    deleted += int(
                        await client.xtrim(stream, maxlen=max_rows_per_room, approximate=False)
                    )
        except RedisError as exc:
            self._failed(exc)
            raise HistoryUnavailable(UNAVAILABLE) from exc
        return deleted

    async def _trim_older(self, client: aioredis.Redis, stream: str, cutoff: str) -> int:
        """Delete the stream's entries stamped before ``cutoff``, PRUNE_STEP at a time.
        Entries are in id order, and ids in time order, so the first young one ends it."""
        deleted = 0
        while True:
            entries = _entries(await client.xrange(stream, "-", "+", count=PRUNE_STEP))
            young = next((entry_id for entry_id, fields in entries if fields["ts"] >= cutoff), None)
            if young is not None:
                return deleted + int(await client.xtrim(stream, minid=young, approximate=False))
            if not entries:
                return deleted
            last = int(entries[-1][0].split("-")[0])
            deleted += int(await client.xtrim(stream, minid=f"{last + 1}-0", approximate=False))


#: Stream entries as redis-py returns them with ``decode_responses``: (id, fields).
Entries = list[tuple[str, dict[str, str]]]


def _entries(reply: object) -> Entries:
    """XRANGE's or XREVRANGE's reply, typed (None for a missing stream is no entries)."""
    return cast(Entries, reply or [])


def _already_stored(error: ResponseError) -> bool:
    """XADD's refusal of an id at or below the stream's newest: the record is there already."""
    return "equal or smaller than the target stream top item" in str(error)


def _said(error: BaseException) -> str:
    """An error in one line, without any URL (redis-py's messages name host and port only)."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def history_fields(record: StoredEvent) -> dict[FieldT, EncodableT]:
    """A record as a stream entry's fields (its id is the entry's, its room the stream's)."""
    return {
        "ts": stored_time(record.ts),
        "room": record.room,
        "kind": record.kind.value,
        "nick": record.nick,
        "text": record.text,
        "sources": json.dumps(record.sources) if record.sources else "",
    }


def _decode_entry(room_key: str, entry_id: str, fields: dict[str, str]) -> StoredEvent:
    sources = fields.get("sources", "")
    return StoredEvent(
        id=int(entry_id.split("-")[0]),
        ts=datetime.fromisoformat(fields["ts"]),
        room=fields["room"],
        room_key=room_key,
        kind=Kind(fields["kind"]),
        nick=fields["nick"],
        text=fields["text"],
        sources=tuple(json.loads(sources)) if sources else (),
    )


def _encode(record: StoredEvent) -> str:
    """A whole record as one hash value: ``ID JSON`` (the id first, for _KEEP_NEWEST)."""
    body = [
        stored_time(record.ts),
        record.room,
        record.room_key,
        record.kind.value,
        record.nick,
        record.text,
        list(record.sources),
    ]
    return f"{record.id} {json.dumps(body, ensure_ascii=False)}"


def _decode(value: str) -> StoredEvent:
    id_, body = value.split(" ", 1)
    ts, room, room_key, kind, nick, text, sources = json.loads(body)
    return StoredEvent(
        int(id_), datetime.fromisoformat(ts), room, room_key, Kind(kind), nick, text, tuple(sources)
    )


def ban_json(ban: Ban) -> str:
    """A ban as the JSON object the bans hash keeps (and a cluster's nodes tell each other)."""
    return json.dumps(
        {
            "room_key": ban.room_key,
            "mask": ban.mask,
            "room": ban.room,
            "target": ban.target,
            "skeleton": ban.skeleton,
            "by": ban.by,
            "reason": ban.reason,
            "created": ban.created,
            "expires": ban.expires,
        },
        ensure_ascii=False,
    )


def ban_from_json(text: str) -> Ban | None:
    """The ban :func:`ban_json` wrote; None for text that is not one."""
    try:
        return Ban(**json.loads(text))
    except (ValueError, TypeError):
        return None


def _ban_field(ban: Ban) -> str:
    """A ban's field in the bans hash: its room key and mask (neither holds a space)."""
    return f"{ban.room_key} {ban.mask}"
