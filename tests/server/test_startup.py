"""Memory and imports: what ``tcpchat serve`` holds at start-up, and per idle connection."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from pathlib import Path

import pytest

from tests.support.helpers import LineClient
from tests.support.programs import WAIT, start_server

#: The most memory (VmRSS) the room server may hold once it listens with ``--no-history``,
#: before any client and any /search, on asyncio's event loop (uvloop adds about 2.3 MiB).
#: Measured on CPython 3.11: 24.5 MiB (25.7 MB), varying by ±0.3 MiB between starts and
#: machines. The bound leaves 0.5 MiB for that noise, not for a module more: ``shutil``
#: (with zlib, bz2 and lzma) alone was 0.5 MiB.
MAX_STARTUP_RSS_KIB = 25_600
#: What keeping history (the default) may add to that: SQLite itself. Measured: 2.0 MiB,
#: 1.3 MiB of libsqlite3's code that opening a database runs, 0.6 MiB of its connection
#: (schema, page cache, the writer thread), 0.1 MiB of tcpchat's store modules. The
#: default configuration is bounded at 27.1 MiB (28.4 MB), against the 25,000,000 bytes
#: the server was meant to reach: benchmarks/LIMITS.md says what holds the rest.
MAX_HISTORY_RSS_KIB = 2_100

#: What the room server must not have imported before a first /search, and why.
NOT_BEFORE_A_SEARCH = {
    "openai": "only /search needs it: its first search imports it, in a worker thread",
    "httpx2": "openai's HTTP client comes with openai, on the first /search",
    "pydantic": "openai's models come with openai, on the first /search",
    "tcpchat.ai.openai_edge": "the openai edge is loaded by the first /search",
    "prompt_toolkit": "only the terminal front ends (connect, serve --task 1) draw a prompt",
    "tcpchat.tui": "the room server has no terminal front end",
    "tcpchat.client": "the room server is not a client",
    "hashlib": "only --password needs a digest",
    "websockets": "only the web front door (--http-port) speaks HTTP and WebSocket",
    "tcpchat.server.web": "the web front door is loaded with --http-port",
    "tcpchat.server.http": "the web front door's routes are loaded with --http-port",
    "prometheus_client": "only /metrics, on the web listener (--http-port), needs it",
    "tcpchat.server.metrics": "the metrics are loaded with --http-port",
    "tcpchat.server.health": "the health checks are loaded with --http-port",
    "tcpchat.irc": "only the IRC front door (--irc-port, --irc-tls-port) speaks IRC",
    "tcpchat.server.irc": "the IRC front door is loaded with an IRC port",
    "redis": "only a node of a cluster (--redis-url) talks to Redis",
    "shutil": "argparse imports it for the terminal's width, which only --help needs",
    "bz2": "nothing in the server compresses (shutil used to bring it)",
    "lzma": "nothing in the server compresses (shutil used to bring it)",
    "tcpchat.server.redis_hub": "the cluster's hub is loaded with --redis-url",
}

#: Runs ``tcpchat serve`` in this process; once it has stopped, prints the modules it imported.
IMPORTS_PROBE = """\
import json, sys
from tcpchat.cli import main
status = main(sys.argv[1:])
print(json.dumps(sorted(sys.modules)), flush=True)
raise SystemExit(status)
"""

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc (Linux)"
)


def server_environment(folder: Path) -> dict[str, str]:
    """This environment with /search on (a key that is never used), history on (its file
    in ``folder``) and no other TCPCHAT_ setting."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith("TCPCHAT_")}
    environ["OPENAI_API_KEY"] = "sk-never-used"
    environ["TCPCHAT_DB"] = str(folder / "tcpchat.db")
    return environ


