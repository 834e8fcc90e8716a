"""What an idle connection costs the shape itself: ``python -m benchmarks.asyncio_floor``.

tcpchat's server is ``asyncio.start_server`` with one coroutine per
connection. This measures that shape with nothing of tcpchat in it: a server
whose coroutine awaits ``reader.readline()`` and nothing else, holding
``--clients`` idle connections opened by a separate process, and reports the
growth of its resident memory per connection, on asyncio's loop and (when
installed) on uvloop's.

That growth is the floor under tcpchat's own figure for an idle registered
connection (the ``idle`` scenario of ``make bench-full``): what asyncio's
reader, writer, protocol, transport, task and socket cost before any chat.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import subprocess
import sys
import textwrap
from collections.abc import Callable

from benchmarks.scenarios import read_rss_kb

#: Connections opened before measuring, so that start-up allocations are behind us.
WARM_UP = 50

#: The client: opens connections in batches when told, each line on stdin a batch size.
CLIENT = textwrap.dedent(
    """
    import resource, socket, sys
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held = []
    for line in sys.stdin:
        address = ("127.0.0.1", int(sys.argv[1]))
        held += [socket.create_connection(address) for _ in range(int(line))]
        print(len(held), flush=True)
    """
)


async def _measure(clients: int) -> float:
    """RSS growth per idle connection of a bare ``start_server``, in bytes."""
    connected = 0
    everyone = asyncio.Event()

    async def idle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connected
        connected += 1
        if connected == WARM_UP or connected == WARM_UP + clients:
            everyone.set()
        try:
            await reader.readline()
        finally:
            writer.close()

    server = await asyncio.start_server(idle, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    client = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLIENT,
        str(port),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert client.stdin is not None
    assert client.stdout is not None
    try:
        before = await _after(client.stdin, client.stdout, WARM_UP, everyone)
        after = await _after(client.stdin, client.stdout, clients, everyone)
    finally:
        client.stdin.close()
        await client.wait()
        server.close()
        await server.wait_closed()
    return (after - before) * 1024 / clients


async def _after(
    stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader, count: int, accepted: asyncio.Event
) -> int:
    """Open ``count`` more connections, wait until all are accepted and idle: RSS in KiB."""
    accepted.clear()
    stdin.write(f"{count}\n".encode())
    await stdin.drain()
    await stdout.readline()
    await accepted.wait()
    await asyncio.sleep(0.2)  # the last coroutines reach their readline()
    gc.collect()
    return read_rss_kb(os.getpid())


def loops() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The event loops to measure: asyncio's, and uvloop's when it is installed."""
    found: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
    try:
        import uvloop
    except ImportError:
        return found
    found["uvloop"] = uvloop.new_event_loop
    return found


def measure(clients: int, loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> float:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_measure(clients))


def floors(clients: int) -> dict[str, float]:
    """Bytes per idle connection for each loop, each measured in a fresh process.

    A fresh process each: memory one run freed would hide the next one's growth.
    """
    found = {}
    for name in loops():
        command = [sys.executable, "-m", "benchmarks.asyncio_floor", "--loop", name]
        done = subprocess.run(
            [*command, "--clients", str(clients)], check=True, capture_output=True, text=True
        )
        found[name] = float(done.stdout)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--loop", choices=sorted(loops()), help="measure this loop here, alone")
    args = parser.parse_args(argv)
    if args.loop is not None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        print(measure(args.clients, loops()[args.loop]))
        return 0
    for name, per in floors(args.clients).items():
        print(f"{name}: {per:,.0f} bytes ({per / 1024:.2f} KiB) per idle connection")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
