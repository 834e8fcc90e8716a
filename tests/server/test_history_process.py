"""tcpchat serve keeping history as a real program: kill -9, SIGTERM, a file it cannot use."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.support.helpers import LineClient
from tests.support.history import stored_texts
from tests.support.programs import WAIT, start_server

#: Lines a second the talker says during the crash test: a busy room.
RATE = 100
#: Seconds of traffic before the kill.
RUN_FOR = 2.5


def environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("TCPCHAT_")}


async def join(port: int, nick: str) -> LineClient:
    client = await LineClient.connect(port)
    await client.expect("Choose a nickname")
    await client.register(nick)
    return client


async def test_kill_9_loses_at_most_the_last_second_of_what_members_received(
    tmp_path: Path,
) -> None:
    """Every line a member received more than 1 s before kill -9 is in the file after it."""
    db = tmp_path / "tcpchat.db"
    process, port = await start_server("--db", str(db), "--no-flood-control", env=environment())
    received: dict[str, float] = {}
    try:
        talker, listener = await join(port, "talker"), await join(port, "listener")
        started = time.monotonic()

        async def listen() -> None:
            while True:
                line = await listener.read_line()
                if line is None:
                    return
                if "<talker> " in line:
                    received[line.split("<talker> ", 1)[1]] = time.monotonic()

        listening = asyncio.create_task(listen())
        n = 0
        while time.monotonic() - started < RUN_FOR:
            await talker.send(f"line {n}")
            n += 1
            await asyncio.sleep(1 / RATE)  # the steady pace of a busy room, not a wait
        killed_at = time.monotonic()
        process.kill()  # SIGKILL: no shutdown, no last flush
        await process.wait()
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await talker.close()
        await listener.close()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    kept = set(await stored_texts(db))  # the file opens cleanly after the crash
    lost = {text: killed_at - at for text, at in received.items() if text not in kept}
    assert len(received) >= RATE * RUN_FOR * 0.5  # the room really was busy
    assert all(before_kill <= 1.0 for before_kill in lost.values()), lost


async def test_sigterm_commits_everything_members_received(tmp_path: Path) -> None:
    """SIGTERM right after a burst: the server exits 0 with every line in the file."""
    db = tmp_path / "tcpchat.db"
    process, port = await start_server("--db", str(db), "--no-flood-control", env=environment())
    try:
        talker, listener = await join(port, "talker"), await join(port, "listener")
        await talker.send(*(f"line {n}" for n in range(200)))
        await listener.expect(r"<talker> line 199$")
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(WAIT):
            await process.wait()
        await talker.close()
        await listener.close()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    texts = await stored_texts(db)
    assert [text for text in texts if text.startswith("line ")] == [f"line {n}" for n in range(200)]


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("missing/tcpchat.db", "cannot create the history database (No such file or directory)"),
        ("notes.txt", "not a tcpchat history database"),
        ("plain/tcpchat.db", "cannot create the history database (Not a directory)"),
        ("locked/tcpchat.db", "cannot create the history database (Permission denied)"),
    ],
)
async def test_a_history_file_it_cannot_use_stops_it_before_listening(
    tmp_path: Path, where: str, said: str
) -> None:
    """Exit status 2 and one line naming the file, and never a listening socket."""
    path = tmp_path / where
    if where == "notes.txt":
        path.write_text("a shopping list, not a database\n" * 100)
    if where.startswith("plain/"):
        path.parent.write_text("a file where a folder should be")
    if where.startswith("locked/"):
        if os.geteuid() == 0:
            # Root writes in any folder of its own, but sysfs refuses new files to everyone.
            path = Path("/sys/tcpchat.db")
        else:
            path.parent.mkdir()
            path.parent.chmod(0o500)  # a folder the server may not write in
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tcpchat", "serve", "--port", "0", "--db", str(path)),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment(),
    )
    async with asyncio.timeout(WAIT):
        _, stderr = await process.communicate()
    lines = stderr.decode().splitlines()
    assert process.returncode == 2
    assert not any("listening on" in line for line in lines)
    errors = [line for line in lines if line.startswith("tcpchat serve: ")]
    assert len(errors) == 1, lines
    assert errors[0].startswith(f"tcpchat serve: {path}: ")
    assert said in errors[0]
