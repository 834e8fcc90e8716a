"""Microbenchmarks of the server's hot paths: ``python -m benchmarks.micro``.

Each runs tcpchat's own code in this process, with transports that only count
what they are handed (no sockets, no system calls), so a regression in the
Python of a hot path shows as a number:

- **fan-out pass**: one event-loop pass of the hub, everyone sending, in one
  room of 1,000 members and in 100 rooms of 10; µs per delivery.
- **registration**: a connection greeted, registered (welcome, join) and gone
  (``/quit``), in a default room of 100 members; µs per registration.
- **IRC registration**: the same over IRC, as the load generator's churn does
  it: ``NICK`` and ``USER`` (001 to 005 and the MOTD), ``JOIN`` of a channel of
  100 (its NAMES), ``QUIT``; µs per registration.
- **parse-to-publish**: one line through ``LineSplitter`` → ``Session`` →
  ``hub.publish``, with its pass, in a room of 10; µs per line.

The machine is shared and noisy, so each figure is the median of several
repeats, and is also given as a ratio to a **reference**: a fixed pure-Python
workload timed in the same run, which slows down with the machine. Compare
ratios across runs; the absolute µs only within one. The load average is
printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

from tcpchat.config import ServerSettings
from tcpchat.core.events import EventClock, Message
from tcpchat.core.hub import Peer
from tcpchat.core.protocol import LineSplitter
from tcpchat.core.render import Rendering
from tcpchat.core.session import Session
from tcpchat.irc.session import IrcSession
from tcpchat.server.irc import IrcDoor
from tcpchat.server.local_hub import LocalHub

#: Repeats of each measurement; the median is reported.
REPEATS = 7

NOW = EventClock().stamp()[1]


class CountingTransport:
    """A transport that counts what it is handed: the hub's side of a socket, at no cost."""

    __slots__ = ("bytes", "writes")

    def __init__(self) -> None:
        self.writes = 0
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.bytes += len(data)

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def _peer() -> Peer:
    return Peer(cast(asyncio.WriteTransport, CountingTransport()), "bench")


async def _next_pass() -> None:
    """Wait until the callbacks scheduled so far (the hub's flush) have run."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_soon(done.set_result, None)
    await done


def reference(rounds: int = 2_000) -> float:
    """µs per round of a fixed pure-Python workload: the run's yardstick for noise."""
    started = time.perf_counter()
    for number in range(rounds):
        table = {str(key): key for key in range(20)}
        sum(table.values()) + number
    return (time.perf_counter() - started) / rounds * 1e6


async def fanout(rooms: int, members: int, passes: int = 20) -> float:
    """µs per delivery of a pass in which every member of ``rooms`` rooms says one line."""
    hub = LocalHub()
    by_room: list[list[Peer]] = []
    for number in range(rooms):
        peers = []
        for index in range(members):
            peer = _peer()
            if index % 2:
                peer.rendering = Rendering.JSON
            hub.register(peer, f"r{number}m{index}")
            hub.join_room(peer, f"#r{number}")
            peers.append(peer)
        by_room.append(peers)
    await _next_pass()
    said = [(room, peer) for room, peers in enumerate(by_room) for peer in peers]
    names = [(hub.room(f"#r{room}"), peer, f"#r{room}") for room, peer in said]
    started = time.perf_counter()
    for number in range(passes):
        for where, peer, name in names:
            assert where is not None
            text = f"line {number}"
            hub.publish(Message(number, NOW, peer.nick or "", text, name), room=where, exclude=peer)
        await _next_pass()
    elapsed = time.perf_counter() - started
    deliveries = passes * rooms * members * (members - 1)
    return elapsed / deliveries * 1e6


async def registration(room_size: int = 100, rounds: int = 300) -> float:
    """µs per connection greeted, registered (welcome and join) and gone, in a busy room."""
    hub = LocalHub()
    clock = EventClock()
    for index in range(room_size):
        Session(_peer(), hub, clock).register(f"idle{index}")
    await _next_pass()
    started = time.perf_counter()
    for number in range(rounds):
        session = Session(_peer(), hub, clock)
        session.greet()
        session.receive_line(f"churn{number}".encode())
        session.receive_line(b"/quit")
        hub.flush(session.peer)
        await _next_pass()
    return (time.perf_counter() - started) / rounds * 1e6


