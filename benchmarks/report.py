"""RESULTS.md and the p99-against-load plot, from the results of one run."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from benchmarks.stats import OTHER_WORK_LIMIT, Step, knee, median_ratio

TCPCHAT = ("tcpchat-asyncio", "tcpchat-uvloop", "tcpchat-irc")
NAIVE = "naive-baseline"
NGIRCD = "ngircd"
PLOT_NAME = "p99-vs-load.png"
#: Hand-written notes on what limits tcpchat, with profiles, appended to RESULTS.md.
LIMITS_NAME = "LIMITS.md"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def describe_machine() -> dict[str, str]:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cpus": str(os.cpu_count()),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_before": load_average(),
    }


def steps_of(data: Iterable[dict[str, Any]]) -> list[Step]:
    steps = []
    for item in data:
        values = dict(item)
        for name in ("histogram", "lag_histogram"):
            if name in values:
                values[name] = {int(i): int(n) for i, n in values[name]}
        values["rss_series"] = tuple(tuple(p) for p in values["rss_series"])
        steps.append(Step(**values))
    return steps


def step_of(data: dict[str, Any]) -> Step:
    return steps_of([data])[0]


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}" if value < 10 else f"{value:.0f}"


def _rate(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.0f}k"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


class Results:
    """Per-round figures, looked up by server and scenario."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.rounds: list[dict[str, Any]] = data["rounds"]
        self.servers: list[str] = list(data["servers"])

    def per_round(
        self, server: str, pick: Callable[[dict[str, Any]], float | None]
    ) -> list[float | None]:
        out: list[float | None] = []
        for round_ in self.rounds:
            entry = round_.get(server)
            try:
                out.append(pick(entry) if entry is not None else None)
            except (KeyError, IndexError):
                out.append(None)
        return out

    def ratio(
        self, server: str, baseline: str, pick: Callable[[dict[str, Any]], float | None]
    ) -> float | None:
        if baseline not in self.servers:
            return None
        return median_ratio(
            zip(self.per_round(server, pick), self.per_round(baseline, pick), strict=True)
        )

    def sweep_names(self) -> list[str]:
        names: list[str] = []
        for round_ in self.rounds:
            for entry in round_.values():
                for name in entry.get("sweeps", {}):
                    if name not in names:
                        names.append(name)
        return names

    def first(self, server: str, key: str) -> Any:
        return self.rounds[0].get(server, {}).get(key) if self.rounds else None


def knee_rate(sweep: str, limit_ms: float = 100.0) -> Callable[[dict[str, Any]], float | None]:
    def pick(entry: dict[str, Any]) -> float | None:
        found = knee(steps_of(entry["sweeps"][sweep]), limit_ms)
        return found.deliveries_per_second if found is not None else None

    return pick


def knee_step(entry: dict[str, Any], sweep: str, limit_ms: float = 100.0) -> Step | None:
    return knee(steps_of(entry["sweeps"][sweep]), limit_ms)


def _fixed(key: str, what: Callable[[Step], float | None]) -> Callable[[dict[str, Any]], Any]:
    return lambda entry: what(step_of(entry[key]))


def write(data: dict[str, Any], out: Path) -> None:
    results = Results(data)
    (out / "RESULTS.md").write_text(render(results))
    plot(results, out / PLOT_NAME)


