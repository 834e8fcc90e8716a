"""What the load generator's counts mean: missing deliveries, backlog, percentiles, knees.

The generator (``loadgen.c``) only counts and buckets; everything computed
from its counts lives here, as plain functions tested by plain calls.

Latencies are bucketed log-linearly in microseconds: below 64 µs each value
has its own bucket, and every power of two above is cut into 32 buckets, so a
bucket is at most about 3% wide. :func:`bucket_of` mirrors the C function of
the same name.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Buckets in the generator's histogram (the last one takes everything above).
BUCKETS = 1280

#: The latency a step may reach at the 99th percentile and still count below the knee.
KNEE_P99_MS = 100.0

#: A step whose generator used more than this share of one core may have measured itself.
GENERATOR_CPU_LIMIT = 0.9

#: Cores' worth of CPU time that other work (neither the server nor the generator) may
#: take during a step before the step is flagged as having overlapped other work: such
#: work competes with both for the two CPUs and shows up as latency. A quiet machine
#: stays well below it.
OTHER_WORK_LIMIT = 0.25


def bucket_of(us: int) -> int:
    """The histogram bucket of a latency of ``us`` microseconds."""
    if us < 64:
        return max(us, 0)
    shift = us.bit_length() - 6
    index = 64 + (shift - 1) * 32 + ((us >> shift) - 32)
    return min(index, BUCKETS - 1)


def bucket_bounds(index: int) -> tuple[int, int]:
    """The latencies (µs) that fall in bucket ``index``: from the first, up to the second."""
    if index < 64:
        return index, index + 1
    shift = (index - 64) // 32 + 1
    mantissa = (index - 64) % 32 + 32
    return mantissa << shift, (mantissa + 1) << shift


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """The ``q``-th percentile (0 < q ≤ 100) of a histogram, in milliseconds.

    The value reported is the midpoint of the bucket holding the rank
    ``ceil(q/100 × count)``: "q% of the samples were at most about this".
    None for an empty histogram.
    """
    if not 0 < q <= 100:
        raise ValueError(f"a percentile is in (0, 100], not {q}")
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, -(-q * total // 100))  # ceil without floats drifting below
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            low, high = bucket_bounds(index)
            return (low + high - 1) / 2 / 1000
    raise AssertionError("unreachable: the rank is at most the total")  # pragma: no cover


def histogram_of(latencies_us: Iterable[int]) -> dict[int, int]:
    """Bucket raw latencies the way the generator does (for tests and small checks)."""
    histogram: dict[int, int] = {}
    for value in latencies_us:
        index = bucket_of(value)
        histogram[index] = histogram.get(index, 0) + 1
    return histogram


@dataclass(frozen=True)
class Step:
    """One open-loop step of the generator, as it reported it."""

    rate: float  # messages per second, all senders together
    seconds: float
    sent: int
    fanout: int  # receivers each message should reach
    received: int  # deliveries counted by the end of the grace period
    received_on_time: int  # deliveries counted by the end of the drain window
    closed: int  # connections the server closed during the step
    generator_cpu: float  # CPU seconds of the generator
    send_wall: float  # seconds the step's sending and drain window took
    server_cpu: float  # CPU seconds of the server during the step
    server_rss_kb: int
    histogram: dict[int, int] = field(default_factory=dict)
    rss_series: tuple[tuple[float, int], ...] = ()
    # How late the generator handed each message to send(), against its intended time:
    # the generator's own share of the latency (same buckets as ``histogram``).
    lag_histogram: dict[int, int] = field(default_factory=dict)
    wall: float = 0.0  # seconds the whole step took, grace period included
    machine_cpu: float = -1.0  # CPU seconds the machine spent busy (all CPUs); -1: unknown
    steal: float = -1.0  # CPU seconds the hypervisor took (all CPUs); -1: unknown
    load_average: float = -1.0  # the 1-minute load average as the step began
    # Deliveries owed as the generator counted them, when it is not sent × fanout
    # (the rooms scenario: each message is owed to its own room only).
    owed: int | None = None
    foreign: int = 0  # lines a member received from a room it is not in: must be 0

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> Step:
        """Read the generator's JSON line for a step."""
        return cls(
            rate=float(report["rate"]),
            seconds=float(report["seconds"]),
            sent=int(report["sent"]),
            fanout=int(report["fanout"]),
            received=int(report["received"]),
            received_on_time=int(report["received_on_time"]),
            closed=int(report["closed"]),
            generator_cpu=float(report["generator_cpu"]),
            send_wall=float(report["send_wall"]),
            server_cpu=float(report["server_cpu"]),
            server_rss_kb=int(report["server_rss_kb"]),
            histogram={int(i): int(n) for i, n in report["hist"]},
            rss_series=tuple((float(t), int(kb)) for t, kb in report["rss_series"]),
            lag_histogram={int(i): int(n) for i, n in report.get("lag_hist", [])},
            wall=float(report.get("wall", 0.0)),
            machine_cpu=float(report.get("machine_cpu", -1.0)),
            steal=float(report.get("steal", -1.0)),
            load_average=float(report.get("load_average", -1.0)),
            owed=int(report["owed"]) if "owed" in report else None,
            foreign=int(report.get("foreign", 0)),
        )

    @property
    def expected(self) -> int:
        """Deliveries owed: every message to every other active member of its room."""
        return self.owed if self.owed is not None else self.sent * max(self.fanout, 0)

    @property
    def missing(self) -> int:
        """Deliveries that never arrived, even after the grace period."""
        return max(self.expected - self.received, 0)

    @property
    def backlog(self) -> bool:
        """Whether deliveries were still owed when the drain window closed."""
        return self.received_on_time < self.expected

    @property
    def deliveries_per_second(self) -> float:
        """The offered load in deliveries per second (messages/s × fan-out)."""
        return self.rate * max(self.fanout, 0)

    @property
    def generator_load(self) -> float:
        """Share of one core the generator used while it sent and drained."""
        return self.generator_cpu / self.send_wall if self.send_wall > 0 else 0.0

    @property
    def generator_saturated(self) -> bool:
        """Whether the generator may have been the bottleneck of this step."""
        return self.generator_load > GENERATOR_CPU_LIMIT

    @property
    def other_work(self) -> float | None:
        """Cores' worth of CPU that neither the server nor the generator used during the step.

        None when the machine's CPU time is unknown (results from an older generator).
        """
        if self.machine_cpu < 0 or self.wall <= 0:
            return None
        return max(self.machine_cpu - self.server_cpu - self.generator_cpu, 0.0) / self.wall

    @property
    def overlapped_other_work(self) -> bool:
        """Whether other work on the machine took more than :data:`OTHER_WORK_LIMIT`."""
        other = self.other_work
        return other is not None and other > OTHER_WORK_LIMIT

    def send_lag(self, q: float) -> float | None:
        """The ``q``-th percentile of how late the generator sent (ms): its own latency."""
        return percentile(self.lag_histogram, q)

    @property
    def cpu_us_per_delivery(self) -> float | None:
        """Server CPU time per delivery received, in microseconds."""
        return self.server_cpu / self.received * 1e6 if self.received else None

    def p(self, q: float) -> float | None:
        """The ``q``-th percentile latency of this step, in milliseconds."""
        return percentile(self.histogram, q)

    def under_knee(self, p99_limit_ms: float = KNEE_P99_MS) -> bool:
        """Whether this step kept p99 within the limit, nothing missing, misrouted or late."""
        p99 = self.p(99)
        return (
            p99 is not None
            and p99 <= p99_limit_ms
            and not self.backlog
            and self.missing == 0
            and self.foreign == 0
            and self.closed == 0
        )


def knee(steps: Sequence[Step], p99_limit_ms: float = KNEE_P99_MS) -> Step | None:
    """The step with the highest load that stayed under the knee, if any did."""
    good = [s for s in steps if s.under_knee(p99_limit_ms)]
    return max(good, key=lambda s: s.deliveries_per_second, default=None)


def median_ratio(pairs: Iterable[tuple[float | None, float | None]]) -> float | None:
    """The median of per-round ratios ``a / b``, skipping rounds where either is missing.

    Each pair is one round's figure for the server and for its baseline, both
    measured in that round, so that a noisy round moves both.
    """
    ratios = [a / b for a, b in pairs if a is not None and b is not None and b > 0]
    return statistics.median(ratios) if ratios else None
