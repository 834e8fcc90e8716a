"""The records a store has been handed and not yet written, and its outages, told once.

Both backends (:mod:`tcpchat.store.sqlite`, :mod:`tcpchat.store.redis`) take
records at once, with no I/O, and write them later in batches. While the
disk or Redis refuses them, the records wait here, at most ``max_pending`` of
them: past that the oldest are dropped and counted. An outage is logged once
when it starts and once when it ends (with what was lost), never once per
batch, so that a full disk cannot flood the log.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable

from tcpchat.store.base import StoredEvent

log = logging.getLogger("tcpchat.store")


class PendingRecords:
    """The records waiting to be written to ``where`` (a path, or a URL with no password).

    ``medium`` names what must take them again ("the disk", "Redis"), for the log.
    """

    def __init__(self, where: str, medium: str, max_pending: int) -> None:
        self.where = where
        self.medium = medium
        self.max_pending = max_pending
        self.records: deque[StoredEvent] = deque()
        #: Whether the last write went through (False during an outage).
        self.available = True
        #: Records dropped during the current outage.
        self.dropped = 0
        self._drop_logged = False

    def __len__(self) -> int:
        return len(self.records)

    def add(self, records: Iterable[StoredEvent]) -> None:
        """Queue records for the next write: no I/O, O(1) a record."""
        self.records.extend(records)
        self._bound()

    def take(self, count: int | None = None) -> list[StoredEvent]:
        """The next ``count`` records (all of them by default), taken off the buffer."""
        if count is None or count >= len(self.records):
            batch = list(self.records)
            self.records.clear()
            return batch
        return [self.records.popleft() for _ in range(count)]

    def put_back(self, batch: list[StoredEvent]) -> None:
        """Return a batch that could not be written, ahead of what came since."""
        # Ids are the records' keys, so order on the buffer does not matter to the store.
        self.records.extendleft(reversed(batch))
        self._bound()

    def failed(self, cause: str) -> None:
        """A write failed: the store is unavailable (logged once per outage)."""
        if self.available:
            self.available = False
            log.warning(
                "history cannot be written to %s: %s; chat goes on, and the history store "
                "keeps retrying (up to %d records wait in memory)",
                self.where,
                cause,
                self.max_pending,
            )

    def recovered(self) -> None:
        """A write went through: the outage, if any, is over (logged with what was lost)."""
        if not self.available:
            self.available = True
            lost = f"; {self.dropped} records were lost meanwhile" if self.dropped else ""
            log.warning("history is written to %s again%s", self.where, lost)
        self.dropped = 0
        self._drop_logged = False

    def warn_unwritten(self) -> None:
        """At closing: say how many records could not be written, if any."""
        if self.records:
            log.warning(
                "history: %d records could not be written to %s before closing",
                len(self.records) + self.dropped,
                self.where,
            )

    def _bound(self) -> None:
        excess = len(self.records) - self.max_pending
        if excess <= 0:
            return
        for _ in range(excess):
            self.records.popleft()
        self.dropped += excess
        if not self._drop_logged:
            self._drop_logged = True
            log.warning(
                "history: more than %d records are waiting to be written to %s; "
                "dropping the oldest until %s takes them again",
                self.max_pending,
                self.where,
                self.medium,
            )
