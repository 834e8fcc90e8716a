"""The load generator's own timing, against the bare C fan-out server. No speed is asserted
beyond what a generator that sends on time must show even on a busy machine."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.generator import Generator
from benchmarks.servers import CALIBRATION, RunningServer

from benchmarks import generator
from tests.support.components import needs

pytestmark = needs("gcc")

#: Messages per second: one every 50 ms, so that sending one interval late shows plainly.
SLOW_RATE = 20.0


@pytest.fixture(scope="module")
def loadgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The load generator, compiled for this test module."""
    return generator.build(tmp_path_factory.mktemp("loadgen") / "loadgen")


def test_messages_leave_at_their_intended_times_not_one_interval_late(loadgen: Path) -> None:
    """At 20 messages/s, the median message is sent and timed well within its 50 ms slot."""
    with (
        RunningServer(CALIBRATION) as server,
        Generator(loadgen, port=server.port, proto="text", clients=4, server_pid=server.pid) as gen,
    ):
        step = gen.step(rate=SLOW_RATE, seconds=1.0, drain=0.3, grace=5.0)
    interval_ms = 1000 / SLOW_RATE
    assert step.missing == 0
    lag, latency = step.send_lag(50), step.p(50)
    assert lag is not None
    assert lag < interval_ms / 2
    assert latency is not None
    assert latency < interval_ms / 2


def test_each_step_reports_the_machines_cpu(loadgen: Path) -> None:
    """A step says what the whole machine spent, so that other work can be told apart."""
    with (
        RunningServer(CALIBRATION) as server,
        Generator(loadgen, port=server.port, proto="text", clients=4, server_pid=server.pid) as gen,
    ):
        step = gen.step(rate=100, seconds=0.3, drain=0.3, grace=5.0)
    assert step.machine_cpu >= 0
    assert step.load_average >= 0
    assert step.other_work is not None
