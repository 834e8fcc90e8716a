"""A tiny benchmark run against tcpchat: every delivery arrives. No speed is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.generator import Generator
from benchmarks.servers import TCPCHAT_ASYNCIO, RunningServer

from benchmarks import generator
from tests.support.components import needs

pytestmark = needs("gcc")


@pytest.fixture(scope="module")
def loadgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The load generator, compiled for this test run."""
    return generator.build(tmp_path_factory.mktemp("loadgen") / "loadgen")


@pytest.mark.parametrize("proto", ["text", "json"])
def test_ten_clients_for_two_seconds_miss_no_delivery(loadgen: Path, proto: str) -> None:
    """N = 10, everyone sending for 2 s: each message reaches the 9 others."""
    with (
        RunningServer(TCPCHAT_ASYNCIO) as server,
        Generator(loadgen, port=server.port, proto=proto, clients=10, server_pid=server.pid) as gen,
    ):
        step = gen.step(rate=500, seconds=2.0, drain=0.5, grace=10.0)
    assert step.sent > 0
    assert step.fanout == 9
    assert step.closed == 0
    assert step.received == step.expected
    assert step.missing == 0
    assert sum(step.histogram.values()) > 0
