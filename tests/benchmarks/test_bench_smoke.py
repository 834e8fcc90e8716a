"""A tiny benchmark run against tcpchat: every delivery arrives. No speed is asserted."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from benchmarks.generator import Generator
from benchmarks.scenarios import FixedLoad, run_cross_node
from benchmarks.servers import TCPCHAT_ASYNCIO, TCPCHAT_REDIS, TCPCHAT_WEB, RunningServer
from benchmarks.stats import Step

from benchmarks import generator
from tests.support.components import needs

pytestmark = needs("gcc")


@pytest.fixture(scope="module")
def loadgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The load generator, compiled for this test run."""
    return generator.build(tmp_path_factory.mktemp("loadgen") / "loadgen")


def assert_ten_members_heard_everything(step: Step) -> None:
    """Lines were sent in a room of ten, no one was dropped and every line reached the 9 others."""
    assert step.sent > 0
    assert step.fanout == 9
    assert step.closed == 0
    assert step.received == step.expected
    assert step.missing == 0


@pytest.mark.parametrize("proto", ["text", "json"])
def test_ten_clients_for_two_seconds_miss_no_delivery(loadgen: Path, proto: str) -> None:
    """N = 10, everyone sending for 2 s: each message reaches the 9 others."""
    with (
        RunningServer(TCPCHAT_ASYNCIO) as server,
        Generator(loadgen, port=server.port, proto=proto, clients=10, server_pid=server.pid) as gen,
    ):
        step = gen.step(rate=500, seconds=2.0, drain=0.5, grace=10.0)
    assert_ten_members_heard_everything(step)
    assert sum(step.histogram.values()) > 0


def test_ten_websocket_members_for_two_seconds_miss_no_delivery(loadgen: Path) -> None:
    """N = 10 on the web door's /ws, everyone sending for 2 s: each frame reaches the 9 others."""
    with (
        RunningServer(TCPCHAT_WEB) as server,
        Generator(
            loadgen, port=server.generator_port, proto="ws", clients=10, server_pid=server.pid
        ) as gen,
    ):
        step = gen.step(rate=500, seconds=2.0, drain=0.5, grace=10.0)
    assert_ten_members_heard_everything(step)
    assert sum(step.histogram.values()) > 0


@needs("redis-server")
def test_ten_members_of_a_cluster_node_miss_no_delivery(loadgen: Path) -> None:
    """N = 10 on a node on Redis, everyone sending for 2 s: each line comes back to the 9 others."""
    with (
        RunningServer(TCPCHAT_REDIS) as node,
        Generator(loadgen, port=node.port, proto="text", clients=10, server_pid=node.pid) as gen,
    ):
        step = gen.step(rate=500, seconds=2.0, drain=0.5, grace=10.0)
    assert_ten_members_heard_everything(step)


@needs("redis-server")
def test_ten_members_over_two_nodes_miss_no_delivery(loadgen: Path) -> None:
    """N = 10 dealt between two nodes behind one address: each line reaches the 9 others."""
    step = run_cross_node(loadgen, TCPCHAT_REDIS, FixedLoad(10, 4_500, 2.0, 0.5, 10.0))
    assert_ten_members_heard_everything(step)


def server_has_rooms(port: int) -> bool:
    """Whether the server answers ``/join #probe`` as a rooms server does (a join line)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        lines = sock.makefile("r", encoding="utf-8")
        sock.sendall(b"prober\n/join #probe\n")
        for line in lines:
            if "*** prober joined" in line:
                return True
            if "!!!" in line:
                return False
    return False


def test_ten_rooms_of_ten_miss_no_delivery_and_leak_nothing(loadgen: Path) -> None:
    """100 clients in 10 rooms, everyone sending: each message reaches its room's 9 others."""
    with RunningServer(TCPCHAT_ASYNCIO) as server:
        if not server_has_rooms(server.port):
            pytest.skip("this tcpchat has no rooms yet: /join #probe was refused")
        with Generator(
            loadgen, port=server.port, proto="text", clients=100, rooms=10, server_pid=server.pid
        ) as gen:
            step = gen.step(rate=500, seconds=2.0, drain=0.5, grace=10.0)
    assert step.fanout == 9
    assert step.closed == 0
    assert step.foreign == 0
    assert step.received == step.expected
