"""A program that keeps history at a steady rate until it is killed (for the crash test).

``python -m tests.store.appender DB RATE`` appends RATE records a second through a
Historian and prints ``ID MONOTONIC_TIME`` for each record as it hands it over.
"""

from __future__ import annotations

import asyncio
import sys
import time

from tcpchat.core.events import utc_now
from tcpchat.store.historian import Historian
from tcpchat.store.sqlite import SQLiteStore
from tests.support.history import record


async def append_forever(path: str, rate: float) -> None:
    async with Historian(SQLiteStore(path)) as historian:
        next_id = 1
        while True:
            historian.append([record(next_id, f"line {next_id}", ts=utc_now())])
            print(next_id, time.monotonic(), flush=True)
            next_id += 1
            await asyncio.sleep(1 / rate)  # the steady rate of a busy room, not a wait


if __name__ == "__main__":
    asyncio.run(append_forever(sys.argv[1], float(sys.argv[2])))
