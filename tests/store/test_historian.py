"""The historian: flushes within a second, on its own, commits all on close, and prunes."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tcpchat.core.errors import StoreError
from tcpchat.store.historian import FLUSH_SOON_RECORDS, Historian
from tcpchat.store.sqlite import SQLiteStore
from tests.support.history import WatchedStore, record

#: The records of these tests are from NOON, months ago: retention would take them.
NO_PRUNING = {"max_age_days": 0, "max_rows_per_room": 0}


def committed_ids(path: str) -> list[int]:
    """The ids another process would read from the file right now."""
    db = sqlite3.connect(path)
    try:
        return [id_ for (id_,) in db.execute("SELECT id FROM events ORDER BY id")]
    finally:
        db.close()


async def test_appended_records_are_committed_within_a_second(tmp_path: Path) -> None:
    """With no read and no close, the flush task commits what was appended within 1 s."""
    path = str(tmp_path / "history.db")
    store = WatchedStore(path)
    async with Historian(store, **NO_PRUNING) as historian:
        loop = asyncio.get_running_loop()
        appended_at = loop.time()
        historian.append([record(1), record(2)])
        async with asyncio.timeout(1.0):
            await store.emptied.wait()
        assert loop.time() - appended_at < 1.0
        assert committed_ids(path) == [1, 2]


async def test_a_full_buffer_is_flushed_before_the_interval(tmp_path: Path) -> None:
    """FLUSH_SOON_RECORDS waiting records start a flush at once, not at the next tick."""
    store = WatchedStore(str(tmp_path / "history.db"))
    async with Historian(store, flush_interval=3600, **NO_PRUNING) as historian:
        historian.append(record(n) for n in range(1, FLUSH_SOON_RECORDS + 1))
        async with asyncio.timeout(5):
            await store.emptied.wait()
        assert store.highest_id() == FLUSH_SOON_RECORDS


async def test_closing_commits_everything(tmp_path: Path) -> None:
    """A graceful shutdown (SIGTERM) commits every record before the historian is done."""
    path = str(tmp_path / "history.db")
    async with Historian(SQLiteStore(path), flush_interval=3600, **NO_PRUNING) as historian:
        historian.append(record(n) for n in range(1, 101))
    assert committed_ids(path) == list(range(1, 101))


async def test_the_clock_can_start_above_what_was_kept(tmp_path: Path) -> None:
    """After a restart, the historian knows the highest id kept, for the server's clock."""
    path = str(tmp_path / "history.db")
    async with Historian(SQLiteStore(path), **NO_PRUNING) as historian:
        historian.append([record(41), record(42)])
    async with Historian(SQLiteStore(path), **NO_PRUNING) as historian:
        assert historian.highest_id() == 42


async def test_a_store_that_cannot_open_stops_the_start(tmp_path: Path) -> None:
    """start() raises the store's StoreError and starts nothing (the server would not listen)."""
    historian = Historian(SQLiteStore(str(tmp_path / "missing" / "history.db")))
    with pytest.raises(StoreError):
        await historian.start()
    await historian.close()


async def test_an_outage_is_retried_without_new_records(tmp_path: Path) -> None:
    """Records held during an outage are written by a retry once the lock is gone."""
    path = str(tmp_path / "history.db")
    store = WatchedStore(path, busy_timeout=0.01)
    async with Historian(store, retry_interval=0.05, **NO_PRUNING) as historian:
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            historian.append([record(1)])
            await store.flush()
            assert not historian.available
        finally:
            blocker.close()  # the lock goes with its connection
        async with asyncio.timeout(5):
            await store.emptied.wait()
        assert historian.available
        assert committed_ids(path) == [1]


class CountedPrunes(SQLiteStore):
    """A store that lets a test wait for its first pruning."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.pruned = asyncio.Event()

    async def prune(self, max_age_days: int, max_rows_per_room: int) -> int:
        deleted = await super().prune(max_age_days, max_rows_per_room)
        self.pruned.set()
        return deleted


async def test_retention_is_applied_at_start(tmp_path: Path) -> None:
    """A server started on an old file prunes what is past --history-max-days at once."""
    path = str(tmp_path / "history.db")
    old = datetime.now(UTC) - timedelta(days=100)
    async with Historian(SQLiteStore(path), **NO_PRUNING) as historian:
        historian.append([record(1, ts=old), record(2, ts=datetime.now(UTC))])
    store = CountedPrunes(path)
    async with Historian(store, max_age_days=90, max_rows_per_room=0):
        async with asyncio.timeout(5):
            await store.pruned.wait()
        assert [r.id for r in await store.recent("#lobby", 20)] == [2]