def render(results: Results) -> str:
    data = results.data
    machine = data["machine"]
    lines = [
        "# tcpchat benchmark results",
        "",
        f"Run: {data['plan']}, {len(results.rounds)} interleaved rounds, started "
        f"{data['started']}, took {data['seconds']} s. Produced by `benchmarks/run.py`; "
        "`benchmarks/README.md` explains how to read this page. Raw figures: `results.json`.",
        "",
        f"Machine: {machine['cpu']}, {machine['cpus']} CPUs, Linux {machine['kernel']}, "
        f"Python {machine['python']}. Load average before: {machine['load_before']}, "
        f"after: {data.get('load_after', '?')} (a busy machine makes absolute figures "
        "noisy; the ratios are taken within each round).",
        "Server pinned to CPU 1, load generator to CPU 0 (`taskset`).",
        "",
        "Servers:",
        "",
    ]
    lines += [f"- `{name}`: {label}" for name, label in data["servers"].items()]
    lines += ["", f"tcpchat's flood limiter: {data.get('tcpchat_flags', '?')}."]
    lines += ["", *targets_section(results), "", *sweeps_section(results)]
    lines += ["", *fixed_section(results), "", *extras_section(results)]
    lines += ["", *missing_section(results), ""]
    lines += [f"![p99 latency against deliveries/s]({PLOT_NAME})", ""]
    limits = Path(__file__).resolve().parent / LIMITS_NAME
    if limits.exists():
        lines += [limits.read_text().rstrip(), ""]
    return "\n".join(lines)


def targets_section(results: Results) -> list[str]:
    lines = ["## Targets", "", "| target | server | measured | met |", "|---|---|---|---|"]
    sweeps = results.sweep_names()
    n1000 = next((s for s in sweeps if s.startswith("N=1000, all")), None)
    n100 = next((s for s in sweeps if s.startswith("N=100, all")), None)
    rooms = next((s for s in sweeps if " rooms of " in s), None)
    for server in TCPCHAT:
        if server not in results.servers:
            continue
        if n1000:
            k = _median(results.per_round(server, knee_rate(n1000, 50.0)))
            lines.append(row("N=1000 knee ≥ 1M/s with p99 ≤ 50 ms", server, _rate(k), k, 1e6))
            r = results.ratio(server, NGIRCD, knee_rate(n1000))
            lines.append(row("N=1000 knee ≥ 1.0× ngIRCd", server, _ratio(r), r, 1.0))
            r = results.ratio(server, NAIVE, knee_rate(n1000))
            lines.append(row("N=1000 knee ≥ 10× naive", server, _ratio(r), r, 10.0))
        if rooms:
            r = results.ratio(server, NGIRCD, knee_rate(rooms))
            lines.append(row(f"{rooms}: knee ≥ 1.0× ngIRCd", server, _ratio(r), r, 1.0))
        if n100:
            k = _median(results.per_round(server, knee_rate(n100, 5.0)))
            lines.append(row("N=100 ≥ 1M/s with p99 ≤ 5 ms", server, _rate(k), k, 1e6))
        p50 = _median(results.per_round(server, _fixed("n10", lambda s: s.p(50))))
        lines.append(
            row("N=10 p50 ≤ 0.3 ms at 90k/s", server, f"{_ms(p50)} ms", p50, 0.3, below=True)
        )
        idle = results.first(server, "idle")
        if idle and "error" in idle:
            lines.append(
                f"| idle capacity ({idle['clients']} connections) | {server} | failed | **no** |"
            )
        elif idle and idle.get("bytes_per_connection") is not None:
            limit = 4096 if server.endswith("asyncio") else 2048
            per = float(idle["bytes_per_connection"])
            lines.append(
                row(
                    f"idle RSS ≤ {limit // 1024} KiB/connection ({idle['clients']} connections)",
                    server,
                    f"{per / 1024:.2f} KiB",
                    per,
                    limit,
                    below=True,
                )
            )
        stalled = results.first(server, "stalled")
        if stalled:
            ratio, bounded, _ = stalled_figures(stalled)
            lines.append(
                row(
                    "stalled reader: others' p99 < 2×",
                    server,
                    _ratio(ratio),
                    ratio,
                    2.0,
                    below=True,
                    strict=True,
                )
            )
            lines.append(
                f"| stalled reader: server RSS bounded | {server} | "
                f"{'yes' if bounded else 'no'} | {'yes' if bounded else '**no**'} |"
            )
    lines += history_targets(results, n1000)
    lines += metrics_targets(results, n1000)
    lines += web_targets(results, n1000)
    lines += cluster_targets(results, n100, n1000)
    lines += ngircd_targets(results, sweeps)
    unmet = limits_of_unmet(lines)
    if unmet:
        lines += ["", "What limits each target not met:", "", *unmet]
    return lines


