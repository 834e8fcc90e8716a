"""The load generator's own latency floor: ``python -m benchmarks.calibrate``.

The generator is run, exactly as the benchmark runs it (pinned, N = 10,
everyone sending), against ``baselines/fanout_server.c``: a bare C epoll loop
that writes each line to the others the moment it reads it, whose true latency
on loopback is tens of microseconds. What the generator reports against it is
its own floor: the latency it would add to any server's figures.

Each step also says how late the generator handed its messages to ``send()``
(its own lag), and how much CPU other work on the machine took meanwhile; a
step that overlapped other work is flagged, as in RESULTS.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks import generator
from benchmarks.generator import Generator
from benchmarks.servers import CALIBRATION, RunningServer
from benchmarks.stats import Step

#: Messages per second, all ten senders together: light loads, where the
#: calibration server's core is mostly idle and queues nothing.
RATES = (100.0, 1_000.0, 3_000.0)
CLIENTS = 10


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def describe(step: Step) -> str:
    """One table row for a calibration step."""
    other = step.other_work
    flag = " **overlapped other work**" if step.overlapped_other_work else ""
    return (
        f"| {step.rate:.0f} | {step.deliveries_per_second / 1e3:.0f}k | {_ms(step.p(50))} "
        f"| {_ms(step.p(99))} | {_ms(step.p(99.9))} | {_ms(step.send_lag(99))} "
        f"| {step.missing} | {step.generator_load:.2f} "
        f"| {'–' if other is None else f'{other:.2f}'} | {step.load_average:.2f}{flag} |"
    )


HEADER = (
    "| msgs/s | deliveries/s | p50 ms | p99 ms | p99.9 ms | send lag p99 ms | missing "
    "| generator core | other work (cores) | load avg |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the load generator's own latency floor")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per step")
    parser.add_argument(
        "--loadgen", type=Path, default=None, help="a generator binary (default: build it)"
    )
    args = parser.parse_args(argv)
    binary = args.loadgen or generator.build()
    print(HEADER, flush=True)
    for _ in range(args.rounds):
        with (
            RunningServer(CALIBRATION) as server,
            Generator(
                binary, port=server.port, proto="text", clients=CLIENTS, server_pid=server.pid
            ) as gen,
        ):
            for rate in RATES:
                step = gen.step(rate, args.seconds, drain=0.3, grace=1.0)
                print(describe(step), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
