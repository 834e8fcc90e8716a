"""The embedded history store: one SQLite file, written from one thread.

Nothing here runs SQLite on the event loop. :meth:`SQLiteStore.append` puts
records on an in-memory buffer; :meth:`SQLiteStore.flush` hands the buffer to
the store's own thread, which commits it in one transaction of a few
multi-row ``INSERT``s; reads run in that thread too, each with a hard ``LIMIT``.
One thread, one connection: writes and reads queue in the order they were
asked, and no two statements ever contend for the connection.

The file is in WAL mode with ``synchronous = NORMAL``: a commit reaches the
operating system before it returns, so killing the process loses nothing
committed (a power cut may lose the last commits, never the file).
``sqlite3 tcpchat.db ".backup backup.db"`` copies it safely while the server runs.

Trouble with the disk at run time (full, locked) never reaches the chat: the
batch goes back on the buffer, which keeps at most ``max_pending`` records
(the oldest are dropped past that, and counted), the first failure and the
recovery are each logged once, and :attr:`SQLiteStore.available` says which
state the store is in. See ``docs/history.md``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from tcpchat.core.errors import (
    CommandError,
    HistoryUnavailable,
    LocalProtocolError,
    StoreError,
)
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
from tcpchat.store.fts import fts_query
from tcpchat.store.pending import PendingRecords

log = logging.getLogger("tcpchat.store")

T = TypeVar("T")

#: The schema this tcpchat writes. A file with a higher one is refused at open.
SCHEMA_VERSION = 1
#: Records kept in memory while the disk refuses them (about 20 MB of chat);
#: past that the oldest are dropped, and counted.
DEFAULT_MAX_PENDING = 50_000
#: Seconds the writer thread waits for another process's lock before a write fails.
DEFAULT_BUSY_TIMEOUT = 0.5
#: Rows one pruning statement deletes: small steps, so that flushes go between them.
PRUNE_CHUNK_ROWS = 1_000
#: A new database file is readable by its owner only (docs/security.md).
FILE_MODE = 0o600

UNAVAILABLE = "history is unavailable right now (the server cannot read its database); chat goes on"

_SAID_KINDS = ", ".join(f"'{kind}'" for kind in sorted(SAID))
_SIGHTING_KINDS = ", ".join(f"'{kind}'" for kind in sorted(SIGHTINGS))

SCHEMA = f"""
CREATE TABLE tcpchat_schema (version INTEGER NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE events (
    id INTEGER PRIMARY KEY,   -- the server's event id
    ts TEXT NOT NULL,         -- UTC, ISO 8601 with microseconds: sorts as it reads
    room_key TEXT NOT NULL,   -- the room's name as compared (NFKC, casefolded)
    room TEXT NOT NULL,       -- the room's name as first written
    kind TEXT NOT NULL,       -- message, action, topic, search, ai, leave
    nick TEXT NOT NULL,
    nick_key TEXT NOT NULL,
    text TEXT NOT NULL,
    sources TEXT NOT NULL     -- an AI answer's sources as a JSON array, else ''
);
CREATE INDEX events_by_room ON events (room_key, id);
CREATE INDEX events_by_nick ON events (nick_key, id);
CREATE INDEX events_by_time ON events (ts);
CREATE INDEX topics_by_room ON events (room_key, id) WHERE kind = 'topic';
CREATE VIRTUAL TABLE events_text USING fts5 (
    text, content = 'events', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER events_text_insert AFTER INSERT ON events WHEN new.kind IN ({_SAID_KINDS}) BEGIN
    INSERT INTO events_text (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER events_text_delete AFTER DELETE ON events WHEN old.kind IN ({_SAID_KINDS}) BEGIN
    INSERT INTO events_text (events_text, rowid, text) VALUES ('delete', old.id, old.text);
END;
INSERT INTO tcpchat_schema (version) VALUES ({SCHEMA_VERSION});
INSERT INTO meta (key, value) VALUES ('highest_id', 0);
"""

# Bans (core/moderation.py), one row each, made in every file at open: a file from before
# bans gets the table, and a tcpchat from before bans ignores it.
BANS_SCHEMA = """
CREATE TABLE IF NOT EXISTS bans (
    room_key TEXT NOT NULL,   -- '' for a server ban
    mask TEXT NOT NULL,       -- the nickname's key, or the network
    room TEXT NOT NULL,
    target TEXT NOT NULL,
    skeleton TEXT NOT NULL,
    set_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    created REAL NOT NULL,    -- Unix time
    expires REAL,             -- Unix time; NULL: for good
    PRIMARY KEY (room_key, mask)
) WITHOUT ROWID
"""
_BAN_COLUMNS = "room_key, mask, room, target, skeleton, set_by, reason, created, expires"

_COLUMNS = "e.id, e.ts, e.room, e.room_key, e.kind, e.nick, e.text, e.sources"
#: Rows one INSERT writes, at most (a power of two: see _chunks). The search index is
#: filled by a trigger, and a trigger runs under its statement's savepoint, at which FTS5
#: writes out the terms it holds: an INSERT a row made every line a segment of index of
#: its own, and a line cost the writer thread more than twice as much (docs/history.md).
ROWS_PER_INSERT = 128
_INSERTED = (
    "INSERT OR IGNORE INTO events (id, ts, room_key, room, kind, nick, nick_key, text, sources) "
    "VALUES "
)
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
_PER_ROW = _ROW.count("?")
# Each room keeps its newest topic through pruning: an empty room's topic survives.
_NOT_LAST_TOPIC = (
    "NOT (e.kind = 'topic' AND e.id = "
    "(SELECT max(t.id) FROM events t WHERE t.room_key = e.room_key AND t.kind = 'topic'))"
)

Row = tuple[int, str, str, str, str, str, str, str]


class SQLiteStore:
    """History in one SQLite file (:class:`~tcpchat.store.base.Store`), written off the loop.

    ``path`` is the file (created, owner-only, when missing). ``max_pending``
    bounds the records held in memory while the disk refuses them;
    ``busy_timeout`` is how long a write waits for another process's lock.
    """

    def __init__(
        self,
        path: str,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._pending = PendingRecords(path, "the disk", max_pending)
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None  # the writer thread's alone
        self._rows_per_insert = ROWS_PER_INSERT  # fewer if SQLite takes fewer parameters
        self._highest = 0

    # -- opening and closing ------------------------------------------------------

    async def open(self) -> None:
        """Open or create the file and check that it is tcpchat's; StoreError if not."""
        if self._executor is not None:
            raise LocalProtocolError("the history store is already open")
        executor = ThreadPoolExecutor(1, thread_name_prefix="tcpchat-store")
        try:
            self._highest = await asyncio.get_running_loop().run_in_executor(
                executor, self._open_in_thread
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self._executor = executor

    async def close(self) -> None:
        """Commit everything appended, then close the file. Safe to call twice."""
        executor = self._executor
        if executor is None:
            return
        try:
            await self.flush()
            self._pending.warn_unwritten()
            await asyncio.get_running_loop().run_in_executor(executor, self._close_in_thread)
        finally:
            self._executor = None
            executor.shutdown(wait=False)  # its one thread has nothing left to run

    # -- writing -----------------------------------------------------------------

    def append(self, records: Iterable[StoredEvent]) -> None:
        """Queue records for the next flush: no I/O, O(1) a record."""
        self._pending.add(records)

    async def flush(self) -> None:
        """Commit what was appended, in the writer thread. Never raises for disk trouble.

        If the write fails the records go back on the buffer for the next flush.
        Cancelling the caller does not cancel a write under way: its outcome is
        still counted, and a failed batch still comes back.
        """
        if not self._pending:
            return
        batch = self._pending.take()
        future = asyncio.get_running_loop().run_in_executor(
            self._writer(), self._write_in_thread, batch
        )
        future.add_done_callback(functools.partial(self._written, batch))
        await asyncio.wait([future])

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
        """Record that ids up to ``through`` may be handed out, so that a restart starts
        above them even if the events that bore them were never stored (joins, private
        messages, the last second before a crash). HistoryUnavailable on trouble."""
        try:
            await self.run_in_writer(functools.partial(_reserve, through))
        except sqlite3.Error as exc:
            raise HistoryUnavailable(UNAVAILABLE) from exc
        self._highest = max(self._highest, through)

    async def rooms(self, limit: int) -> list[str]:
        """The keys of the ``limit`` rooms said in most recently, most recent first."""
        sql = (
            f"SELECT room_key FROM events WHERE kind IN ({_SAID_KINDS}) "
            "GROUP BY room_key ORDER BY max(id) DESC LIMIT ?"
        )
        if self._pending.available:
            await self.flush()
        try:
            rows: list[tuple[str]] = await self.run_in_writer(
                lambda db: db.execute(sql, (max(limit, 0),)).fetchall()
            )
        except sqlite3.Error as exc:
            raise HistoryUnavailable(UNAVAILABLE) from exc
        return [room_key for (room_key,) in rows]

    def _written(self, batch: list[StoredEvent], future: asyncio.Future[int]) -> None:
        if future.cancelled():
            self._pending.put_back(batch)
            return
        error = future.exception()
        if error is None:
            self._highest = max(self._highest, future.result())
            self._pending.recovered()
        elif isinstance(error, sqlite3.Error):
            self._pending.put_back(batch)
            self._pending.failed(str(error))
        else:  # a bug of ours: retrying the same batch would fail the same way
            log.error("history: %d records not written", len(batch), exc_info=error)

    # -- reading -----------------------------------------------------------------

    async def recent(self, room_key: str, limit: int) -> list[StoredEvent]:
        return await self._page("room_key = ?", (room_key,), limit)

    async def before(self, room_key: str, before_id: int, limit: int) -> list[StoredEvent]:
        return await self._page("room_key = ? AND id < ?", (room_key, before_id), limit)

    async def since(self, room_key: str, after_id: int, limit: int) -> list[StoredEvent]:
        return await self._page("room_key = ? AND id > ?", (room_key, after_id), limit)

    async def search(
        self, room_key: str, words: str, limit: int = MAX_SEARCH_HITS
    ) -> list[StoredEvent]:
        query = fts_query(words)  # CommandError, in the user's words, before any I/O
        sql = (
            f"SELECT {_COLUMNS} FROM events_text JOIN events e ON e.id = events_text.rowid "
            "WHERE events_text MATCH ? AND e.room_key = ? ORDER BY events_text.rowid DESC LIMIT ?"
        )
        bounded = min(max(limit, 0), MAX_SEARCH_HITS)
        try:
            return await self._rows(sql, (query, room_key, bounded))
        except HistoryUnavailable as exc:
            if "fts5" in str(exc.__cause__):  # never, while fts_query is right: said plainly
                raise CommandError("/find cannot search for that; try plain words") from exc
            raise

    async def seen(self, nick: str, room_key: str | None = None) -> StoredEvent | None:
        where = f"nick_key = ? AND kind IN ({_SIGHTING_KINDS})"
        args: tuple[object, ...] = (nick_key(nick),)
        if room_key is not None:
            where, args = where + " AND room_key = ?", (*args, room_key)
        return await self._last(where, args)

    async def last_left(self, nick: str, room_key: str) -> StoredEvent | None:
        return await self._last(
            "nick_key = ? AND room_key = ? AND kind = 'leave'", (nick_key(nick), room_key)
        )

    async def topic(self, room_key: str) -> StoredEvent | None:
        return await self._last("room_key = ? AND kind = 'topic'", (room_key,))

    async def _page(self, where: str, args: tuple[object, ...], limit: int) -> list[StoredEvent]:
        bounded = min(max(limit, 0), MAX_PAGE)
        sql = (
            f"SELECT {_COLUMNS} FROM events e WHERE {where} AND kind IN ({_SAID_KINDS}) "
            "ORDER BY id DESC LIMIT ?"
        )
        return list(reversed(await self._rows(sql, (*args, bounded))))

    async def _last(self, where: str, args: tuple[object, ...]) -> StoredEvent | None:
        sql = f"SELECT {_COLUMNS} FROM events e WHERE {where} ORDER BY id DESC LIMIT 1"
        rows = await self._rows(sql, args)
        return rows[0] if rows else None

    async def _rows(self, sql: str, args: tuple[object, ...]) -> list[StoredEvent]:
        """Run a query in the writer thread, after committing what waits, so that a read
        sees everything appended before it. During an outage the read does not try the
        write first: it would wait on the lock, and fail, before reading what is there."""
        if self._pending.available:
            await self.flush()
        try:
            rows: list[Row] = await self.run_in_writer(lambda db: db.execute(sql, args).fetchall())
        except sqlite3.Error as exc:
            raise HistoryUnavailable(UNAVAILABLE) from exc
        return [_record(row) for row in rows]

    # -- bans --------------------------------------------------------------------

    async def save_ban(self, ban: Ban) -> None:
        row = (
            ban.room_key,
            ban.mask,
            ban.room,
            ban.target,
            ban.skeleton,
            ban.by,
            ban.reason,
            ban.created,
            ban.expires,
        )
        sql = f"INSERT OR REPLACE INTO bans ({_BAN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        await self._change_bans(sql, row)

    async def remove_ban(self, ban: Ban) -> None:
        await self._change_bans("DELETE FROM bans WHERE room_key = ? AND mask = ?", ban.key)

    async def bans(self) -> list[Ban]:
        sql = f"SELECT {_BAN_COLUMNS} FROM bans ORDER BY created"
        try:
            rows: list[tuple[Any, ...]] = await self.run_in_writer(
                lambda db: db.execute(sql).fetchall()
            )
        except sqlite3.Error as exc:
            raise HistoryUnavailable(UNAVAILABLE) from exc
        return [
            Ban(
                room_key=room_key,
                mask=mask,
                room=room,
                target=target,
                by=by,
                reason=reason,
                created=created,
                expires=expires,
                skeleton=skeleton,
            )
            for room_key, mask, room, target, skeleton, by, reason, created, expires in rows
        ]

    async def _change_bans(self, sql: str, args: tuple[object, ...]) -> None:
        def change(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(sql, args)

        try:
            await self.run_in_writer(change)
        except sqlite3.Error as exc:
            raise HistoryUnavailable(UNAVAILABLE) from exc

    # -- retention ---------------------------------------------------------------

    async def prune(self, max_age_days: int, max_rows_per_room: int) -> int:
        """Delete what retention no longer keeps, in small steps; HistoryUnavailable on
        trouble with the disk. Each room keeps its last topic."""
        await self.flush()  # what waits in memory is pruned by the same rules
        deleted = 0
        try:
            if max_age_days > 0:
                cutoff = stored_time(utc_now() - timedelta(days=max_age_days))
                deleted += await self._delete_all("e.ts < ?", (cutoff,))
            if max_rows_per_room > 0:
                for room_key, newest_to_go in await self.run_in_writer(
                    functools.partial(_crowded_rooms, max_rows=max_rows_per_room)
                ):
                    deleted += await self._delete_all(
                        "e.room_key = ? AND e.id <= ?", (room_key, newest_to_go)
                    )
        except sqlite3.Error as exc:
            raise HistoryUnavailable(UNAVAILABLE) from exc
        return deleted

    async def _delete_all(self, where: str, args: tuple[object, ...]) -> int:
        deleted = 0
        while True:
            count = await self.run_in_writer(functools.partial(_delete_chunk, where, args))
            deleted += count
            if count < PRUNE_CHUNK_ROWS:
                return deleted

    # -- the writer thread -------------------------------------------------------

    async def run_in_writer(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job`` on the store's connection, in its thread, after what is queued there.

        For maintenance (and tests): sqlite3 errors come back as they are.
        """
        return await asyncio.get_running_loop().run_in_executor(
            self._writer(), self._with_connection, job
        )

    def _writer(self) -> ThreadPoolExecutor:
        if self._executor is None:
            raise LocalProtocolError("the history store is not open")
        return self._executor

    def _with_connection(self, job: Callable[[sqlite3.Connection], T]) -> T:
        assert self._connection is not None
        return job(self._connection)

    def _open_in_thread(self) -> int:
        _create_private(self.path)
        try:
            connection = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the history database ({exc})") from None
        try:
            highest = _prepare(connection, self.path)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        parameters = connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        most = 1 << max((parameters // _PER_ROW).bit_length() - 1, 0)
        self._rows_per_insert = min(ROWS_PER_INSERT, most)
        return highest

    def _close_in_thread(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _write_in_thread(self, batch: list[StoredEvent]) -> int:
        assert self._connection is not None
        highest = max(record.id for record in batch)
        with _transaction(self._connection) as db:
            start = 0
            for rows in _chunks(len(batch), self._rows_per_insert):
                db.execute(_insert(rows), _values(batch[start : start + rows]))
                start += rows
            db.execute("UPDATE meta SET value = max(value, ?) WHERE key = 'highest_id'", (highest,))
        return highest


# -- in the writer thread -------------------------------------------------------


def _chunks(count: int, most: int) -> list[int]:
    """How many rows each INSERT of ``count`` writes: ``most`` (a power of two) while there
    are as many, then the powers of two the rest is made of, so that a few statements,
    prepared once, serve every batch."""
    full, rest = divmod(count, most)
    return [most] * full + [
        1 << bit for bit in reversed(range(rest.bit_length())) if rest >> bit & 1
    ]


@functools.lru_cache(maxsize=16)
def _insert(rows: int) -> str:
    """The INSERT of ``rows`` rows."""
    return _INSERTED + ", ".join([_ROW] * rows)


def _values(records: list[StoredEvent]) -> list[object]:
    """The parameters of :func:`_insert` for ``records``, row after row."""
    values: list[object] = []
    for record in records:
        values += (
            record.id,
            stored_time(record.ts),
            record.room_key,
            record.room,
            record.kind.value,
            record.nick,
            nick_key(record.nick),
            record.text,
            json.dumps(list(record.sources)) if record.sources else "",
        )
    return values


class _transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` when anything goes wrong."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> sqlite3.Connection:
        self._connection.execute("BEGIN IMMEDIATE")
        return self._connection

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self._connection.execute("COMMIT")
        elif self._connection.in_transaction:
            self._connection.execute("ROLLBACK")


def _create_private(path: str) -> None:
    """Create ``path`` empty and owner-only if it is missing (SQLite would make it 0644)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        _warn_if_exposed(path)
        return
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot create the history database ({exc.strerror or exc})"
        ) from None
    os.close(descriptor)


def _warn_if_exposed(path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # sqlite3 says what is wrong with it next
    if stat.S_ISREG(mode) and mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning(
            "%s holds the rooms' history and other users can read it: chmod 600 %s", path, path
        )


def _prepare(connection: sqlite3.Connection, path: str) -> int:
    """Check that the file is a tcpchat database (creating the schema in an empty one),
    switch to WAL, prove it can be written; return the highest id stored."""
    try:
        tables = {
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
        }
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
            raise StoreError(f"{path}: not a tcpchat history database ({exc})") from None
        raise StoreError(f"{path}: cannot open the history database ({exc})") from None
    if tables and "tcpchat_schema" not in tables:
        shown = ", ".join(sorted(tables)[:3]) + (", …" if len(tables) > 3 else "")
        raise StoreError(
            f"{path}: not a tcpchat history database (it holds other tables: {shown}); "
            "give --db another file"
        )
    try:
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(
                f"{path}: the history database cannot use write-ahead logging (journal mode {mode})"
            )
        connection.execute("PRAGMA synchronous = NORMAL")
        if not tables:
            _create_schema(connection)
        _check_version(connection, path)
        connection.execute(BANS_SCHEMA)
        with _transaction(connection) as db:  # fails now, not at the first message, if read-only
            db.execute("UPDATE meta SET value = value WHERE key = 'highest_id'")
        # The highest id stored, or handed out (reserve_ids), whichever is higher.
        (highest,) = connection.execute(
            "SELECT max(value) FROM meta WHERE key IN ('highest_id', 'reserved_id')"
        ).fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot use the history database ({exc})") from None
    return int(highest)


def _create_schema(connection: sqlite3.Connection) -> None:
    try:
        connection.executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _check_version(connection: sqlite3.Connection, path: str) -> None:
    row = connection.execute("SELECT max(version) FROM tcpchat_schema").fetchone()
    version = row[0] if row else None
    if not isinstance(version, int):
        raise StoreError(f"{path}: a damaged tcpchat history database (no schema version)")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: written by a newer tcpchat (history schema {version}; this one knows up "
            f"to {SCHEMA_VERSION}): upgrade tcpchat, or give --db another file"
        )


def _reserve(through: int, connection: sqlite3.Connection) -> None:
    with _transaction(connection) as db:
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('reserved_id', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
            (through,),
        )


def _crowded_rooms(connection: sqlite3.Connection, *, max_rows: int) -> list[tuple[str, int]]:
    """Each room over ``max_rows`` records, with the newest id of those that must go."""
    crowded = connection.execute(
        "SELECT room_key FROM events GROUP BY room_key HAVING count(*) > ?", (max_rows,)
    ).fetchall()
    found: list[tuple[str, int]] = []
    for (room_key,) in crowded:
        row = connection.execute(
            "SELECT id FROM events WHERE room_key = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
            (room_key, max_rows),
        ).fetchone()
        if row is not None:
            found.append((room_key, row[0]))
    return found


def _delete_chunk(where: str, args: tuple[object, ...], connection: sqlite3.Connection) -> int:
    with _transaction(connection) as db:
        cursor = db.execute(
            "DELETE FROM events WHERE id IN "
            f"(SELECT e.id FROM events e WHERE {where} AND {_NOT_LAST_TOPIC} LIMIT ?)",
            (*args, PRUNE_CHUNK_ROWS),
        )
        return cursor.rowcount


def _record(row: Any) -> StoredEvent:
    id_, ts, room, room_key, kind, nick, text, sources = row
    return StoredEvent(
        id=id_,
        ts=datetime.fromisoformat(ts),
        room=room,
        room_key=room_key,
        kind=Kind(kind),
        nick=nick,
        text=text,
        sources=tuple(json.loads(sources)) if sources else (),
    )