#: The servers that must be ahead of ngIRCd on every axis, and where each target applies.
AHEAD_ASYNCIO = "tcpchat-asyncio"
AHEAD_UVLOOP = "tcpchat-uvloop"
#: The bound on a server's RSS once it listens, before any client: 25 MB (not MiB).
MAX_STARTUP_RSS_BYTES = 25_000_000


def _churn(entry: dict[str, Any]) -> float | None:
    """A round's registrations per second (None: it ran no churn)."""
    return entry["churn"]["per_second"] if "churn" in entry else None


def _idle_per_connection(results: Results, server: str) -> float | None:
    idle = results.first(server, "idle") or {}
    value = idle.get("bytes_per_connection")
    return float(value) if value is not None else None


def ngircd_targets(results: Results, sweeps: list[str]) -> list[str]:
    """Ahead of ngIRCd on every axis: small rooms, churn, CPU, memory (README's speed goals).

    Each ratio is the median of per-round ratios against ngIRCd in the same run.
    """
    if NGIRCD not in results.servers:
        return []
    lines: list[str] = []
    n10 = next((s for s in sweeps if s.startswith("N=10, all")), None)
    n1000 = next((s for s in sweeps if s.startswith("N=1000, all")), None)
    for server in (AHEAD_ASYNCIO, AHEAD_UVLOOP):
        if server not in results.servers:
            continue
        if n10:
            r = results.ratio(server, NGIRCD, knee_rate(n10))
            lines.append(row("N=10 knee ≥ 1.0× ngIRCd", server, _ratio(r), r, 1.0))
        if n1000:
            r = results.ratio(server, NGIRCD, knee_rate(n1000))
            lines.append(row("N=1000 knee ≥ 2.0× ngIRCd", server, _ratio(r), r, 2.0))
        r = results.ratio(server, NGIRCD, _churn)
        lines.append(row("churn ≥ 1.0× ngIRCd's registrations/s", server, _ratio(r), r, 1.0))
        for key, label in (("n10", "N=10 at 90k/s"), ("fixed", "N=100 at 50k/s")):
            cpu = results.ratio(server, NGIRCD, _fixed(key, lambda s: s.cpu_us_per_delivery))
            lines.append(
                row(
                    f"CPU/delivery ≤ 1.0× ngIRCd, {label}",
                    server,
                    _ratio(cpu),
                    cpu,
                    1.0,
                    below=True,
                )
            )
            p50 = results.ratio(server, NGIRCD, _fixed(key, lambda s: s.p(50)))
            lines.append(
                row(
                    f"p50 < ngIRCd's, {label}",
                    server,
                    _ratio(p50),
                    p50,
                    1.0,
                    below=True,
                    strict=True,
                )
            )
        lines += _idle_targets(results, server)
        rss = _median(results.per_round(server, lambda e: e.get("startup_rss_kb")))
        if rss is not None:
            shown = f"{rss * 1024 / 1e6:.1f} MB"
            lines.append(
                row(
                    "start-up RSS ≤ 25 MB",
                    server,
                    shown,
                    rss * 1024,
                    MAX_STARTUP_RSS_BYTES,
                    below=True,
                )
            )
    return lines


