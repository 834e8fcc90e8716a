"""Shared fixtures: chat servers on 127.0.0.1 port 0, and clients that always close."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from tcpchat.config import ServerSettings
from tcpchat.server.chat import ChatServer
from tests.support.helpers import LineClient


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_logged_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail any test during which asyncio or tcpchat logged an error: "Task exception
    was never retrieved", an unhandled exception in a connection, a bug of ours. A test
    marked ``logs_error(text)`` causes one on purpose: it must be logged, and only it."""
    handler = _ErrorRecords()
    loggers = [logging.getLogger("asyncio"), logging.getLogger("tcpchat")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    messages = [f"{r.name}: {r.getMessage()}" for r in handler.records]
    for marker in request.node.iter_markers("logs_error"):
        text = marker.args[0]
        assert any(text in message for message in messages), f"not logged: {text!r}"
        messages = [message for message in messages if text not in message]
    assert not messages, f"errors were logged: {messages}"


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
