"""What only the SQLite history store does: its file, and topics kept in the history pages."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tcpchat.store.base import MAX_SEARCH_HITS, Kind
from tcpchat.store.sqlite import ROWS_PER_INSERT, SQLiteStore, _chunks
from tests.support.history import NOON, record


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "history.db")


@pytest.fixture
async def store(db_path: str) -> AsyncIterator[SQLiteStore]:
    """An open store on a fresh file, closed after the test."""
    opened = SQLiteStore(db_path)
    await opened.open()
    yield opened
    await opened.close()


async def reopened(path: str) -> SQLiteStore:
    again = SQLiteStore(path)
    await again.open()
    return again


async def test_a_rooms_last_topic_outlives_retention(store: SQLiteStore) -> None:
    """An emptied room keeps its topic: pruning spares each room's newest topic record."""
    old = NOON - timedelta(days=400)
    store.append(
        [
            record(1, "first topic", kind=Kind.TOPIC, ts=old),
            record(2, "release friday", kind=Kind.TOPIC, ts=old),
            record(3, "chatter", ts=old),
        ]
    )
    await store.prune(max_age_days=30, max_rows_per_room=1)
    topic = await store.topic("#lobby")
    assert topic is not None
    assert topic.text == "release friday"
    assert [r.id for r in await store.recent("#lobby", 20)] == [2]


async def test_a_new_file_is_private_and_in_wal_mode(store: SQLiteStore, db_path: str) -> None:
    """The file is created owner-only (rw-------) and written with write-ahead logging."""
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    mode = await store.run_in_writer(lambda db: db.execute("PRAGMA journal_mode").fetchone())
    assert mode == ("wal",)


@pytest.fixture
def readable_db(db_path: str) -> str:
    """An empty history file that group and others may read (rw-r--r--)."""
    Path(db_path).touch()
    os.chmod(db_path, 0o644)
    return db_path


async def test_a_file_others_can_read_is_warned_about(
    readable_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Opening a history file that group or others may read logs how to make it private."""
    db_path = readable_db
    caplog.set_level(logging.WARNING, logger="tcpchat.store")
    opened = await reopened(db_path)
    await opened.close()
    assert [r.getMessage() for r in caplog.records] == [
        f"{db_path} holds the rooms' history and other users can read it: chmod 600 {db_path}"
    ]


async def test_reserved_ids_survive_a_restart_with_nothing_stored(db_path: str) -> None:
    """An id reserved but never stored (a join, a private message) still counts at the next open."""
    store = await reopened(db_path)
    store.append([record(5)])
    await store.reserve_ids(10_005)
    await store.close()
    again = await reopened(db_path)
    try:
        assert again.highest_id() == 10_005
    finally:
        await again.close()


async def test_a_reservation_never_moves_back(store: SQLiteStore) -> None:
    """Reserving less than before keeps the higher mark."""
    await store.reserve_ids(20_000)
    await store.reserve_ids(10_000)
    assert store.highest_id() == 20_000
    (value,) = await store.run_in_writer(
        lambda db: db.execute("SELECT value FROM meta WHERE key = 'reserved_id'").fetchone()
    )
    assert value == 20_000


def index_is_sound(db: sqlite3.Connection) -> None:
    """FTS5's own check that the index holds the words of the said lines, no more, no less
    (raises if not; for a store that holds said lines only)."""
    db.execute("INSERT INTO events_text (events_text, rank) VALUES ('integrity-check', 1)")


async def test_a_batch_written_again_is_stored_and_indexed_once(store: SQLiteStore) -> None:
    """Records that come back after a write that did commit are neither doubled nor refused."""
    first = [record(1, "deploy at noon"), record(2, "deploy done", kind=Kind.ACTION)]
    store.append(first)
    await store.flush()
    store.append([*first, record(3, "deploy again")])
    await store.flush()
    assert store.available
    assert [r.id for r in await store.search("#lobby", "deploy")] == [3, 2, 1]
    assert [r.id for r in await store.recent("#lobby", 20)] == [1, 2, 3]
    await store.run_in_writer(index_is_sound)


async def test_a_batch_goes_into_the_index_a_few_segments_at_a_time(store: SQLiteStore) -> None:
    """FTS5 writes what it gathered once an INSERT, not once a line: what keeps a record's
    cost to the writer thread low (docs/history.md, "What it costs")."""
    lines = 3 * ROWS_PER_INSERT + 5
    store.append([record(n, f"line {n} of the flood") for n in range(1, lines + 1)])
    await store.flush()
    (segments,) = await store.run_in_writer(
        lambda db: db.execute("SELECT count(DISTINCT segid) FROM events_text_idx").fetchone()
    )
    assert segments <= len(_chunks(lines, ROWS_PER_INSERT)) == 5
    newest = [r.id for r in await store.search("#lobby", "flood")]
    assert newest == list(range(lines, lines - MAX_SEARCH_HITS, -1))
    await store.run_in_writer(index_is_sound)


async def test_lines_inserted_and_deleted_by_hand_keep_the_index_right(store: SQLiteStore) -> None:
    """An operator's INSERT and DELETE in sqlite3 (docs/history.md, "Privacy") are indexed
    and unindexed as the server's own writes are."""
    store.append([record(1, "ship it friday")])
    await store.flush()
    await store.run_in_writer(
        lambda db: db.execute(
            "INSERT INTO events (id, ts, room_key, room, kind, nick, nick_key, text, sources) "
            "VALUES (2, '2026-05-01T12:00:01.000000+00:00', '#lobby', '#lobby', 'message', "
            "'bob', 'bob', 'friday is fine', '')"
        )
    )
    assert [r.id for r in await store.search("#lobby", "friday")] == [2, 1]
    await store.run_in_writer(lambda db: db.execute("DELETE FROM events WHERE nick_key = 'alice'"))
    assert [r.id for r in await store.search("#lobby", "friday")] == [2]
    await store.run_in_writer(index_is_sound)


@pytest.mark.parametrize(
    ("count", "rows"),
    [(0, []), (1, [1]), (128, [128]), (300, [128, 128, 32, 8, 4]), (127, [64, 32, 16, 8, 4, 2, 1])],
)
def test_a_batch_is_written_in_inserts_of_a_few_sizes(count: int, rows: list[int]) -> None:
    """Full INSERTs, then the powers of two the rest is made of: few statements to prepare."""
    assert _chunks(count, 128) == rows