#: For each target (against ngIRCd, and the cluster's): what limits tcpchat where it is
#: not met, and what it would take, each backed by a profile under "What limits tcpchat
#: here" below.
LIMITED_BY = {
    "N=10 knee": (
        "per message, not per member: a `recv()`, a task wake-up and three loop turns, "
        "about 37 µs of Python and asyncio before any fan-out (**Where a small-room "
        "delivery goes**, **Small rooms**); it would take fewer loop turns per message "
        "than a coroutine reading a stream gives (a bare `asyncio.Protocol`, which the "
        "design rules out); uvloop's faster loop turns do not close it"
    ),
    "100 rooms of 10": (
        "each of the hundred rooms is a small room, so the same per-message cost as the "
        "N=10 knee; both servers sit near the p99 limit there, so the knee moves between "
        "neighbouring steps from round to round (**Small rooms**)"
    ),
    "churn": (
        "ngIRCd spends about 65 µs of CPU per registration; tcpchat's own Python is "
        "90-100 µs and asyncio's accept, task, reader, writer and transport about 70 µs "
        "more (**Registration churn**, its profile table); it would take registering "
        "without asyncio's per-connection stream objects"
    ),
    "CPU/delivery": (
        "the same per-message cost as the N=10 knee; the flush gate already cuts the "
        "per-member part while the server is busy (**Coalescing harder when busy**); "
        "the rest needs fewer loop turns per message"
    ),
    "p50": (
        "while the server is busy, the flush gate holds a line up to 0.5 ms (1 ms when "
        "epoll rounds up) to write it together with others: the price of the CPU above "
        "(**Coalescing harder when busy**)"
    ),
    "idle RSS": (
        "`asyncio.start_server` with one coroutine per connection costs about 5 KiB per "
        "idle connection by itself (the floor shown under Capacity), more than ngIRCd's "
        "whole figure (**Memory per idle connection**); it would take fewer asyncio "
        "objects per connection than `start_server` makes"
    ),
    "start-up RSS": (
        "the interpreter (8.7 MiB) and `ssl`, which asyncio imports whatever the "
        "settings (4.4 MiB), leave too little under 25 MB (**Start-up memory**); it would "
        "take a Python whose asyncio does not import `ssl`"
    ),
    "cluster: N=100 knee": (
        "on top of a single node's work, every event waits for its pass's script to be "
        "answered, and each of the node's passes is one of several loop turns an event "
        "needs; three processes share the two cores, and each script's round trip is "
        "mostly a wait for a CPU; the node's knee is at the edge of 3.2M here, held in "
        "most rounds since its per-event costs were cut and not in others (**The Redis "
        'backplane**; docs/scaling-measured.md, "In the full run" and "Each event\'s own costs, '
        "cut again\"); it would take a core for Redis (not reading back the node's own "
        "events was measured, and moved nothing)"
    ),
    "cluster: N=1000 over 2 nodes": (
        "a line crossing nodes pays a round trip to Redis and an `XREAD` wake-up on the "
        "other node (0.3 to 0.4 ms here, where idle cores halt at once and Redis's append "
        "script costs it 0.1 ms cold), and both nodes fan out the same line on the "
        "server's one core, the second waiting for the first's time slice, each with "
        "per-line work of its own on top, paid cold after a fan-out (**The Redis "
        'backplane**; docs/scaling-measured.md, "Crossing nodes, measured" and "Written as it '
        'arrives"); it would take a core per node, as docs/scaling.md advises, which a '
        "2-core machine running the generator cannot give"
    ),
}


def limits_of_unmet(rows: list[str]) -> list[str]:
    """A note per target not met that has a known limit: what limits it, what it would take."""
    notes = []
    for line in rows:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) != 4 or not cells[3].startswith("**no**"):
            continue
        target, server, measured = cells[0], cells[1], cells[2]
        reason = next((why for key, why in LIMITED_BY.items() if target.startswith(key)), None)
        if reason is not None:
            notes.append(f"- {target} ({server}, {measured}): {reason}.")
    return notes


def _idle_targets(results: Results, server: str) -> list[str]:
    idle = results.first(server, "idle")
    if not idle:
        return []
    wanted = int(idle.get("clients_wanted", idle.get("clients", 0)))
    opened = 0 if "error" in idle else int(idle.get("clients", 0))
    lines = [
        f"| idle: registers all {wanted:,} | {server} | {opened:,} "
        f"| {'yes' if opened >= wanted else '**no**'} |"
    ]
    if server == AHEAD_ASYNCIO:
        mine, theirs = _idle_per_connection(results, server), _idle_per_connection(results, NGIRCD)
        r = mine / theirs if mine is not None and theirs else None
        shown = "–" if mine is None else f"{mine / 1024:.2f} KiB ({_ratio(r)})"
        floor = results.data.get("idle_floor", {}).get("asyncio")
        if floor and theirs:
            shown += f"; the shape's floor: {floor / 1024:.2f} KiB ({_ratio(floor / theirs)})"
        lines.append(row("idle RSS/connection ≤ 1.0× ngIRCd's", server, shown, r, 1.0, below=True))
    return lines


