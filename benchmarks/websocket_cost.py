"""What a WebSocket member costs the server, next to a TCP member, at one fixed load.

Runs ``tcpchat serve`` with its web listener, fills one room with N members of
one kind (TCP in the text rendering, TCP in JSON, or WebSocket), and has one
more TCP member say M messages at a fixed rate. The server's CPU time (user +
system, from /proc) over that stretch, divided by the deliveries made, is the
figure: microseconds of server CPU per delivery. Members read and discard what
they get, so they never hold the server up.

    python -m benchmarks.websocket_cost --members 200 --messages 1000 --rate 200

This is the measurement the issue asks for until the C load generator speaks
WebSocket (``make bench`` does not run it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
from collections.abc import Awaitable, Callable

from websockets.client import ClientProtocol
from websockets.protocol import OPEN
from websockets.uri import parse_uri

KINDS = ("tcp-text", "tcp-json", "websocket")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def start(extra: list[str]) -> tuple[asyncio.subprocess.Process, int, int]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tcpchat",
        "serve",
        "--port",
        "0",
        "--http-port",
        "0",
        "--no-flood-control",
        "--log-level",
        "warning",
        "--max-clients",
        "10000",
        *extra,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    ports: list[int] = []
    said: list[str] = []
    while len(ports) < 2:
        line = (await process.stderr.readline()).decode()
        if not line:
            raise RuntimeError(f"the server did not start; it said {said!r}")
        said.append(line)
        if match := re.search(r"(?:listening on|web client at) \S+:(\d+)/?$", line.strip()):
            ports.append(int(match.group(1)))
    return process, ports[0], ports[1]


async def drain(reader: asyncio.StreamReader) -> None:
    """Read and discard everything, as fast as it comes."""
    while await reader.read(1 << 16):
        pass


async def tcp_member(
    port: int, nick: str, json_mode: bool, tasks: set[asyncio.Task[None]]
) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = (["/format json"] if json_mode else []) + [nick]
    writer.write("".join(f"{line}\n" for line in lines).encode())
    await reader.readuntil(b"Welcome, " if not json_mode else b'"welcome"')
    tasks.add(asyncio.create_task(drain(reader)))
    return writer


async def websocket_member(
    port: int, nick: str, tasks: set[asyncio.Task[None]]
) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/ws"), max_size=None)
    protocol.send_request(protocol.connect())
    for chunk in protocol.data_to_send():
        writer.write(chunk)
    while protocol.state is not OPEN:
        protocol.receive_data(await reader.read(1 << 16))
    protocol.send_text(nick.encode())
    for chunk in protocol.data_to_send():
        writer.write(chunk)
    await reader.readuntil(b'"welcome"')
    tasks.add(asyncio.create_task(drain(reader)))
    return writer


async def measure(kind: str, members: int, messages: int, rate: float, extra: list[str]) -> float:
    """Server CPU microseconds per delivery with ``members`` of ``kind`` listening."""
    process, port, http_port = await start(extra)
    writers: list[asyncio.StreamWriter] = []
    readers: set[asyncio.Task[None]] = set()
    try:
        join: Callable[[int], Awaitable[asyncio.StreamWriter]]
        if kind == "websocket":
            join = lambda n: websocket_member(http_port, f"m{n}", readers)  # noqa: E731
        else:
            join = lambda n: tcp_member(port, f"m{n}", kind == "tcp-json", readers)  # noqa: E731
        for n in range(members):
            writers.append(await join(n))
        _, sender = await asyncio.open_connection("127.0.0.1", port)
        writers.append(sender)
        sender.write(b"sender\n")
        await asyncio.sleep(0.5)  # every member's join is out and read
        before = cpu_seconds(process.pid)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n in range(messages):
            sender.write(b"message %d with some words in it, as people write\n" % n)
            await asyncio.sleep(max(0.0, started + (n + 1) / rate - loop.time()))
        await asyncio.sleep(0.5)  # the last deliveries go out
        used = cpu_seconds(process.pid) - before
    finally:
        for task in readers:
            task.cancel()
        for writer in writers:
            writer.close()
        process.terminate()
        await process.communicate()
        await asyncio.gather(*readers, return_exceptions=True)
    return used / (members * messages) * 1e6


async def main_async(args: argparse.Namespace) -> int:
    extra = ["--loop", args.loop]
    results = {}
    for kind in args.kinds.split(","):
        results[kind] = await measure(kind, args.members, args.messages, args.rate, extra)
        print(f"{kind:10} {results[kind]:6.2f} µs of server CPU per delivery", flush=True)
    if "websocket" in results and "tcp-json" in results:
        print(f"websocket / tcp-json: {results['websocket'] / results['tcp-json']:.2f}×")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0, help="messages a second")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(main_async(parser.parse_args(argv)))
    return 1


if __name__ == "__main__":
    sys.exit(main())
