"""What keeping history costs: the event loop's share, the writer thread's rate, the reads.

``python -m benchmarks.history_store [RECORDS]`` (default 200,000) prints:

- **append**: microseconds of event-loop time per record handed to the historian
  (what the server will pay per kept event);
- **sustained**: records a second the writer thread commits, flushing as fast
  as it can, and the longest the event loop waited meanwhile (the writer thread
  holds the GIL while it builds rows);
- **steady**: the longest event-loop stall while 5,000 records a second are
  kept, the historian flushing every 100 ms as a server's would;
- **reads**: a 20-line replay, a 100-line page back, and a search for a word in
  every line, in a room holding all the records.

It writes a temporary file and removes it; it is not part of ``make bench``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tcpchat.core.events import utc_now
from tcpchat.core.nicks import nick_key
from tcpchat.store.base import Kind, StoredEvent
from tcpchat.store.historian import Historian
from tcpchat.store.sqlite import SQLiteStore

ROOM = "#lobby"
#: Records handed over per event-loop pass: a busy room's pass holds a few lines.
PER_PASS = 10
#: Records a second in the steady run: far more than people type, less than the thread takes.
STEADY_RATE = 5_000


def records(first: int, count: int) -> list[StoredEvent]:
    now = utc_now()
    return [
        StoredEvent(n, now, ROOM, nick_key(ROOM), Kind.MESSAGE, f"user{n % 50}", f"line {n} hello")
        for n in range(first, first + count)
    ]


async def loop_lag(stop: asyncio.Event, worst: list[float]) -> None:
    """Tick every millisecond; note the longest the loop took to come back."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.001)
        worst[0] = max(worst[0], loop.time() - before - 0.001)


async def timed(label: str, read: Callable[[], Awaitable[Any]], times: int = 20) -> None:
    started = time.perf_counter()
    for _ in range(times):
        await read()
    print(f"  {label}: {(time.perf_counter() - started) / times * 1000:.2f} ms")


async def measure(total: int, path: str) -> None:
    batch = records(1, total)
    # The loop's share: append alone, PER_PASS records a call, as one pass would,
    # to a historian that is not flushing (its records are thrown away).
    idle = Historian(SQLiteStore(path, max_pending=total))
    started = time.perf_counter()
    for start in range(0, total, PER_PASS):
        idle.append(batch[start : start + PER_PASS])
    append_seconds = time.perf_counter() - started
    print(f"append: {append_seconds / total * 1e6:.2f} µs a record on the event loop")

    store = SQLiteStore(path)
    async with Historian(store) as historian:
        stop, worst = asyncio.Event(), [0.0]
        ticker = asyncio.create_task(loop_lag(stop, worst))
        started = time.perf_counter()
        for start in range(0, total, 1000):
            historian.append(batch[start : start + 1000])
            await asyncio.sleep(0)
            if store.pending > 2_000:  # stay within the in-memory bound, as a server would
                await store.flush()
        while store.pending:
            await store.flush()
        elapsed = time.perf_counter() - started
        stop.set()
        await ticker
        print(
            f"sustained: {total / elapsed:,.0f} records/s committed by the writer thread "
            f"(longest event-loop stall meanwhile {worst[0] * 1000:.1f} ms)"
        )

        # A busy server: STEADY_RATE records a second, PER_PASS at a time, for 3 s.
        stop, worst = asyncio.Event(), [0.0]
        ticker = asyncio.create_task(loop_lag(stop, worst))
        passes = STEADY_RATE * 3 // PER_PASS
        more = records(total + 1, passes * PER_PASS)
        for start in range(0, len(more), PER_PASS):
            historian.append(more[start : start + PER_PASS])
            await asyncio.sleep(PER_PASS / STEADY_RATE)
        stop.set()
        await ticker
        print(
            f"steady {STEADY_RATE:,} records/s: longest event-loop stall {worst[0] * 1000:.1f} ms"
        )

        print(f"reads, with {total:,} records in the room:")
        key = nick_key(ROOM)
        await timed("replay of the last 20", lambda: store.recent(key, 20))
        await timed("page of 100 back", lambda: store.before(key, total // 2, 100))
        await timed("search for a word in every line", lambda: store.search(key, "hello"))
        await timed("search for a rare word", lambda: store.search(key, f'"line {total // 3}"'))
    size = sum(f.stat().st_size for f in Path(path).parent.iterdir())
    print(f"file: {size / total:.0f} bytes a record, index included")


def main() -> int:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(measure(total, str(Path(folder) / "history.db")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
