"""Records for history-store tests, and a store whose flushes a test can wait on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tcpchat.config import HistorySettings, ServerSettings
from tcpchat.core.conversation import SearchService
from tcpchat.core.nicks import nick_key
from tcpchat.server.chat import ChatServer
from tcpchat.store.base import Kind, StoredEvent
from tcpchat.store.sqlite import DEFAULT_BUSY_TIMEOUT, DEFAULT_MAX_PENDING, SQLiteStore

#: A fixed moment, so that tests say exactly what they store.
NOON = datetime(2026, 5, 1, 12, 0, 0, 123_456, tzinfo=UTC)


def record(
    id: int,
    text: str = "hello",
    *,
    room: str = "#lobby",
    nick: str = "alice",
    kind: Kind = Kind.MESSAGE,
    ts: datetime = NOON,
    sources: tuple[str, ...] = (),
) -> StoredEvent:
    """One record of ``room``'s history (its key as rooms compare names)."""
    return StoredEvent(id, ts, room, nick_key(room), kind, nick, text, sources)


async def fill_the_disk(store: SQLiteStore) -> None:
    """Cap the file at its present size: the next write that needs a page fails as a full
    disk does (SQLITE_FULL)."""
    pages = await store.run_in_writer(lambda db: db.execute("PRAGMA page_count").fetchone()[0])
    await store.run_in_writer(lambda db: db.execute(f"PRAGMA max_page_count = {pages}").fetchone())


class WatchedStore(SQLiteStore):
    """An SQLite store that tells waiting tests when a flush has committed all it held."""

    def __init__(
        self,
        path: str,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        super().__init__(path, max_pending=max_pending, busy_timeout=busy_timeout)
        self.emptied = asyncio.Event()

    async def flush(self) -> None:
        had_records = bool(self.pending)
        await super().flush()
        if had_records and not self.pending:  # this flush wrote them all
            self.emptied.set()


def history_settings(path: Path, **overrides: Any) -> HistorySettings:
    """History kept in ``path``, with the defaults unless told otherwise."""
    return HistorySettings(db=str(path), **overrides)


@contextlib.asynccontextmanager
async def history_server(
    path: Path,
    *,
    search: SearchService | None = None,
    settings: ServerSettings | None = None,
    **overrides: Any,
) -> AsyncIterator[ChatServer]:
    """A chat server on port 0 keeping its history in ``path``, closed (and its history
    committed) on the way out: start another on the same path to see what survived."""
    server = ChatServer(
        settings or ServerSettings(host="127.0.0.1", port=0),
        search=search,
        history=history_settings(path, **overrides),
    )
    await server.start()
    try:
        yield server
    finally:
        await server.close()


async def stored_texts(path: Path) -> list[str]:
    """The text of every record in the history file at ``path``, in id order."""
    store = SQLiteStore(str(path))
    await store.open()
    try:
        rows = await store.run_in_writer(
            lambda db: db.execute("SELECT text FROM events ORDER BY id").fetchall()
        )
    finally:
        await store.close()
    return [text for (text,) in rows]


#: Lines of a room's history for the search tests (FTS and the bounded scan alike).
TEXTS = [
    "deploy on friday",
    "friday: no deploy",
    "the e-mail server is down",
    "NEAR the AND gate, NOT OR",
    "café au lait",
    "deployment finished",
    'she said "hi" (twice)',
]
