"""Load over real sockets: slow readers, floods, connection caps, idle strangers, dead peers."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from tests.support.faults import (
    clients,
    close_writer,
    open_stalled_client,
    reset_connection,
    running_server,
    wait_until,
)
from tests.support.helpers import LineClient


async def test_slow_reader_is_dropped_and_nobody_else_waits_or_loses_a_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A member that never reads is cut off past its queue bound; the others get everything.

    The kernel send buffer is fixed small so that the bytes pile up in the
    queue tcpchat bounds (on loopback Linux would otherwise absorb 4 MiB first).
    Alice sends at a reader's pace, a window at a time, as people chat.
    """
    caplog.set_level(logging.WARNING, logger="tcpchat.server")
    count, window, filler = 2000, 100, "x" * 200  # about 500 KB to every member
    async with (
        running_server(
            max_queue_bytes=128 * 1024, send_buffer_bytes=16 * 1024, flood_control=False
        ) as server,
        clients(server.port) as open_client,
    ):
        alice = await open_client("alice")
        bob = await open_client("bob")
        _, stalled = await open_stalled_client(server.port)
        try:
            stalled.write(b"sloth\n")
            await alice.expect(r"\*\*\* sloth joined")
            await bob.expect(r"\*\*\* sloth joined")
            got: list[str] = []
            for start in range(0, count, window):
                await alice.send(*(f"{n} {filler}" for n in range(start, start + window)))
                while len(got) < start + window:
                    line = (await bob.expect(r"<alice> |\*\*\* sloth left")).string
                    if "<alice> " in line:
                        got.append(line.split("<alice> ", 1)[1])
            assert got == [f"{n} {filler}" for n in range(count)]
            assert any("sloth left (send queue exceeded)" in line for line in bob.seen)
            assert server.hub.nicks() == ("alice", "bob")
            assert any("send queue exceeded" in r.getMessage() for r in caplog.records)
        finally:
            await close_writer(stalled)


async def test_flood_is_delayed_not_dropped_and_others_are_not_held_up() -> None:
    """Lines past the burst arrive late but all, in order; another member's line overtakes them."""
    burst, rate, lines = 3, 20.0, 20
    async with (
        running_server(flood_burst=burst, flood_rate=rate) as server,
        clients(server.port) as open_client,
    ):
        observer = await open_client("observer")
        flooder = await open_client("flooder")
        bob = await open_client("bob")
        await observer.expect(r"\*\*\* bob joined")
        started = time.monotonic()
        await flooder.send(*(f"flood {n}" for n in range(lines)))
        for n in range(burst):
            await observer.expect(rf"<flooder> flood {n}$")
        await bob.send("not held up")
        got = [(await observer.expect(r"<(bob|flooder)> (.*)$")).groups() for _ in range(18)]
        elapsed = time.monotonic() - started
    flood = [text for nick, text in got if nick == "flooder"]
    assert flood == [f"flood {n}" for n in range(burst, lines)]
    assert got.index(("bob", "not held up")) < got.index(("flooder", f"flood {lines - 1}"))
    # The last line was owed (lines - burst) / rate seconds: flood control cannot be faster.
    assert elapsed >= (lines - burst) / rate * 0.9


async def test_a_flooder_is_pushed_back_by_tcp_not_buffered_by_the_server() -> None:
    """While a flooder waits for tokens the server reads nothing more: its bytes back up to it."""
    flood_limits = {"flood_burst": 1, "flood_rate": 4.0}
    async with running_server(**flood_limits) as server, clients(server.port) as open_client:
        observer = await open_client("observer")
        flooder = await open_client("flooder")
        before = server.received_bytes
        flood = b"".join(b"flood %d\n" % n for n in range(1_000_000))  # 11 MB of lines
        flooder.writer.write(flood)  # no drain(): it would wait for the server
        await observer.expect(r"<flooder> flood 0$")
        transport = flooder.writer.transport
        await wait_until(lambda: transport.get_write_buffer_size() > 0)
        await observer.expect(r"<flooder> flood 1$")  # delayed, not dropped
        assert server.received_bytes - before < 1 << 20
        transport.abort()  # a quick end: the rest would take days