#: tcpchat keeping history, and the same server without: the pair the history targets compare.
WITH_HISTORY = "tcpchat-asyncio-history"
WITHOUT_HISTORY = "tcpchat-asyncio"


def history_targets(results: Results, n1000: str | None) -> list[str]:
    """What keeping history costs, side by side in one run (docs/history.md)."""
    if WITH_HISTORY not in results.servers or WITHOUT_HISTORY not in results.servers:
        return []
    lines = []
    if n1000:
        r = results.ratio(WITH_HISTORY, WITHOUT_HISTORY, knee_rate(n1000))
        lines.append(row("history: N=1000 knee ≥ 0.9× without", WITH_HISTORY, _ratio(r), r, 0.9))
    r = results.ratio(
        WITH_HISTORY,
        WITHOUT_HISTORY,
        _churn,
    )
    if r is not None:
        lines.append(
            row("history: churn, 20-line replay, ≥ 0.8× without", WITH_HISTORY, _ratio(r), r, 0.8)
        )
    return lines


#: tcpchat with /metrics scraped every second, and the same server without.
WITH_METRICS = "tcpchat-asyncio-metrics"


def metrics_targets(results: Results, n1000: str | None) -> list[str]:
    """What counting for /metrics costs, side by side in one run (docs/deploy.md)."""
    if WITH_METRICS not in results.servers or WITHOUT_HISTORY not in results.servers or not n1000:
        return []
    r = results.ratio(WITH_METRICS, WITHOUT_HISTORY, knee_rate(n1000))
    return [row("metrics: N=1000 knee ≥ 0.95× without", WITH_METRICS, _ratio(r), r, 0.95)]


#: tcpchat with every member on the WebSocket of its web front door (docs/web.md).
ON_WEBSOCKET = "tcpchat-web"


def web_targets(results: Results, n1000: str | None) -> list[str]:
    """What a member on the WebSocket costs next to one on TCP, side by side in one run."""
    if ON_WEBSOCKET not in results.servers or WITHOUT_HISTORY not in results.servers:
        return []
    lines = []
    if n1000:
        r = results.ratio(ON_WEBSOCKET, WITHOUT_HISTORY, knee_rate(n1000))
        lines.append(row("WebSocket: N=1000 knee ≥ 0.5× TCP", ON_WEBSOCKET, _ratio(r), r, 0.5))
    r = results.ratio(
        ON_WEBSOCKET, WITHOUT_HISTORY, _fixed("fixed", lambda s: s.cpu_us_per_delivery)
    )
    lines.append(
        row(
            "WebSocket: CPU/delivery at N=100, 50k/s ≤ 1.5× TCP",
            ON_WEBSOCKET,
            _ratio(r),
            r,
            1.5,
            below=True,
        )
    )
    return lines


#: tcpchat as one node of a cluster on Redis, compared with tcpchat-asyncio (docs/scaling.md).
ON_REDIS = "tcpchat-redis"


def cluster_targets(results: Results, n100: str | None, n1000: str | None) -> list[str]:
    """What the Redis backplane costs one node, and a message crossing nodes, side by side."""
    if ON_REDIS not in results.servers or WITHOUT_HISTORY not in results.servers:
        return []
    lines = []
    for sweep in (n100, n1000):
        if sweep:
            r = results.ratio(ON_REDIS, WITHOUT_HISTORY, knee_rate(sweep))
            target = f"cluster: {sweep.split(',')[0]} knee ≥ 0.5× one node without Redis"
            lines.append(row(target, ON_REDIS, _ratio(r), r, 0.5))
    # Each pair measured in the Redis node's turn, back to back (scenarios.run_cross_node_pair).
    pairs = cross_node_pairs(results)
    gaps = [_gap(one, two) for one, two in pairs]
    more = _median(gaps)
    shown = "–"
    if more is not None:
        p = [_median(pair[side].p(q) for pair in pairs) for side in (0, 1) for q in (50, 99)]
        each = ", ".join(f"{gap:+.2f}" for gap in sorted(g for g in gaps if g is not None))
        shown = (
            f"{more:+.2f} ms, the median of {len(pairs)} pairs ({each}; p50/p99: "
            f"one node {_ms(p[0])}/{_ms(p[1])} ms, two {_ms(p[2])}/{_ms(p[3])} ms)"
        )
    lines.append(
        row(
            "cluster: N=1000 over 2 nodes at 50k/s, p50 ≤ one node's + 1 ms",
            ON_REDIS,
            shown,
            more,
            1.0,
            below=True,
        )
    )
    return lines