async def irc_registration(channel_size: int = 100, rounds: int = 300) -> float:
    """µs per IRC connection registered (001 to 005, the MOTD), joined to a channel of
    ``channel_size`` (its NAMES) and gone, as the load generator's churn does it."""
    door = IrcDoor(ServerSettings(), "2026-01-01 00:00 UTC")
    hub = LocalHub(encode=door.encoder)
    clock = EventClock()
    for index in range(channel_size):
        member = Session(_peer(), hub, clock)
        member.register(f"idle{index}")
        member.receive_line(b"/join #bench")
    await _next_pass()
    started = time.perf_counter()
    for number in range(rounds):
        session = IrcSession(_peer(), hub, clock, door.info)
        for line in (f"NICK churn{number}", "USER churn 0 * :churn", "JOIN #bench", "QUIT"):
            session.receive_line(line.encode())
        hub.flush(session.peer)
        await _next_pass()
    return (time.perf_counter() - started) / rounds * 1e6


async def parse_to_publish(room_size: int = 10, lines: int = 2_000) -> float:
    """µs per line read, split, parsed, published and fanned out, in a room of ``room_size``."""
    hub = LocalHub()
    clock = EventClock()
    sessions = []
    for index in range(room_size):
        session = Session(_peer(), hub, clock)
        session.register(f"talker{index}")
        sessions.append((session, LineSplitter(session.max_line_bytes)))
    await _next_pass()
    chunk = b"hello, everyone in the room\r\n"
    started = time.perf_counter()
    for number in range(lines):
        session, splitter = sessions[number % room_size]
        for line in splitter.feed(chunk):
            assert isinstance(line, bytes)
            session.receive_line(line)
        if number % room_size == room_size - 1:
            await _next_pass()  # everyone said a line: one pass
    await _next_pass()
    return (time.perf_counter() - started) / lines * 1e6


CASES: dict[str, tuple[str, Callable[[], Coroutine[Any, Any, float]]]] = {
    "fan-out pass, 1 room of 1,000, everyone sending": ("µs/delivery", lambda: fanout(1, 1000, 3)),
    "fan-out pass, 100 rooms of 10, everyone sending": ("µs/delivery", lambda: fanout(100, 10)),
    "fan-out pass, 1 room of 10, everyone sending": ("µs/delivery", lambda: fanout(1, 10, 500)),
    "registration: greet, register, welcome, quit": ("µs/registration", registration),
    "IRC registration: 001-005, MOTD, JOIN, quit": ("µs/registration", irc_registration),
    "parse-to-publish, room of 10": ("µs/line", parse_to_publish),
}


def measure(repeats: int = REPEATS) -> dict[str, dict[str, float | str]]:
    """Every case's median µs and its ratio to the reference, measured interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    yardstick: list[float] = []
    for _ in range(repeats):
        yardstick.append(reference())
        for name, (_, case) in CASES.items():
            samples[name].append(asyncio.run(case()))
    base = statistics.median(yardstick)
    results: dict[str, dict[str, float | str]] = {
        "reference": {"unit": "µs/round", "us": base, "ratio": 1.0}
    }
    for name, values in samples.items():
        median = statistics.median(values)
        results[name] = {"unit": CASES[name][0], "us": median, "ratio": median / base}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=REPEATS)
    options = parser.parse_args()
    load_before = os.getloadavg()[0]
    results = measure(options.repeats)
    print(
        f"microbenchmarks: median of {options.repeats}, load average "
        f"{load_before:.2f} → {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    print(f"{'hot path':<50} {'µs':>9}  {'unit':<16} {'× reference':>11}")
    for name, result in results.items():
        us, ratio = float(result["us"]), float(result["ratio"])
        print(f"{name:<50} {us:>9.3f}  {result['unit']!s:<16} {ratio:>11.4f}")


if __name__ == "__main__":
    main()