#: Flood limits under which each line past the first costs five seconds: a paced
#: flooder that is still talking a second or two later has outlived its connection.
SLOW_PACING = {"flood_burst": 2, "flood_rate": 0.2}

#: Far below one line's pacing, and far above what a prompt leave takes.
PROMPTLY = 2.0


async def test_a_paced_flooder_that_resets_leaves_at_once() -> None:
    """A reset flooder leaves now, with the reason; its unread lines go, its place is free."""
    async with (
        running_server(max_per_ip=2, limit_loopback=True, **SLOW_PACING) as server,
        clients(server.port) as open_client,
    ):
        observer = await open_client("observer")
        flooder = await open_client("flooder")
        await observer.expect(r"\*\*\* flooder joined")
        await flooder.send(*(f"flood {n}" for n in range(200)))
        await observer.expect(r"<flooder> flood 0$")
        reset_connection(flooder.writer)
        await observer.expect(r"\*\*\* flooder left \(connection lost\)$", timeout=PROMPTLY)
        await observer.send("/users")
        await observer.expect(r"\*\*\* 1 user online: observer$")
        assert not any("<flooder> flood 1" in line for line in observer.seen)
        newcomer = await open_client()
        await newcomer.expect("Choose a nickname")


async def test_a_flooder_reset_while_its_socket_is_not_read_leaves_at_once() -> None:
    """A reset is found even while flood control has stopped reading the flooder's socket."""
    async with running_server(**SLOW_PACING) as server, clients(server.port) as open_client:
        observer = await open_client("observer")
        flooder = await open_client("flooder")
        flooder.writer.write(b"".join(b"flood %d\n" % n for n in range(1_000_000)))
        await observer.expect(r"<flooder> flood 0$")
        transport = flooder.writer.transport
        await wait_until(lambda: transport.get_write_buffer_size() > 0)  # TCP pushes back
        reset_connection(flooder.writer)
        await observer.expect(r"\*\*\* flooder left \(connection lost\)$", timeout=PROMPTLY)
        assert server.hub.nicks() == ("observer",)


async def test_a_paced_flooder_dropped_for_its_send_queue_leaves_at_once() -> None:
    """A flooder cut off by the hub while paced leaves now, as `send queue exceeded`."""
    limits = {"max_queue_bytes": 16 * 1024, "send_buffer_bytes": 16 * 1024}
    async with (
        running_server(flood_burst=20, flood_rate=0.2, **limits) as server,
        clients(server.port) as open_client,
    ):
        observer = await open_client("observer")
        bob = await open_client("bob")
        _, flooder = await open_stalled_client(server.port)  # it never reads
        try:
            flooder.write(b"flooder\n" + b"".join(b"flood %d\n" % n for n in range(100)))
            await observer.expect(r"<flooder> flood 18$")  # the burst; the rest is paced
            (paced,) = [s for s in server.sessions() if s.peer.nick == "flooder"]
            for n in range(50):  # one at a time: the observer keeps up, the flooder cannot
                if paced.peer.drop_reason is not None:
                    break
                await bob.send(f"{n} " + "x" * 4000)
                await observer.expect(rf"<bob> {n} x+$")
            await observer.expect(r"\*\*\* flooder left \(send queue exceeded\)$", timeout=PROMPTLY)
            await observer.send("/users")
            await observer.expect(r"\*\*\* 2 users online: bob, observer$")
            assert not any("<flooder> flood 19" in line for line in observer.seen)
        finally:
            await close_writer(flooder)


async def test_flood_control_can_be_turned_off() -> None:
    """With flood control off, a burst far past the default limit is relayed at once."""
    async with running_server(flood_control=False) as server, clients(server.port) as open_client:
        observer = await open_client("observer")
        flooder = await open_client("flooder")
        await flooder.send(*(f"line {n}" for n in range(200)))
        for n in range(200):
            await observer.expect(rf"<flooder> line {n}$", timeout=2)


async def test_connections_past_the_server_cap_are_refused_with_a_reason() -> None:
    """With ``max_clients`` connected, the next connection gets one line of reason and EOF."""
    async with running_server(max_clients=2) as server, clients(server.port) as open_client:
        await open_client("alice")
        await open_client("bob")
        third = await open_client()
        lines = await third.expect_eof()
        assert len(lines) == 1
        assert "the server is full (2 connections)" in lines[0]
        assert len(server.hub) == 2


