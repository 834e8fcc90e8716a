"""The history store in bad conditions: files it must refuse, and a disk that fails."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tcpchat.core.errors import HistoryUnavailable, StoreError
from tcpchat.store.sqlite import SCHEMA_VERSION, SQLiteStore
from tests.support.history import fill_the_disk, record


def text_file(path: Path) -> None:
    path.write_text("remember the milk\n" * 200)


def other_schema(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    db.close()


def newer_schema(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE tcpchat_schema (version INTEGER NOT NULL)")
        db.execute("INSERT INTO tcpchat_schema VALUES (?)", (SCHEMA_VERSION + 1,))
    db.close()


@pytest.mark.parametrize(
    ("where", "prepare", "said"),
    [
        ("missing/history.db", None, "cannot create the history database (No such file"),
        ("notes.txt/history.db", text_file, "cannot create the history database (Not a directory"),
        ("a-directory", None, "cannot open the history database (unable to open"),
        ("notes.txt", text_file, "not a tcpchat history database (file is not a database)"),
        (
            "books.db",
            other_schema,
            "not a tcpchat history database (it holds other tables: invoices)",
        ),
        (
            "future.db",
            newer_schema,
            f"written by a newer tcpchat (history schema {SCHEMA_VERSION + 1}; "
            f"this one knows up to {SCHEMA_VERSION})",
        ),
    ],
)
async def test_a_file_that_cannot_be_used_is_refused_at_open(
    tmp_path: Path, where: str, prepare: Callable[[Path], None] | None, said: str
) -> None:
    """One StoreError, its line starting with the path, says why the file cannot be used."""
    (tmp_path / "a-directory").mkdir()
    if prepare is not None:
        prepare(tmp_path / where.split("/")[0])
    path = str(tmp_path / where)
    with pytest.raises(StoreError) as raised:
        await SQLiteStore(path).open()
    assert str(raised.value).startswith(f"{path}: {said}")


async def test_a_refused_file_is_left_as_it_was(tmp_path: Path) -> None:
    """A file that is not tcpchat's is neither changed nor switched to WAL."""
    path = tmp_path / "books.db"
    other_schema(path)
    before = path.read_bytes()
    with pytest.raises(StoreError):
        await SQLiteStore(str(path)).open()
    assert path.read_bytes() == before
    assert not (tmp_path / "books.db-wal").exists()


async def free_the_disk(store: SQLiteStore) -> None:
    await store.run_in_writer(lambda db: db.execute("PRAGMA max_page_count = 1000000").fetchone())


def store_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tcpchat.store"]


async def test_a_full_disk_is_logged_once_and_nothing_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """While the disk is full, flushes keep the records and say it once; then all are written."""
    caplog.set_level(logging.WARNING, logger="tcpchat.store")
    path = str(tmp_path / "history.db")
    store = SQLiteStore(path)
    await store.open()
    try:
        await fill_the_disk(store)
        for n in range(1, 6):
            store.append([record(n, "x" * 20_000)])
            await store.flush()  # never raises into the chat
        assert (store.available, store.pending) == (False, 5)
        [outage] = store_warnings(caplog)
        assert outage.startswith(f"history cannot be written to {path}: database or disk is full")
        await free_the_disk(store)
        await store.flush()
        assert store.available
        assert [r.id for r in await store.recent("#lobby", 20)] == [1, 2, 3, 4, 5]
        assert store_warnings(caplog)[1:] == [f"history is written to {path} again"]
    finally:
        await store.close()


async def test_records_past_the_bound_are_dropped_oldest_first_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An outage holds at most max_pending records; the oldest go, and the count is logged."""
    caplog.set_level(logging.WARNING, logger="tcpchat.store")
    path = str(tmp_path / "history.db")
    store = SQLiteStore(path, max_pending=3)
    await store.open()
    try:
        await fill_the_disk(store)
        for n in range(1, 7):
            store.append([record(n, "x" * 20_000)])
            await store.flush()
        assert (store.pending, store.dropped) == (3, 3)
        await free_the_disk(store)
        await store.flush()
        assert [r.id for r in await store.recent("#lobby", 20)] == [4, 5, 6]
        _, dropping, recovered = store_warnings(caplog)
        assert dropping.startswith("history: more than 3 records are waiting to be written")
        assert recovered == f"history is written to {path} again; 3 records were lost meanwhile"
    finally:
        await store.close()


async def test_a_locked_database_delays_writes_and_reads_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process holding the write lock makes the store unavailable, not the chat;
    history can still be read (WAL), and the records are written once the lock goes."""
    caplog.set_level(logging.WARNING, logger="tcpchat.store")
    path = str(tmp_path / "history.db")
    store = SQLiteStore(path, busy_timeout=0.05)
    await store.open()
    store.append([record(1, "before the lock")])
    await store.flush()
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        store.append([record(2, "during the lock")])
        await store.flush()
        assert not store.available
        assert [r.text for r in await store.recent("#lobby", 20)] == ["before the lock"]
        blocker.execute("ROLLBACK")
        await store.flush()
        assert store.available
        assert [r.id for r in await store.recent("#lobby", 20)] == [1, 2]
        assert "database is locked" in store_warnings(caplog)[0]
    finally:
        blocker.close()
        await store.close()


async def test_a_read_that_fails_says_history_is_unavailable(tmp_path: Path) -> None:
    """A read the database cannot answer raises HistoryUnavailable, in words for users."""
    store = SQLiteStore(str(tmp_path / "history.db"))
    await store.open()
    try:
        await store.run_in_writer(lambda db: db.close())
        with pytest.raises(HistoryUnavailable, match="history is unavailable right now"):
            await store.recent("#lobby", 20)
    finally:
        await store.close()