def cross_node_pairs(results: Results) -> list[tuple[Step, Step]]:
    """Every (one node, two nodes) pair of the run, round by round. A run of an older
    ``benchmarks.run`` measured one pair a round, kept as the round's own two steps."""
    pairs = []
    for round_ in results.rounds:
        entry = round_.get(ON_REDIS) or {}
        kept = entry.get("cross_node_pairs")
        if kept is None:
            kept = [entry] if "cross_node" in entry else []
        pairs += [(step_of(pair["one_node"]), step_of(pair["cross_node"])) for pair in kept]
    return pairs


def _gap(one: Step, two: Step) -> float | None:
    """How much higher the two nodes' p50 was than the one node's, in ms."""
    a, b = one.p(50), two.p(50)
    return b - a if a is not None and b is not None else None


#: How far a measured step rate may fall short of its nominal rate by rounding alone.
STEP_ROUNDING = 1e-4


def row(
    target: str,
    server: str,
    shown: str,
    value: float | None,
    limit: float,
    *,
    below: bool = False,
    strict: bool = False,
) -> str:
    if value is None:
        met = "**no** (no step qualified)" if not below else "not measured"
    elif below:
        met = "yes" if (value < limit if strict else value <= limit) else "**no**"
    else:
        # A sweep's steps are nominal rates measured back with a few parts per million of
        # rounding (3,199,996.8 for 3.2M): a ratio of two steps is judged as the steps are.
        met = "yes" if value >= limit * (1 - STEP_ROUNDING) else "**no**"
    return f"| {target} | {server} | {shown} | {met} |"


def stalled_figures(stalled: dict[str, Any]) -> tuple[float | None, bool, str]:
    clean, with_stall = step_of(stalled["clean"]), step_of(stalled["stalled"])
    p_clean, p_stall = clean.p(99), with_stall.p(99)
    ratio = p_stall / p_clean if p_clean and p_stall is not None else None
    if with_stall.missing:
        ratio = None  # the others did not get everything: their latency says nothing
    series = [kb for _, kb in with_stall.rss_series]
    return ratio, rss_levelled_off(series), ", ".join(f"{kb / 1024:.0f}" for kb in series)


