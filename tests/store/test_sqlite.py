"""What only the SQLite history store does: its file, and topics kept in the history pages."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tcpchat.store.base import Kind
from tcpchat.store.sqlite import SQLiteStore
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
