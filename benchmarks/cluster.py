"""What the Redis backplane costs a chat, on its own: the cluster's rows of RESULTS.md.

``make bench`` measures these in its rounds (the ``tcpchat-redis`` server beside
``tcpchat-asyncio``); ``python -m benchmarks.cluster [--quick]`` measures just
them, with the same servers and scenarios, and the C load generator:

- **the knee**: one node with the backplane (``--redis-url``, on a redis-server
  started for it) against one node without it, everyone in one room of N = 100
  all sending, at doubling rates until p99 passes 100 ms (the same sweep as
  ``make bench``'s N = 100). Target: the backplane node's knee is at least half
  the local one's;
- **cross-node latency** at a low fixed load (50,000 deliveries/s), N = 1,000: one
  node alone, then two nodes behind one address (``--reuse-port``: the kernel
  deals the clients between them, so about half of every message's deliveries
  cross nodes), back to back, 5 s each, three such pairs. Target: the median
  pair's p50 no more than 1 ms above the single node's.

The nodes share the server CPU. Redis runs on the generator's core, as on a core
of its own (``servers.RunningServer``; docs/scaling-measured.md, "Where Redis runs in the
benchmark"). On a shared machine, read the load average printed with each figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

from benchmarks import generator
from benchmarks.run import FULL
from benchmarks.scenarios import FixedLoad, Sweep, run_cross_node_pair, run_sweep
from benchmarks.servers import TCPCHAT_ASYNCIO, TCPCHAT_REDIS, RunningServer
from benchmarks.stats import Step, knee

N100 = Sweep(clients=100, senders=-1, start_deliveries=50_000, max_steps=8, seconds=0.5)


def describe(label: str, step: Step | None) -> str:
    if step is None:
        return f"{label:<34} no step under the knee"
    p50, p99 = step.p(50), step.p(99)
    return (
        f"{label:<34} {step.deliveries_per_second:>12,.0f} deliveries/s   "
        f"p50 {p50 or 0:7.2f} ms   p99 {p99 or 0:7.2f} ms   "
        f"load {step.load_average:4.2f}   server CPU {step.server_cpu:5.2f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter wait for late deliveries")
    args = parser.parse_args(argv)
    drain, grace = (0.3, 1.0) if args.quick else (0.5, 2.0)
    binary = generator.build()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    knees = {}
    contenders = (("one node, no Redis", TCPCHAT_ASYNCIO), ("one node on Redis", TCPCHAT_REDIS))
    for label, kind in contenders:
        with RunningServer(kind) as server:
            steps = run_sweep(binary, server, N100, drain, grace)
        found = knee(steps)
        knees[kind] = found.deliveries_per_second if found else 0.0
        print(describe(f"knee, N=100: {label}", found))
    local, backplane = knees[TCPCHAT_ASYNCIO], knees[TCPCHAT_REDIS]
    if local:
        print(f"knee ratio (Redis / local): {backplane / local:.2f} (target ≥ 0.5)")
    load = FixedLoad(
        FULL.cross_node_clients,
        FULL.cross_node_deliveries,
        FULL.cross_node_seconds,
        drain,
        grace,
        FULL.cross_node_samples,
    )
    gaps = []
    for _ in range(FULL.cross_node_pairs):
        single, split = run_cross_node_pair(binary, TCPCHAT_REDIS, load)
        print(describe("N=1,000 fixed load: one node", single))
        print(describe("N=1,000 fixed load: two nodes", split))
        single_p50, split_p50 = single.p(50), split.p(50)
        if single_p50 is not None and split_p50 is not None:
            gaps.append(split_p50 - single_p50)
            print(f"p50 difference: {gaps[-1]:+.2f} ms")
    if gaps:
        print(
            f"p50 difference, median of {len(gaps)}: {statistics.median(gaps):+.2f} ms "
            "(target ≤ +1 ms)"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