def rss_levelled_off(series: list[int]) -> bool:
    """Whether RSS samples (KiB, a second apart) stopped growing: the last third peaks
    at most 1 MiB over all before it. The stalled reader's queue fills for several
    seconds (the kernel's send buffer first, then ``--max-queue-bytes``) before the
    server cuts it off, and the process keeps the pages that queue took for reuse: a
    server whose memory is bounded rises once, in the first half or just past it, then
    holds. One that keeps what it cannot send grows to the end (about 1 MB a second
    here)."""
    if not series:
        return False
    last = len(series) - max(1, len(series) // 3)
    return max(series[last:]) <= max(series[:last] or series) + 1024


def sweeps_section(results: Results) -> list[str]:
    lines = [
        "## Fan-out sweeps",
        "",
        "The knee is the highest load (deliveries/s) with p99 ≤ 100 ms, nothing missing and "
        "no backlog; the latencies are those of the knee's step (median over rounds). "
        "Ratios are medians of per-round ratios.",
        "",
        "| scenario | server | knee | p50 ms | p99 ms | p99.9 ms | × ngIRCd | × naive |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for sweep in results.sweep_names():
        for server in results.servers:
            k = _median(results.per_round(server, knee_rate(sweep)))

            def at_knee(q: float, sweep: str = sweep) -> Callable[[dict[str, Any]], Any]:
                def pick(entry: dict[str, Any]) -> float | None:
                    step = knee_step(entry, sweep)
                    return step.p(q) if step is not None else None

                return pick

            p50, p99, p999 = (
                _median(results.per_round(server, at_knee(q))) for q in (50, 99, 99.9)
            )
            vs_ngircd = results.ratio(server, NGIRCD, knee_rate(sweep))
            vs_naive = results.ratio(server, NAIVE, knee_rate(sweep))
            lines.append(
                f"| {sweep} | {server} | {_rate(k)} | {_ms(p50)} | {_ms(p99)} | {_ms(p999)} "
                f"| {_ratio(vs_ngircd)} | {_ratio(vs_naive)} |"
            )
    lines += [
        "",
        "Every step of the first round (load: p99, `!` past the knee; a step during which "
        f"other work took more than {OTHER_WORK_LIMIT} of a core is marked with it):",
        "",
    ]
    for sweep in results.sweep_names():
        for server in results.servers:
            entry = results.rounds[0].get(server, {})
            steps = steps_of(entry.get("sweeps", {}).get(sweep, []))
            text = " · ".join(
                f"{_rate(s.deliveries_per_second)}: {_ms(s.p(99))} ms"
                + ("" if s.under_knee() else "!")
                + (" (generator saturated)" if s.generator_saturated else "")
                + _other_work_note(s)
                for s in steps
            )
            lines.append(f"- {sweep}, {server}: {text}")
    return lines


def _other_work_note(step: Step) -> str:
    if not step.overlapped_other_work:
        return ""
    return f" (other work: {step.other_work:.2f} core)"


def _pick_p(q: float) -> Callable[[Step], float | None]:
    return lambda step: step.p(q)


def fixed_section(results: Results) -> list[str]:
    lines = [
        "## Fixed loads",
        "",
        "N = 100, everyone sending, at 50k deliveries/s (below every server's knee): "
        "server CPU per delivery, and p50. N = 10 at 90k deliveries/s: server CPU per "
        "delivery, latency, and the generator's own share of it (how late it sent, p99: "
        "`benchmarks/calibrate.py` measures its floor).",
        "",
        "| server | CPU µs/delivery (N=100) | × naive | N=100 p50 ms | CPU µs/delivery (N=10) "
        "| N=10 p50 ms | N=10 p99 ms | N=10 p99.9 ms | generator lag p99 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for server in results.servers:
        cpu = _median(results.per_round(server, _fixed("fixed", lambda s: s.cpu_us_per_delivery)))
        cpu_ratio = results.ratio(server, NAIVE, _fixed("fixed", lambda s: s.cpu_us_per_delivery))
        p100 = _median(results.per_round(server, _fixed("fixed", _pick_p(50))))
        cpu10 = _median(results.per_round(server, _fixed("n10", lambda s: s.cpu_us_per_delivery)))
        p = [_median(results.per_round(server, _fixed("n10", _pick_p(q)))) for q in (50, 99, 99.9)]
        lag = _median(results.per_round(server, _fixed("n10", lambda s: s.send_lag(99))))
        cpu_text = "–" if cpu is None else f"{cpu:.2f}"
        cpu10_text = "–" if cpu10 is None else f"{cpu10:.2f}"
        lines.append(
            f"| {server} | {cpu_text} | {_ratio(cpu_ratio)} | {_ms(p100)} | {cpu10_text} "
            f"| {_ms(p[0])} | {_ms(p[1])} | {_ms(p[2])} | {_ms(lag)} |"
        )
    return lines


def extras_section(results: Results) -> list[str]:
    lines = ["## Capacity, stalled reader, churn", ""]
    lines += [
        "| server | idle: connections | RSS/connection | stalled: p99 clean → stalled | "
        "× | RSS over time (MiB) | churn: registrations/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for server in results.servers:
        idle = results.first(server, "idle") or {}
        per = idle.get("bytes_per_connection")
        stalled = results.first(server, "stalled")
        stall_text, ratio_text, series_text = "–", "–", "–"
        if stalled:
            ratio, bounded, series_text = stalled_figures(stalled)
            clean, slow = step_of(stalled["clean"]), step_of(stalled["stalled"])
            stall_text = f"{_ms(clean.p(99))} → {_ms(slow.p(99))} ms"
            if slow.missing:
                stall_text += f", **{slow.missing} deliveries missing**"
            if slow.closed:
                stall_text += f" (server closed {slow.closed})"
            ratio_text = _ratio(ratio)
            series_text += "" if bounded else " (growing)"
        churn = _median(results.per_round(server, _churn))
        per_text = "–" if per is None else f"{per / 1024:.2f} KiB"
        if "error" in idle:
            per_text = "failed: " + str(idle["error"]).replace("|", "/")
        lines.append(
            f"| {server} | {idle.get('clients', '–')} | "
            f"{per_text} | {stall_text} | {ratio_text} "
            f"| {series_text} | {'–' if churn is None else f'{churn:.0f}'} |"
        )
    floor = results.data.get("idle_floor")
    if floor:
        shown = ", ".join(f"{loop} {per / 1024:.2f} KiB" for loop, per in floor.items())
        lines += [
            "",
            "The shape's own floor, measured in the same run (`benchmarks/asyncio_floor.py`: "
            "`asyncio.start_server` and a coroutine awaiting `readline()`, nothing of tcpchat): "
            f"{shown} per idle connection.",
        ]
    return lines


def missing_section(results: Results) -> list[str]:
    lines = ["## Missing deliveries", ""]
    for server in results.servers:
        total = 0
        closed = 0
        saturated = 0
        foreign = 0
        overlapped = 0
        counted = 0
        for round_ in results.rounds:
            entry = round_.get(server)
            if entry is None:
                continue
            steps = [step_of(entry["n10"]), step_of(entry["fixed"])]
            for data in entry.get("sweeps", {}).values():
                steps += steps_of(data)
            total += sum(s.missing for s in steps)
            closed += sum(s.closed for s in steps)
            saturated += sum(s.generator_saturated for s in steps)
            foreign += sum(s.foreign for s in steps)
            overlapped += sum(s.overlapped_other_work for s in steps)
            counted += len(steps)
        note = f"; **{foreign} lines reached a room they were not sent to**" if foreign else ""
        note += f"; the server closed {closed} connections" if closed else ""
        note += f"; generator above 0.9 core in {saturated} steps" if saturated else ""
        note += (
            f"; {overlapped} of {counted} steps overlapped other work on the machine"
            if overlapped
            else ""
        )
        lines.append(f"- {server}: {total} missing deliveries{note}")
    return lines


def plot(results: Results, path: Path) -> None:
    """p99 latency against deliveries/s, one line per server, one panel per sweep."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing (pip install '.[bench]'): no plot", flush=True)
        return
    sweeps = results.sweep_names()
    if not sweeps:
        return
    columns = min(len(sweeps), 3)
    rows = -(-len(sweeps) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4 * rows), squeeze=False)
    for panel, sweep in zip(axes.flat, sweeps, strict=False):
        for server in results.servers:
            xs: list[float] = []
            ys: list[float] = []
            for round_ in results.rounds:
                entry = round_.get(server)
                if entry is None:
                    continue
                for step in steps_of(entry.get("sweeps", {}).get(sweep, [])):
                    p99 = step.p(99)
                    if p99 is not None:
                        xs.append(step.deliveries_per_second)
                        ys.append(p99)
            if xs:
                panel.scatter(xs, ys, s=14, label=server)
        panel.axhline(100, color="grey", linestyle=":", linewidth=1)
        panel.set_xscale("log")
        panel.set_yscale("log")
        panel.set_title(sweep)
        panel.set_xlabel("deliveries/s offered")
        panel.set_ylabel("p99 latency (ms)")
        panel.legend(fontsize=7)
    for panel in list(axes.flat)[len(sweeps) :]:
        panel.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
