"""Shared fixtures: chat servers on 127.0.0.1 port 0, and clients that always close."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tcpchat.config import ServerSettings
from tcpchat.server import ChatServer
from tests.helpers import LineClient


@pytest.fixture
def settings() -> ServerSettings:
    """Settings for a test server: loopback, a port the kernel picks."""
    return ServerSettings(host="127.0.0.1", port=0)


@pytest.fixture
async def server(settings: ServerSettings) -> AsyncIterator[ChatServer]:
    """A running multi-client server, closed after the test."""
    async with ChatServer(settings) as chat_server:
        yield chat_server


ClientFactory = Callable[..., Awaitable[LineClient]]


@pytest.fixture
async def client(server: ChatServer) -> AsyncIterator[ClientFactory]:
    """Open raw clients to ``server``: ``await client()`` or ``await client("alice")``
    to connect and register. Every client is closed after the test."""
    opened: list[LineClient] = []

    async def open_client(nick: str | None = None, *, json_mode: bool = False) -> LineClient:
        line_client = await LineClient.connect(server.port)
        opened.append(line_client)
        await line_client.expect("Choose a nickname")
        if nick is not None:
            await line_client.register(nick, json_mode=json_mode)
        return line_client

    yield open_client
    for line_client in opened:
        await line_client.close()
