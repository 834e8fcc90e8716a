"""kill -9 in the middle of traffic loses at most the last second of history."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from tcpchat.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent.parent
#: Records a second the killed program appends: a busy room.
RATE = 200
#: Seconds of traffic before the kill.
RUN_FOR = 2.5


async def appended_until_killed(path: str) -> tuple[list[tuple[int, float]], float]:
    """Run the appender, read what it hands over for RUN_FOR seconds, SIGKILL it.

    Returns each (id, time handed over) read, and the time of the kill (both
    on the system's monotonic clock, which the two processes share)."""
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "tests.store.appender", path, str(RATE)),
        stdout=asyncio.subprocess.PIPE,
        env=environ,
        cwd=ROOT,
    )
    assert process.stdout is not None
    handed: list[tuple[int, float]] = []
    try:
        async with asyncio.timeout(30):
            while not handed or handed[-1][1] - handed[0][1] < RUN_FOR:
                line = await process.stdout.readline()
                assert line, "the appender ended before it was killed"
                id_, at = line.split()
                handed.append((int(id_), float(at)))
        killed_at = time.monotonic()
        process.kill()  # SIGKILL: no finally, no close, no flush
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    return handed, killed_at


async def test_a_killed_server_keeps_all_but_the_last_second(tmp_path: Path) -> None:
    """Every record handed over more than 1 s before kill -9 is in the file after a restart."""
    path = str(tmp_path / "history.db")
    handed, killed_at = await appended_until_killed(path)
    store = SQLiteStore(path)
    await store.open()  # the file opens cleanly after the crash
    try:
        rows = await store.run_in_writer(lambda db: db.execute("SELECT id FROM events").fetchall())
    finally:
        await store.close()
    kept = {id_ for (id_,) in rows}
    lost = [(id_, killed_at - at) for id_, at in handed if id_ not in kept]
    assert len(handed) >= RATE * RUN_FOR * 0.5  # the program really was busy
    assert all(before_kill <= 1.0 for _, before_kill in lost), lost
