"""CPU per delivery and latency at fixed loads: ``python -m benchmarks.fixed_loads``.

Runs tcpchat on asyncio and ngIRCd (when installed), each started fresh for
every step, at N = 10 from light to heavy load and at N = 100, 50k
deliveries/s: the loads where the hub's flush gate (``core/pacing.py``)
decides between writing every pass at once and spacing passes. With
``--before DIR`` it also runs the tcpchat whose source is in ``DIR`` (a
``git worktree`` of an older commit, say), interleaved in the same rounds, so
that a change is measured side by side on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from benchmarks import generator
from benchmarks.scenarios import run_fixed
from benchmarks.servers import NGIRCD, TCPCHAT_ASYNCIO, ServerKind, ngircd_available
from benchmarks.servers import RunningServer as Server
from benchmarks.stats import Step

#: (members, deliveries/s): light to heavy at N = 10, and the report's N = 100 step.
LOADS = ((10, 18_000.0), (10, 36_000.0), (10, 72_000.0), (10, 144_000.0), (100, 50_000.0))

HEADER = (
    "| round | server | N | deliveries/s | CPU µs/delivery | server cores | p50 ms | p99 ms "
    "| missing | other work (cores) | load avg |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def _number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def describe(round_: int, name: str, clients: int, step: Step) -> str:
    """One table row for a step."""
    cores = step.server_cpu / step.send_wall if step.send_wall else None
    flag = " (overlapped)" if step.overlapped_other_work else ""
    return (
        f"| {round_} | {name} | {clients} | {step.deliveries_per_second / 1e3:.0f}k "
        f"| {_number(step.cpu_us_per_delivery)} | {_number(cores)} | {_number(step.p(50))} "
        f"| {_number(step.p(99))} | {step.missing} | {_number(step.other_work)}{flag} "
        f"| {step.load_average:.2f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CPU per delivery and p50 at fixed loads")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per step")
    parser.add_argument("--before", type=Path, help="another tcpchat source tree to compare")
    parser.add_argument("--no-ngircd", action="store_true", help="skip ngIRCd")
    args = parser.parse_args(argv)
    binary = generator.build()
    here = Path(__file__).resolve().parents[1]
    contenders: list[tuple[str, ServerKind, Path | None]] = []
    if args.before is not None:
        contenders.append(("tcpchat before", TCPCHAT_ASYNCIO, args.before.resolve() / "src"))
    contenders.append(("tcpchat", TCPCHAT_ASYNCIO, here / "src"))
    if not args.no_ngircd and ngircd_available():
        contenders.append(("ngircd", NGIRCD, None))
    print(HEADER, flush=True)
    for round_ in range(args.rounds):
        for name, kind, source in contenders:
            if source is not None:  # the server is `python -m tcpchat`, found on this path
                os.environ["PYTHONPATH"] = os.pathsep.join((str(source), str(here)))
            for clients, deliveries in LOADS:
                with tempfile.TemporaryDirectory() as work, Server(kind, Path(work)) as server:
                    step = run_fixed(binary, server, clients, deliveries, args.seconds, 0.5, 3.0)
                print(describe(round_, name, clients, step), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
