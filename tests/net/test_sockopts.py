"""Keepalive and the send buffer: set on the listening socket, inherited by each connection."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator

import pytest

from tcpchat.net.sockopts import ConnectionTuning

#: The keepalive timings the tests ask for (seconds, seconds, probes).
KEEPALIVE_TIMINGS = {"idle": 7, "interval": 3, "count": 4}


class CountingSocket:
    """A socket's options as tuning sees them, counting every one set."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.set_calls = 0

    def setsockopt(self, level: int, option: int, value: int, /) -> None:
        self.set_calls += 1
        self.sock.setsockopt(level, option, value)

    def getsockopt(self, level: int, option: int, /) -> int:
        return self.sock.getsockopt(level, option)


class ForgetfulSocket:
    """A connection on a platform that copied nothing from its listener: every option reads 0."""

    def __init__(self) -> None:
        self.options: dict[tuple[int, int], int] = {}
        self.set_calls = 0

    def setsockopt(self, level: int, option: int, value: int, /) -> None:
        self.set_calls += 1
        self.options[(level, option)] = value

    def getsockopt(self, level: int, option: int, /) -> int:
        return self.options.get((level, option), 0)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    try:
        yield sock
    finally:
        sock.close()


def accept_one(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    """A connection to ``listener``: the client's socket and the accepted one."""
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    return client, accepted


@pytest.mark.skipif(sys.platform != "linux", reason="Linux copies a listener's options")
def test_connections_inherit_the_listeners_options_and_nothing_is_set_on_them(
    listener: socket.socket,
) -> None:
    """On Linux an accepted socket has the listener's keepalive and send buffer, set once."""
    tuning = ConnectionTuning(**KEEPALIVE_TIMINGS, send_buffer=16 * 1024)
    tuning.listen(listener)
    for _ in range(2):
        client, accepted = accept_one(listener)
        with client, accepted:
            counted = CountingSocket(accepted)
            tuning.accepted(counted)
            assert counted.set_calls == 0
            assert accepted.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 3
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4
            assert accepted.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == listener.getsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF
            )
    assert tuning.inherited is True


def test_where_nothing_is_inherited_every_connection_gets_the_options_set(
    listener: socket.socket,
) -> None:
    """A platform that copies nothing to accepted sockets gets each option set per connection."""
    tuning = ConnectionTuning(**KEEPALIVE_TIMINGS, send_buffer=16 * 1024)
    tuning.listen(listener)
    connections = [ForgetfulSocket(), ForgetfulSocket()]
    for connection in connections:
        tuning.accepted(connection)
        assert connection.options == {
            (level, option): value for level, option, value in tuning.options
        }
    assert tuning.inherited is False


class ResetSocket(ForgetfulSocket):
    """A connection reset before it was tuned: its options cannot be read."""

    def getsockopt(self, level: int, option: int, /) -> int:
        raise ConnectionResetError


def test_a_connection_reset_before_the_check_leaves_the_decision_to_the_next(
    listener: socket.socket,
) -> None:
    """An unreadable first connection gets the options set and decides nothing."""
    tuning = ConnectionTuning(**KEEPALIVE_TIMINGS)
    tuning.listen(listener)
    reset = ResetSocket()
    tuning.accepted(reset)
    assert reset.set_calls == len(tuning.options)
    assert tuning.inherited is None
