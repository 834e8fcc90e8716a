"""``/healthz`` and ``/readyz`` over real sockets: alive, ready, and why not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tcpchat.config import ServerSettings
from tcpchat.server.chat import ChatServer
from tcpchat.server.health import HISTORY_UNAVAILABLE
from tcpchat.store.sqlite import SQLiteStore
from tests.support.faults import wait_until
from tests.support.helpers import LineClient
from tests.support.history import fill_the_disk, history_server
from tests.support.http import http_get


@pytest.fixture
def settings() -> ServerSettings:
    """A test server with its web listener on a port the kernel picks."""
    return ServerSettings(host="127.0.0.1", port=0, http_port=0)


@pytest.fixture
async def kept(settings: ServerSettings, tmp_path: Path) -> AsyncIterator[ChatServer]:
    """A server keeping history in a file of its own."""
    async with history_server(tmp_path / "history.db", settings=settings) as chat_server:
        yield chat_server


async def test_healthz_answers_ok(server: ChatServer) -> None:
    """The liveness check: 200 and "ok" while the event loop answers."""
    status, fields, body = await http_get(server.http_port, "/healthz")
    assert (status, body) == ("HTTP/1.1 200 OK", b"ok\n")
    assert fields["content-type"] == "text/plain; charset=utf-8"


async def test_readyz_answers_ready_when_every_part_is(kept: ChatServer) -> None:
    """Listening, with a store that takes writes: 200 and "ready"."""
    status, _, body = await http_get(kept.http_port, "/readyz")
    assert (status, body) == ("HTTP/1.1 200 OK", b"ready\n")


async def test_readyz_says_503_and_why_when_the_store_refuses_writes(kept: ChatServer) -> None:
    """A full disk makes the store unavailable: 503, with the reason in the body."""
    store = kept.history.store if kept.history is not None else None
    assert isinstance(store, SQLiteStore)
    await fill_the_disk(store)
    alice = await LineClient.connect(kept.port)
    try:
        await alice.register("alice")
        await alice.send("x" * 2000, "y" * 2000, "z" * 2000)
        await wait_until(lambda: not store.available)
        status, _, body = await http_get(kept.http_port, "/readyz")
    finally:
        await alice.close()
    assert status == "HTTP/1.1 503 Service Unavailable"
    assert body == f"not ready: {HISTORY_UNAVAILABLE}\n".encode()


async def test_readyz_names_a_listener_that_stopped(server: ChatServer) -> None:
    """A listener no longer accepting makes the server not ready, naming its door."""
    listener = server._listener
    assert listener is not None
    listener.close()
    status, _, body = await http_get(server.http_port, "/readyz")
    assert status == "HTTP/1.1 503 Service Unavailable"
    assert body == b"not ready: not listening for line connections\n"


async def test_readyz_runs_checks_the_server_is_given(server: ChatServer) -> None:
    """A check added to the server (a cluster node's Redis link) is asked, and its reason told."""
    server.readiness_checks.append(lambda: "redis unreachable: connection refused")
    status, _, body = await http_get(server.http_port, "/readyz")
    assert status == "HTTP/1.1 503 Service Unavailable"
    assert body == b"not ready: redis unreachable: connection refused\n"


async def test_http_host_puts_the_web_listener_on_its_own_address() -> None:
    """--http-host binds the web listener there, while chat stays on --host."""
    settings = ServerSettings(host="127.0.0.1", port=0, http_port=0, http_host="127.0.0.2")
    async with ChatServer(settings) as server:
        assert server.web_url == f"http://127.0.0.2:{server.http_port}/"
        with pytest.raises(ConnectionRefusedError):
            await LineClient.connect(server.http_port, "127.0.0.1")
        status, _, _ = await http_get(server.http_port, "/healthz", host="127.0.0.2")
    assert status == "HTTP/1.1 200 OK"
