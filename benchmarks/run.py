"""Run the benchmark: ``python -m benchmarks.run [--full]``.

Servers are run interleaved (A B C D, A B C D, …) for several rounds, each
started fresh per round, so that noise from the machine falls on all of them
alike; ratios against the baselines are taken per round and their median
reported. Results go to ``benchmarks/results.json``, ``benchmarks/RESULTS.md``
and ``benchmarks/p99-vs-load.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import asyncio_floor, generator, report
from benchmarks.scenarios import (
    FixedLoad,
    Sweep,
    read_rss_kb,
    run_churn,
    run_cross_node_pair,
    run_fixed,
    run_idle,
    run_stalled,
    run_sweep,
)
from benchmarks.servers import (
    ALL_KINDS,
    NGIRCD,
    TCPCHAT_REDIS,
    RunningServer,
    ServerKind,
    ngircd_available,
    redis_available,
    tcpchat_flood_off_args,
)
from benchmarks.stats import Step

BENCH_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Plan:
    """What one run measures."""

    name: str
    rounds: int
    sweeps: tuple[Sweep, ...]
    n10_clients: int = 10
    n10_deliveries: float = 90_000  # the N = 10 latency target's load
    fixed_clients: int = 100
    fixed_deliveries: float = 50_000  # below every server's knee: CPU per delivery
    # The cluster's cross-node latency (docs/scaling.md): this many clients at this load,
    # on one tcpchat-asyncio node, then on two tcpchat-redis nodes behind one address.
    # Steps of their own length, and more sampled clients than elsewhere: the target is
    # a difference of p50s a millisecond apart, each over 250 messages of 64 latencies.
    # Several pairs a round, each the one node then the two: a pair's difference moves by
    # half a millisecond from one pair to the next here, and the figure is their median.
    cross_node_clients: int = 1000
    cross_node_deliveries: float = 50_000
    cross_node_seconds: float = 5.0
    cross_node_samples: int = 64
    cross_node_pairs: int = 3
    step_seconds: float = 1.0
    drain: float = 0.5  # seconds after sending within which deliveries count as on time
    grace: float = 3.0  # further seconds to wait for late deliveries before counting missing
    idle_clients: int = 0  # 0: skip
    stalled_seconds: float = 0.0  # 0: skip
    churn_seconds: float = 0.0  # 0: skip
    extra: dict[str, Any] = field(default_factory=dict)


#: 100 rooms of 10 members, everyone sending in their room: the shape of a real server.
ROOMS_SWEEP_QUICK = Sweep(
    clients=1000, senders=-1, start_deliveries=50_000, max_steps=8, seconds=0.5, rooms=100
)

QUICK = Plan(
    name="quick (make bench)",
    rounds=3,
    # N = 1,000 in one room stays in the quick run, side by side with the rooms
    # scenario, so that one run shows what rooms cost the single room's knee.
    sweeps=(
        Sweep(clients=100, senders=-1, start_deliveries=50_000, max_steps=8, seconds=0.5),
        Sweep(clients=1000, senders=-1, start_deliveries=250_000, max_steps=7, seconds=0.5),
        ROOMS_SWEEP_QUICK,
    ),
    step_seconds=0.5,
    drain=0.3,
    grace=1.0,
    # Churn (registrations/s) in the quick run too: with history, each one replays
    # 20 lines, and the history pair compares the two side by side.
    churn_seconds=3.0,
    # No idle capacity: ngIRCd registers a thousand clients slowly (over a minute here).
)

FULL = Plan(
    name="full (make bench-full)",
    rounds=3,
    sweeps=(
        *(
            Sweep(clients=n, senders=s, start_deliveries=start, max_steps=9, seconds=1.0)
            for n, start in ((10, 22_500), (100, 50_000), (1000, 62_500))
            for s in (-1, 20)
            if not (n <= 20 and s == 20)  # at N = 10, "20 senders" is everyone
        ),
        Sweep(
            clients=1000, senders=-1, start_deliveries=22_500, max_steps=9, seconds=1.0, rooms=100
        ),
    ),
    step_seconds=1.0,
    grace=2.0,
    idle_clients=10_000,
    stalled_seconds=20.0,
    churn_seconds=5.0,
)


def step_dict(step: Step) -> dict[str, Any]:
    data = asdict(step)
    data["histogram"] = sorted(step.histogram.items())
    data["lag_histogram"] = sorted(step.lag_histogram.items())
    return data


def run_round(
    kind: ServerKind, plan: Plan, binary: Path, workdir: Path, first_round: bool
) -> dict[str, Any]:
    """Every scenario of ``plan`` against one fresh ``kind`` server."""
    out: dict[str, Any] = {}
    started = time.monotonic()
    timing = (plan.step_seconds, plan.drain, plan.grace)
    with RunningServer(kind, workdir) as server:
        # Before any client but the one connection that saw it listen.
        out["startup_rss_kb"] = read_rss_kb(server.pid)
        step = run_fixed(binary, server, plan.n10_clients, plan.n10_deliveries, *timing)
        out["n10"] = step_dict(step)
        step = run_fixed(binary, server, plan.fixed_clients, plan.fixed_deliveries, *timing)
        out["fixed"] = step_dict(step)
        out["sweeps"] = {}
        for sweep in plan.sweeps:
            if sweep.rooms and not kind.rooms:
                log(f"  {kind.name:16} {sweep.name:18} skipped: it has no rooms")
                continue
            try:
                steps = run_sweep(binary, server, sweep, plan.drain, plan.grace)
            except RuntimeError as exc:
                log(f"  {kind.name:16} {sweep.name:18} failed: {exc}")
                continue
            out["sweeps"][sweep.name] = [step_dict(s) for s in steps]
            log(f"  {kind.name:16} {sweep.name:18} " + summary(steps))
        if plan.churn_seconds:
            out["churn"] = run_churn(binary, server, plan.churn_seconds, 16)
    if kind.redis:
        load = FixedLoad(
            plan.cross_node_clients,
            plan.cross_node_deliveries,
            plan.cross_node_seconds,
            plan.drain,
            plan.grace,
            plan.cross_node_samples,
        )
        out["cross_node_pairs"] = []
        for _ in range(plan.cross_node_pairs):
            one, two = run_cross_node_pair(binary, kind, load, workdir)
            out["cross_node_pairs"].append(
                {"one_node": step_dict(one), "cross_node": step_dict(two)}
            )
            log(f"  {kind.name:16} {'one node, N=1000':18} " + summary([one]))
            log(f"  {kind.name:16} {'two nodes, N=1000':18} " + summary([two]))
    # Capacity and the stalled reader once per server: they are long, and their
    # figures are absolute, not ratios between servers.
    # A server that cannot take one of these scenarios (too many connections, say)
    # gets its failure reported, and the run goes on.
    if first_round and plan.stalled_seconds:
        try:
            with RunningServer(kind, workdir) as server:
                result = run_stalled(
                    binary, server, 100, 100_000, plan.stalled_seconds, plan.stalled_seconds / 4
                )
                out["stalled"] = {name: step_dict(s) for name, s in result.items()}
        except RuntimeError as exc:
            log(f"  {kind.name:16} stalled reader failed: {exc}")
    if first_round and plan.idle_clients:
        try:
            with RunningServer(kind, workdir) as server:
                out["idle"] = run_idle(binary, server, plan.idle_clients)
        except RuntimeError as exc:
            log(f"  {kind.name:16} idle capacity failed: {exc}")
            out["idle"] = {"clients": plan.idle_clients, "error": str(exc)}
        out["idle"]["clients_wanted"] = plan.idle_clients
    log(f"  {kind.name:16} round took {time.monotonic() - started:.0f} s")
    return out


def summary(steps: list[Step]) -> str:
    parts = []
    for s in steps:
        p99 = s.p(99)
        mark = "" if s.under_knee() else "!"
        p99_text = f"{p99:.1f}" if p99 is not None else "-"
        parts.append(f"{s.deliveries_per_second / 1e6:.2f}M:{p99_text}ms{mark}")
    return " ".join(parts)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="tcpchat's benchmarks")
    parser.add_argument("--full", action="store_true", help="the whole sweep (longer)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (at least 3 advised)")
    parser.add_argument(
        "--servers",
        default=",".join(k.name for k in ALL_KINDS),
        help="comma-separated servers to run",
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR, help="where to write results")
    args = parser.parse_args(argv)
    plan = FULL if args.full else QUICK
    rounds = args.rounds or plan.rounds
    kinds = [k for k in ALL_KINDS if k.name in args.servers.split(",")]
    if NGIRCD in kinds and not ngircd_available():
        log("ngircd is not installed; skipping it (make bench installs it)")
        kinds.remove(NGIRCD)
    if TCPCHAT_REDIS in kinds and not redis_available():
        log("redis-server is not installed; skipping tcpchat-redis (make bench installs it)")
        kinds.remove(TCPCHAT_REDIS)
    binary = generator.build()
    started = time.time()
    machine = report.describe_machine()
    results: dict[str, Any] = {
        "plan": plan.name,
        "machine": machine,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "servers": {k.name: k.label for k in kinds},
        "tcpchat_flags": " ".join(tcpchat_flood_off_args()) or "(no flood limiter in this tcpchat)",
        "rounds": [],
    }
    with tempfile.TemporaryDirectory(prefix="tcpchat-bench-") as workdir:
        for number in range(rounds):
            log(f"round {number + 1} of {rounds}")
            round_results = {
                kind.name: run_round(kind, plan, binary, Path(workdir), number == 0)
                for kind in kinds
            }
            results["rounds"].append(round_results)
    if plan.idle_clients:
        # The shape's own cost, measured in the same run: what tcpchat's idle figure sits on.
        results["idle_floor"] = asyncio_floor.floors(plan.idle_clients)
    results["seconds"] = round(time.time() - started, 1)
    results["load_after"] = report.load_average()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    report.write(results, args.out)
    log(f"done in {results['seconds']} s: {args.out / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