def vm_rss_kib(pid: int) -> int:
    """The resident memory of process ``pid``, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB$", status, re.MULTILINE)
    assert match, status
    return int(match.group(1))


async def stop(process: asyncio.subprocess.Process) -> bytes:
    """SIGTERM ``process``, wait for it to exit 0, and return what it wrote to stdout."""
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(WAIT):
        stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    return stdout


async def startup_rss(*flags: str, env: dict[str, str]) -> int:
    """The RSS of ``tcpchat serve --task 2 FLAGS`` once it listens, in KiB; then stop it."""
    process, _ = await start_server("--task", "2", "--loop", "asyncio", *flags, env=env)
    try:
        rss = vm_rss_kib(process.pid)
        await stop(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    return rss


@needs_proc
async def test_the_room_server_starts_within_its_memory_bound(tmp_path: Path) -> None:
    """``tcpchat serve --task 2 --no-history``, listening with /search on and nobody in,
    holds ≤ 24.7 MiB."""
    rss = await startup_rss("--no-history", env=server_environment(tmp_path))
    assert rss <= MAX_STARTUP_RSS_KIB, (
        f"the server holds {rss} KiB once listening, past {MAX_STARTUP_RSS_KIB} KiB: "
        "see what it imports with python -X importtime -m tcpchat serve --port 0"
    )


@needs_proc
async def test_keeping_history_adds_no_more_than_sqlite_to_start_up(tmp_path: Path) -> None:
    """With history on (the default), its file opened and its rings loaded, the server
    holds at most 2.1 MiB more than the bound without it (26.8 MiB in all): what SQLite needs."""
    rss = await startup_rss(env=server_environment(tmp_path))
    assert (tmp_path / "tcpchat.db").exists()  # history was on
    assert rss <= MAX_STARTUP_RSS_KIB + MAX_HISTORY_RSS_KIB, (
        f"the server holds {rss} KiB once listening with history on, past "
        f"{MAX_STARTUP_RSS_KIB + MAX_HISTORY_RSS_KIB} KiB"
    )


async def test_the_room_server_imports_no_search_or_terminal_code_before_a_search(
    tmp_path: Path,
) -> None:
    """Start-up, a client's chat and shutdown import neither openai nor prompt_toolkit."""
    process, port = await start_server(
        "--task",
        "2",
        "--loop",
        "asyncio",
        env=server_environment(tmp_path),
        python=("-c", IMPORTS_PROBE),
    )
    try:
        alice = await LineClient.connect(port)
        try:
            await alice.expect("Choose a nickname")
            await alice.register("alice")
            await alice.send("hello, is anyone here?", "/users")
            await alice.expect(r"\*\*\* 1 user online: alice$")
        finally:
            await alice.close()
        modules = set(json.loads(await stop(process)))
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    assert "tcpchat.server.chat" in modules  # the probe saw the server's imports
    imported = {
        name: why
        for name, why in NOT_BEFORE_A_SEARCH.items()
        if any(module == name or module.startswith(name + ".") for module in modules)
    }
    assert imported == {}


#: Idle registered connections the per-connection memory test opens.
IDLE_CONNECTIONS = 500

#: The most resident memory one idle registered connection may add, in bytes.
#: Measured on CPython 3.11 (asyncio): 8.4-8.5 KB of RSS growth per connection at
#: 500 (10.2 KB before the idle path was flattened: no reading helper coroutine,
#: no generator frame behind the flood pacing's ``async with``, a list for the
#: protocol's drain waiters instead of asyncio's 760-byte deque, slots on the
#: pacing and the line splitter). The bound leaves about 12% for the allocator's
#: arenas landing unevenly, not for a buffer or a frame more per connection.
MAX_IDLE_CONNECTION_BYTES = 9 * 1024 + 512


@needs_proc
async def test_an_idle_registered_connection_costs_at_most_9_5_kib(tmp_path: Path) -> None:
    """500 registered connections that say nothing grow the server's RSS by ≤ 9.5 KiB each."""
    process, port = await start_server(
        "--task", "2", "--loop", "asyncio", "--log-level", "error", env=server_environment(tmp_path)
    )
    clients: list[LineClient] = []

    async def register(number: int) -> None:
        client = await LineClient.connect(port)
        clients.append(client)
        await client.register(f"idle{number}")

    try:
        # The first connections settle the allocator's arenas and the room's tables.
        await asyncio.gather(*(register(number) for number in range(50)))
        before = vm_rss_kib(process.pid)
        for batch in range(50, 50 + IDLE_CONNECTIONS, 50):
            await asyncio.gather(*(register(number) for number in range(batch, batch + 50)))
        growth = (vm_rss_kib(process.pid) - before) * 1024 / IDLE_CONNECTIONS
        for client in clients:
            await client.close()
        await stop(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    print(f"RSS per idle registered connection: {growth:,.0f} bytes")
    assert growth <= MAX_IDLE_CONNECTION_BYTES, (
        f"an idle registered connection costs {growth:,.0f} bytes of RSS, past "
        f"{MAX_IDLE_CONNECTION_BYTES:,}: measure what each holds with tracemalloc"
    )
