"""The history service a server owns: one store, and the tasks that flush and prune it.

The server hands every event worth keeping to :meth:`Historian.append` (no
I/O: the store buffers it), asks the store for history pages, and closes the
historian on shutdown, which commits everything first. Two tasks run in
between: one flushes the buffer every 100 ms (sooner when it fills, slower
while the disk refuses it), the other prunes what retention no longer keeps,
once at start and then every hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from types import TracebackType

from tcpchat.core.errors import HistoryUnavailable
from tcpchat.store.base import Store, StoredEvent

log = logging.getLogger("tcpchat.store")

#: Seconds between flushes: every record is committed well within a second.
FLUSH_INTERVAL = 0.1
#: Records on the buffer that start a flush before the interval is up.
FLUSH_SOON_RECORDS = 1_000
#: Seconds between attempts to write while the store is unavailable (disk full, locked).
RETRY_INTERVAL = 2.0
#: Seconds between two prunings.
PRUNE_INTERVAL = 3600.0
#: Days a record is kept (the ``--history-max-days`` default): a quarter, long enough to
#: find last month's decision, as long as Slack's free plan keeps messages.
DEFAULT_MAX_DAYS = 90
#: The most ``--history-max-days`` takes: a century. (Many more reach back past the first
#: year a date can hold, and each pruning failed; 0 is the setting for "no age limit".)
MAX_HISTORY_DAYS = 36_500
#: Records each room keeps (the ``--history-max-rows`` default): 90 days of a room that
#: says 1,000 lines a day, and about 30 MB of file at most for a room that floods.
DEFAULT_MAX_ROWS = 100_000


class Historian:
    """Owns a history store and its background tasks: ``async with Historian(store):``.

    ``max_age_days`` and ``max_rows_per_room`` are the retention (0 turns
    either off). The intervals are for tests; the defaults suit a server.
    """

    def __init__(
        self,
        store: Store,
        *,
        max_age_days: int = DEFAULT_MAX_DAYS,
        max_rows_per_room: int = DEFAULT_MAX_ROWS,
        flush_interval: float = FLUSH_INTERVAL,
        retry_interval: float = RETRY_INTERVAL,
        prune_interval: float = PRUNE_INTERVAL,
    ) -> None:
        self.store = store
        self._max_age_days = max_age_days
        self._max_rows_per_room = max_rows_per_room
        self._flush_interval = flush_interval
        self._retry_interval = retry_interval
        self._prune_interval = prune_interval
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        #: Told the seconds each batch written took, from handing it to the store's thread
        #: to its commit (the server's ``/metrics`` puts a histogram here).
        self.on_batch: Callable[[float], None] | None = None

    async def start(self) -> None:
        """Open the store (StoreError if it cannot be used) and start flushing and pruning."""
        await self.store.open()
        self._tasks.append(asyncio.create_task(self._flush_forever(), name="history flush"))
        if self._max_age_days or self._max_rows_per_room:
            self._tasks.append(asyncio.create_task(self._prune_forever(), name="history prune"))

    async def close(self) -> None:
        """Stop the tasks, then commit everything and close the store."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.store.close()

    async def __aenter__(self) -> Historian:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def append(self, records: Iterable[StoredEvent]) -> None:
        """Keep these records: no I/O here, the flush task commits them within a second."""
        self.store.append(records)
        if self.store.pending >= FLUSH_SOON_RECORDS and self.store.available:
            self._wake.set()

    @property
    def available(self) -> bool:
        """Whether history is being written (``/history`` and ``/readyz`` say so when not)."""
        return self.store.available

    def highest_id(self) -> int:
        """The highest id the store holds: the server's clock starts above it."""
        return self.store.highest_id()

    async def _flush_forever(self) -> None:
        while True:
            interval = self._flush_interval if self.store.available else self._retry_interval
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            self._wake.clear()
            batch = self.store.pending
            started = asyncio.get_running_loop().time()
            await self.store.flush()
            if batch and self.on_batch is not None and self.store.available:
                self.on_batch(asyncio.get_running_loop().time() - started)

    async def _prune_forever(self) -> None:
        while True:
            try:
                deleted = await self.store.prune(self._max_age_days, self._max_rows_per_room)
            except HistoryUnavailable as exc:
                if self.store.available:  # else the outage is logged already
                    log.warning("history could not be pruned: %s", exc.__cause__)
            else:
                if deleted:
                    log.info("history: pruned %d records past retention", deleted)
            await asyncio.sleep(self._prune_interval)