async def test_loopback_is_exempt_from_the_per_address_cap_by_default() -> None:
    """Three loopback clients under a per-address cap of one are all let in."""
    async with running_server(max_per_ip=1) as server, clients(server.port) as open_client:
        for nick in ("alice", "bob", "carol"):
            await open_client(nick)
        assert len(server.hub) == 3


async def test_per_address_cap_applies_to_loopback_when_configured() -> None:
    """With ``limit_loopback``, a second connection from 127.0.0.1 is refused with a reason."""
    async with (
        running_server(max_per_ip=1, limit_loopback=True) as server,
        clients(server.port) as open_client,
    ):
        await open_client("alice")
        second = await open_client()
        lines = await second.expect_eof()
        assert len(lines) == 1
        assert "too many connections from your address (the limit is 1)" in lines[0]


async def test_refused_connections_free_nothing_and_leave_no_count() -> None:
    """After a refusal and a departure the counts are back to what is really connected."""
    async with running_server(max_clients=1) as server, clients(server.port) as open_client:
        alice = await open_client("alice")
        await (await open_client()).expect_eof()
        await alice.send("/quit")
        await alice.expect_eof()
        await wait_until(lambda: server.admission.total == 0)
        await open_client("bob")


async def test_connection_that_never_registers_is_closed() -> None:
    """A connection that chooses no nickname in time is told so and closed."""
    async with running_server(register_timeout=0.2) as server:
        idle = await LineClient.connect(server.port)
        try:
            lines = await idle.expect_eof()
            assert any("no nickname was chosen in time" in line for line in lines)
        finally:
            await idle.close()


async def test_registered_members_are_not_timed_out() -> None:
    """The registration time-out ends once a nickname is chosen."""
    async with running_server(register_timeout=1.0) as server, clients(server.port) as open_client:
        alice = await open_client("alice")
        bob = await open_client("bob")
        await alice.expect(r"\*\*\* bob joined")
        # Outlive the time-out by waiting on a reply that comes only after it.
        idle = await LineClient.connect(server.port)
        try:
            await idle.expect_eof()
        finally:
            await idle.close()
        await alice.send("still here")
        await bob.expect(r"<alice> still here$")


async def test_registering_late_in_a_flood_paced_burst_is_not_timed_out() -> None:
    """Registration ends the time-out at once, even while flood control still paces
    the lines that came in the same read as the nickname."""
    async with (
        running_server(register_timeout=0.3, flood_burst=1, flood_rate=4.0) as server,
        clients(server.port) as open_client,
    ):
        bob = await open_client("bob")
        late = await LineClient.connect(server.port)
        try:
            # One read: the nickname, then two lines that wait 0.25 s each for tokens.
            await late.send("alice", "hello", "world")
            await bob.expect(r"<alice> world$")
            assert not any("in time" in line for line in late.seen)
        finally:
            await late.close()


async def test_every_connection_has_tcp_keepalive_with_the_configured_timings() -> None:
    """Keepalive is on, with the idle, interval and count settings, on the server's socket."""
    timings = {"keepalive_idle": 7, "keepalive_interval": 3, "keepalive_count": 4}
    async with running_server(**timings) as server, clients(server.port) as open_client:
        await open_client("alice")
        (session,) = server.sessions()
        transport = session.peer.transport
        assert isinstance(transport, asyncio.BaseTransport)
        sock = transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 3
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4


async def test_vanished_peer_is_removed_from_the_room() -> None:
    """A peer whose connection is reset without a goodbye is found and leaves the room."""
    async with running_server() as server, clients(server.port) as open_client:
        alice = await open_client("alice")
        ghost = await open_client("ghost")
        await alice.expect(r"\*\*\* ghost joined")
        ghost.writer.transport.abort()  # an RST, as keepalive's failure would give
        await alice.expect(r"\*\*\* ghost left \(connection (lost|closed)\)")
        assert server.hub.nicks() == ("alice",)
