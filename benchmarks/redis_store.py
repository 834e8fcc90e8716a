"""What the Redis history store costs, per operation (the figures in docs/scaling.md).

``python -m benchmarks.redis_store [RECORDS]`` (default 20,000) starts its own
``redis-server`` (as the tests do: a free loopback port, no persistence) and prints:

- **one XADD a round trip**: what writing each event on its own would cost;
- **flush**: the store's pipelined write of a batch (XADD, the nick's sighting,
  the id counter), in µs a record and records a second, for several batch sizes;
- **next_ids**: one block of ids from the shared counter (one round trip);
- **reads**: a 20-line page, a 100-line page back, and a ``/find`` that reads
  the room's newest 10,000 lines;
- **Redis's own CPU** per command (``INFO commandstats``): what one Redis
  spends, whatever the number of servers.

It is not part of ``make bench``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from tests.support.redis import running_redis

from tcpchat.core.events import utc_now
from tcpchat.core.nicks import nick_key
from tcpchat.store.base import Kind, StoredEvent
from tcpchat.store.redis import RedisStore

ROOM = "#lobby"
BATCHES = (1, 10, 100, 500)


def records(first: int, count: int) -> list[StoredEvent]:
    now = utc_now()
    return [
        StoredEvent(n, now, ROOM, nick_key(ROOM), Kind.MESSAGE, f"user{n % 50}", f"line {n} hello")
        for n in range(first, first + count)
    ]


def report(label: str, seconds: float, count: int, unit: str = "op") -> None:
    print(f"{label:<42} {seconds / count * 1e6:9.1f} µs/{unit} {count / seconds:12,.0f} {unit}s/s")


async def timed(label: str, read: Callable[[], Awaitable[Any]], times: int = 20) -> None:
    started = time.perf_counter()
    for _ in range(times):
        await read()
    report(label, time.perf_counter() - started, times, "read")


async def measure(url: str, total: int) -> None:
    raw = aioredis.Redis.from_url(url, decode_responses=True)
    started = time.perf_counter()
    for n in range(1, total + 1):
        await raw.xadd("bench:{room}:history", {"text": f"line {n} hello"}, id=f"{n}-0")
    report("one XADD a round trip", time.perf_counter() - started, total)
    await raw.flushall()
    await raw.config_resetstat()

    store = RedisStore(url)
    await store.open()
    try:
        next_id = 1
        for batch in BATCHES:
            rounds = max(1, total // batch)
            started = time.perf_counter()
            for _ in range(rounds):
                store.append(records(next_id, batch))
                next_id += batch
                await store.flush()
            report(
                f"flush, {batch} records a pipeline",
                time.perf_counter() - started,
                rounds * batch,
                "record",
            )
        started = time.perf_counter()
        for _ in range(1_000):
            await store.next_ids(10)
        report("next_ids(10)", time.perf_counter() - started, 1_000)
        newest = next_id - 1
        await timed("recent(20)", lambda: store.recent(ROOM, 20))
        await timed("before(middle, 100)", lambda: store.before(ROOM, newest // 2, 100))
        await timed("search: 10,000 lines read, no hit", lambda: store.search(ROOM, "nothing"), 5)
        stats = await raw.info("commandstats")
        print("\nRedis's own CPU (INFO commandstats):")
        for name in ("xadd", "eval", "sadd", "xrevrange", "hget"):
            entry = stats.get(f"cmdstat_{name}")
            if entry:
                usec, calls = entry["usec_per_call"], entry["calls"]
                print(f"  {name:<10} {usec:7.2f} µs a call ({calls:,} calls)")
    finally:
        await store.close()
        await raw.aclose()


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with running_redis() as server:
        asyncio.run(measure(server.url, total))


if __name__ == "__main__":
    main()
