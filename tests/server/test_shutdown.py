"""Graceful shutdown: prompt even with a stalled reader and a search in flight, nothing left."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from websockets.frames import CloseCode

from tcpchat.core.conversation import Conversation, HistoryLoader
from tcpchat.core.hub import Room
from tcpchat.server.chat import ChatServer
from tests.support.faults import (
    clients,
    close_writer,
    hardened_settings,
    open_stalled_client,
    wait_until,
)
from tests.support.helpers import LineClient
from tests.support.programs import start_server
from tests.support.websocket import WebSocketClient

#: What the issue promises: shutdown completes within this many seconds.
SHUTDOWN_BUDGET = 5.0


class StuckSearch:
    """A search service whose every search hangs until it is cancelled."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.started = asyncio.Event()
        self.cancelled = 0

    def observe(self, message: object) -> None:
        """Room messages are of no interest to a search that never answers."""

    def request(self, session: Conversation, question: str, *, private: bool = False) -> None:
        task = asyncio.get_running_loop().create_task(self._answer())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        self.started.set()

    def summarize(self, asker: Conversation, room: Room, scope: str, load: HistoryLoader) -> None:
        self.request(asker, scope)

    async def _answer(self) -> None:
        try:
            await asyncio.Event().wait()  # an answer that never comes
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def fill_stalled_queue(port: int, talker: LineClient, listener: LineClient) -> None:
    """Send enough that a member who never reads has a long queue, and wait until it is queued."""
    await talker.send(*(f"{n} {'y' * 200}" for n in range(1500)))
    await listener.expect(r"<talker> 1499 y+$", timeout=10)


async def test_close_is_prompt_with_a_stalled_reader_and_a_search_in_flight() -> None:
    """close() tells everyone, cancels the search and cuts the stalled reader within budget."""
    search = StuckSearch()
    settings = hardened_settings(
        flood_control=False, send_buffer_bytes=16 * 1024, max_queue_bytes=4 << 20
    )
    server = ChatServer(settings, search=search)
    await server.start()
    stalled_writer = None
    try:
        async with clients(server.port) as open_client:
            talker = await open_client("talker")
            listener = await open_client("listener")
            _, stalled_writer = await open_stalled_client(server.port)
            stalled_writer.write(b"sloth\n")
            await listener.expect(r"\*\*\* sloth joined")
            await talker.send("/search what never ends?")
            await search.started.wait()
            await fill_stalled_queue(server.port, talker, listener)

            started = time.monotonic()
            await server.close()
            elapsed = time.monotonic() - started

            await listener.expect(r"\*\*\* the server is shutting down")
            await listener.expect_eof()
    finally:
        await server.close()
        if stalled_writer is not None:
            await close_writer(stalled_writer)
    assert elapsed < SHUTDOWN_BUDGET
    assert search.cancelled == 1
    assert not search.tasks
    assert len(server.hub) == 0
    assert server.admission.total == 0


async def test_nobody_gets_in_after_close() -> None:
    """After close() the listening socket is gone: a new connection is refused."""
    async with ChatServer(hardened_settings()) as server:
        port = server.port
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def _server_process(db: Path, *flags: str) -> tuple[asyncio.subprocess.Process, int]:
    """Start ``tcpchat serve`` in development mode (which reports leaks) on a free port,
    keeping history in ``db``."""
    return await start_server(
        *("--db", str(db)),
        *flags,
        env={**os.environ, "PYTHONWARNINGS": "always"},
        python=("-X", "dev", "-m", "tcpchat"),
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_shuts_down_within_budget_with_status_0_and_leaves_nothing(
    signum: signal.Signals, tmp_path: Path
) -> None:
    """SIGTERM or SIGINT with a stalled reader: exit 0 in time, no leaked task or socket."""
    process, port = await _server_process(
        tmp_path / "tcpchat.db",
        "--no-flood-control",
        "--send-buffer-bytes",
        "16384",
        "--log-level",
        "warning",
    )
    stalled_writer = None
    try:
        async with clients(port) as open_client:
            talker = await open_client("talker")
            listener = await open_client("listener")
            _, stalled_writer = await open_stalled_client(port)
            stalled_writer.write(b"sloth\n")
            await listener.expect(r"\*\*\* sloth joined")
            await fill_stalled_queue(port, talker, listener)

            started = time.monotonic()
            process.send_signal(signum)
            await listener.expect(r"\*\*\* the server is shutting down")
            async with asyncio.timeout(SHUTDOWN_BUDGET):
                _, stderr = await process.communicate()
            elapsed = time.monotonic() - started
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        if stalled_writer is not None:
            await close_writer(stalled_writer)
    assert process.returncode == 0
    assert elapsed < SHUTDOWN_BUDGET
    report = stderr.decode()
    for leak in ("ResourceWarning", "Task was destroyed", "Traceback", "Exception in callback"):
        assert leak not in report, report


class StubbornSearch(StuckSearch):
    """A search service whose shutdown hangs: close() must not wait for it forever."""

    async def aclose(self) -> None:
        await asyncio.Event().wait()


async def test_close_does_not_wait_forever_for_a_search_service(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A search service that will not stop gets close_timeout, then shutdown goes on."""
    server = ChatServer(hardened_settings(close_timeout=0.2), search=StubbornSearch())
    await server.start()
    async with clients(server.port) as open_client:
        alice = await open_client("alice")
        started = time.monotonic()
        await server.close()
        assert time.monotonic() - started < SHUTDOWN_BUDGET
        await alice.expect(r"\*\*\* the server is shutting down")
    assert any("searches did not stop" in r.getMessage() for r in caplog.records)


async def test_shutdown_tells_websockets_and_closes_them_with_1001() -> None:
    """close() sends the shutdown event, then a 1001 close frame, and leaves no task behind."""
    server = ChatServer(hardened_settings(http_port=0))
    await server.start()
    try:
        alice = await WebSocketClient.connect(server.http_port)
        await alice.register("alice")
        idle = await LineClient.connect(server.http_port)  # a connection that never asks
        await wait_until(lambda: len(server._connections) == 2)
    finally:
        await server.close()
    shutdown = await alice.expect_json("shutdown")
    assert "shutting down" in shutdown["text"]
    close = await alice.expect_close()
    assert close is not None
    assert close.code == CloseCode.GOING_AWAY
    assert await idle.reader.read() == b""
    assert server._connections == {}
    await alice.close()
    await idle.close()
