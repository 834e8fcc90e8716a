"""The soak test: many clients, heavy senders and a stalled reader, over real sockets.

50 clients: 10 send 200 messages each, 38 more only read, and one never reads
and has a tiny receive buffer. Every reading client must get every message
from the others exactly once and in order (1,800 for a sender, 2,000 for a
reader who sends nothing), the stalled client must be dropped, memory must
stay flat, and at the end the server must report zero members.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time

import pytest

from tcpchat.server.chat import ChatServer
from tests.support.faults import close_writer, hardened_settings, open_stalled_client, wait_until
from tests.support.helpers import LineClient

CLIENTS = 50
SENDERS = 10
MESSAGES_PER_SENDER = 200
#: Senders send in rounds, each waiting for the readers to keep up, as people in a
#: busy room do; the stalled client, which never reads, falls further behind each round.
ROUNDS = 10
#: Message size: 2,000 of them overflow the stalled client's 1 MiB queue bound.
MESSAGE_BYTES = 700
#: Upper bound on the growth of this process's peak memory (the server and all 49
#: reading clients together, so a fortiori the server's).
MEMORY_GROWTH_BOUND = 32 * 1024 * 1024

MESSAGE = re.compile(r"<s(\d\d)> (\d\d):(\d\d\d) ")


def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def _reset_peak_memory() -> bool:
    """Make VmHWM (peak resident memory) start again from the current RSS, if allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


class Reader:
    """One reading client: checks that each sender's messages come once and in order."""

    def __init__(self, client: LineClient, nick: str, *, sends: bool) -> None:
        self.client = client
        self.nick = nick
        self.sends = sends
        self.expected = self.owed(MESSAGES_PER_SENDER)
        self.received = 0
        self.next_index = [0] * SENDERS
        self.saw_stalled_dropped = False

    def owed(self, messages_each: int) -> int:
        """Messages this client is owed once every sender has sent ``messages_each``."""
        return (SENDERS - 1 if self.sends else SENDERS) * messages_each

    async def run(self) -> None:
        reader = self.client.reader
        while self.received < self.expected:
            raw = await reader.readline()
            if not raw:
                raise AssertionError(f"{self.nick} lost its connection")
            line = raw.decode()
            match = MESSAGE.search(line)
            if match is None:
                if "*** sloth left (send queue exceeded)" in line:
                    self.saw_stalled_dropped = True
                continue
            sender, index = int(match.group(2)), int(match.group(3))
            assert int(match.group(1)) == sender
            assert index == self.next_index[sender], f"{self.nick}: {line!r} out of order"
            self.next_index[sender] += 1
            self.received += 1


async def test_soak_fifty_clients_ten_senders_and_a_stalled_reader(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every reader gets every message once and in order; the stalled one is dropped; no ghosts.

    The kernel send buffer is fixed at 64 KiB per connection, as it roughly is on
    a real network: on loopback Linux would grow it to 4 MiB, and the stalled
    client would need 5 MiB before reaching its (default, 1 MiB) queue bound.
    """
    settings = hardened_settings(flood_control=False, send_buffer_bytes=64 * 1024)
    async with ChatServer(settings) as server:
        opened: list[LineClient] = []
        stalled_writer = None
        try:
            readers: list[Reader] = []
            for number in range(CLIENTS - 1):
                client = await LineClient.connect(server.port)
                opened.append(client)
                nick = f"s{number:02d}" if number < SENDERS else f"r{number:02d}"
                await client.register(nick)
                readers.append(Reader(client, nick, sends=number < SENDERS))
            _, stalled_writer = await open_stalled_client(server.port)
            stalled_writer.write(b"sloth\n")
            await wait_until(lambda: server.hub.find("sloth") is not None)

            peak_measured = _reset_peak_memory()
            rss_before = _proc_status_kib("VmRSS")
            started = time.monotonic()
            reading = [asyncio.create_task(reader.run()) for reader in readers]
            try:
                per_round = MESSAGES_PER_SENDER // ROUNDS
                for round_number in range(ROUNDS):
                    first = round_number * per_round
                    for sender in range(SENDERS):
                        await opened[sender].send(
                            *(_message(sender, index) for index in range(first, first + per_round))
                        )
                    await wait_until(
                        functools.partial(_caught_up, readers, reading, first + per_round),
                        timeout=30,
                    )
                async with asyncio.timeout(30):
                    await asyncio.gather(*reading)
            finally:
                for task in reading:
                    task.cancel()
                await asyncio.gather(*reading, return_exceptions=True)
            elapsed = time.monotonic() - started
            # The peak if it could be reset, else (less telling) the resident size now.
            after = _proc_status_kib("VmHWM" if peak_measured else "VmRSS")
            growth = (after - rss_before) * 1024

            delivered = sum(reader.received for reader in readers)
            assert all(r.received == r.expected for r in readers)
            assert all(r.saw_stalled_dropped for r in readers)
            assert server.hub.find("sloth") is None
            assert growth < MEMORY_GROWTH_BOUND
        finally:
            for client in opened:
                await client.close()
            if stalled_writer is not None:
                await close_writer(stalled_writer)
        await wait_until(lambda: len(server.hub) == 0 and server.admission.total == 0)
        assert server.hub.nicks() == ()
    with capsys.disabled():
        print(
            f"\nsoak: {SENDERS * MESSAGES_PER_SENDER} messages of {MESSAGE_BYTES} bytes, "
            f"{delivered} deliveries to {len(readers)} readers in {elapsed:.2f} s "
            f"({delivered / elapsed:,.0f}/s); stalled client dropped; "
            f"{'peak' if peak_measured else 'resident'} memory growth "
            f"{growth / (1 << 20):.1f} MiB (bound {MEMORY_GROWTH_BOUND >> 20} MiB); 0 members left"
        )


def _caught_up(readers: list[Reader], reading: list[asyncio.Task[None]], sent_each: int) -> bool:
    """Whether every reader has what it is owed so far (or one of them has failed)."""
    if any(task.done() for task in reading):
        return True  # finished or failed: gathering the tasks will tell which
    return all(reader.received >= reader.owed(sent_each) for reader in readers)


def _message(sender: int, index: int) -> str:
    head = f"{sender:02d}:{index:03d} "
    return head + "m" * (MESSAGE_BYTES - len(head))
