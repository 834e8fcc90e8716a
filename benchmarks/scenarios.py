"""The benchmark's scenarios, each run against one already-started server.

Every function here takes a running server and the generator binary and
returns plain data (dicts and :class:`~benchmarks.stats.Step` lists) that
``run.py`` gathers per round and ``report.py`` turns into RESULTS.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.generator import Generator
from benchmarks.servers import (
    TCPCHAT_ASYNCIO,
    RunningServer,
    ServerKind,
    free_port,
)
from benchmarks.stats import KNEE_P99_MS, Step


@dataclass(frozen=True)
class Sweep:
    """A fan-out sweep: N clients, some of them sending, at doubling rates."""

    clients: int
    senders: int  # -1: everyone sends
    start_deliveries: float  # deliveries/s of the first step
    max_steps: int
    seconds: float
    rooms: int = 0  # 0: everyone in one room; else clients / rooms members in each

    @property
    def name(self) -> str:
        who = "all send" if self.senders < 0 else f"{self.senders} send"
        if self.rooms:
            return f"{self.rooms} rooms of {self.clients // self.rooms}, {who}"
        return f"N={self.clients}, {who}"

    @property
    def fanout(self) -> int:
        """The receivers of each message: the other members of its room."""
        return (self.clients // self.rooms if self.rooms else self.clients) - 1


#: Seconds the idle scenario's clients have to register: every join is announced
#: to the whole room, so 10,000 registrations are ~50 million deliveries.
IDLE_REGISTER_TIMEOUT = 150.0
#: Members of each room in the idle scenario.
IDLE_ROOM_SIZE = 100


def read_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def _generator(binary: Path, server: RunningServer, clients: int, **options: Any) -> Generator:
    return Generator(
        binary,
        port=server.generator_port,
        proto=server.kind.proto,
        clients=clients,
        server_pid=server.pid,
        **options,
    )


def run_sweep(
    binary: Path, server: RunningServer, sweep: Sweep, drain: float, grace: float
) -> list[Step]:
    """Double the rate until p99 passes the knee's limit or a backlog remains."""
    steps: list[Step] = []
    with _generator(
        binary, server, sweep.clients, senders=sweep.senders, rooms=sweep.rooms
    ) as generator:
        deliveries = sweep.start_deliveries
        for _ in range(sweep.max_steps):
            step = generator.step(deliveries / sweep.fanout, sweep.seconds, drain, grace)
            steps.append(step)
            if not step.under_knee(KNEE_P99_MS) or step.generator_saturated:
                break
            deliveries *= 2
    return steps


def run_fixed(
    binary: Path,
    server: RunningServer,
    clients: int,
    deliveries: float,
    seconds: float,
    drain: float,
    grace: float,
    samples: int = 16,
) -> Step:
    """One step at a fixed load, everyone sending: latency and CPU per delivery there
    (``samples``: the clients whose latencies are kept, spread over the fan-out)."""
    with _generator(binary, server, clients, samples=samples) as generator:
        return generator.step(deliveries / (clients - 1), seconds, drain, grace)


@dataclass(frozen=True)
class FixedLoad:
    """A fixed load, everyone sending (:func:`run_fixed`'s): ``deliveries`` a second over
    ``clients`` for ``seconds``, then ``drain`` and ``grace`` for what is late; the
    latencies of ``samples`` clients kept."""

    clients: int
    deliveries: float
    seconds: float
    drain: float
    grace: float
    samples: int = 16

    def run(self, binary: Path, server: RunningServer) -> Step:
        return run_fixed(
            binary,
            server,
            self.clients,
            self.deliveries,
            self.seconds,
            self.drain,
            self.grace,
            self.samples,
        )


def run_cross_node(
    binary: Path, kind: ServerKind, load: FixedLoad, workdir: Path | None = None
) -> Step:
    """``load`` on two nodes of one cluster behind one address (``--reuse-port``).

    The kernel deals the clients between the two nodes, so about half of each
    message's deliveries cross from one node to the other through Redis. Both
    nodes share the server's CPU; the CPU figures are the first node's alone.

    Redis runs on the other core, the generator's (:class:`RunningServer`), as it
    would on a core (or a machine) of its own in a deployment. Left to the kernel,
    Redis is woken on the core of the node that sent it the script, and takes it
    from that node and the other, the two nodes' fan-out waiting behind it
    (docs/scaling-measured.md, "Crossing nodes, measured").
    """
    port = free_port()
    with (
        RunningServer(kind, workdir, port=port, reuse_port=True) as first,
        RunningServer(kind, workdir, port=port, redis_url=first.redis_url, reuse_port=True),
    ):
        return load.run(binary, first)


def run_cross_node_pair(
    binary: Path, kind: ServerKind, load: FixedLoad, workdir: Path | None = None
) -> tuple[Step, Step]:
    """``load`` on one tcpchat-asyncio node, then on two (:func:`run_cross_node`), back to
    back: the two latencies the cross-node target compares, measured a few seconds apart
    on this noisy machine."""
    with RunningServer(TCPCHAT_ASYNCIO, workdir) as single:
        one = load.run(binary, single)
    return one, run_cross_node(binary, kind, load, workdir)


def run_idle(binary: Path, server: RunningServer, clients: int) -> dict[str, Any]:
    """Open ``clients`` registered connections that say nothing; RSS per connection."""
    before = read_rss_kb(server.pid)
    # Members of rooms of a hundred, as people are: one room of 10,000 would make the
    # run about its join storm (50 million JOIN lines, which ngIRCd sends every one of).
    rooms = clients // IDLE_ROOM_SIZE if server.kind.rooms else 0
    with _generator(
        binary,
        server,
        clients,
        senders=0,
        samples=0,
        register_timeout=IDLE_REGISTER_TIMEOUT,
        rooms=rooms,
    ) as generator:
        after = int(generator.stat()["server_rss_kb"])
        opened = int(generator.ready["clients"])
    return {
        "clients": opened,
        "rss_before_kb": before,
        "rss_after_kb": after,
        "bytes_per_connection": (after - before) * 1024 / opened if opened else None,
    }


def run_stalled(
    binary: Path,
    server: RunningServer,
    clients: int,
    deliveries: float,
    seconds: float,
    clean_seconds: float,
) -> dict[str, Any]:
    """The others' p99 with one reader that never reads, against the same load without it."""
    options: dict[str, Any] = {"payload_bytes": 1024, "senders": 20}
    rate = deliveries / (clients - 1)
    with _generator(binary, server, clients, **options) as generator:
        clean = generator.step(rate, clean_seconds)
    with _generator(binary, server, clients, stalled=1, **options) as generator:
        stalled = generator.step(deliveries / (clients - 2), seconds)
    return {"clean": clean, "stalled": stalled}


def run_churn(binary: Path, server: RunningServer, seconds: float, concurrency: int) -> Any:
    """Connect, register, disconnect, ``concurrency`` at a time: registrations per second."""
    with _generator(binary, server, 0) as generator:
        report = generator.churn(seconds, concurrency)
    report["per_second"] = report["registered"] / report["seconds"]
    return report
