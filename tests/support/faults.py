"""Helpers for fault-injection tests: servers with chosen limits, and misbehaving clients."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from tcpchat.config import ServerSettings
from tcpchat.server.chat import ChatServer
from tests.support.helpers import REPLY_TIMEOUT, LineClient

#: Receive buffer asked for by a client that never reads, so that it stalls quickly.
TINY_RECEIVE_BUFFER = 1024


def hardened_settings(**overrides: Any) -> ServerSettings:
    """Loopback, port 0, and the given limits."""
    return replace(ServerSettings(host="127.0.0.1", port=0), **overrides)


@contextlib.asynccontextmanager
async def running_server(**overrides: Any) -> AsyncIterator[ChatServer]:
    """A server with the given settings, closed afterwards."""
    async with ChatServer(hardened_settings(**overrides)) as server:
        yield server


@contextlib.asynccontextmanager
async def clients(port: int) -> AsyncIterator[Callable[..., Any]]:
    """A factory of raw clients (``await open_client("nick")``), all closed afterwards."""
    opened: list[LineClient] = []

    async def open_client(nick: str | None = None, *, json_mode: bool = False) -> LineClient:
        line_client = await LineClient.connect(port)
        opened.append(line_client)
        if nick is not None:
            await line_client.expect("Choose a nickname")
            await line_client.register(nick, json_mode=json_mode)
        return line_client

    try:
        yield open_client
    finally:
        for line_client in opened:
            await line_client.close()


async def open_stalled_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection with a tiny receive buffer whose owner will never read it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Set before connecting, so that the window advertised in the handshake is small.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, TINY_RECEIVE_BUFFER)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await asyncio.open_connection(sock=sock)


def reset_connection(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the kernel sends a reset and drops whatever was unsent."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close a raw client, whatever state its connection is in."""
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()


async def wait_until(condition: Callable[[], bool], timeout: float = REPLY_TIMEOUT) -> None:
    """Wait until ``condition()`` holds, checking once per event-loop pass or so.

    For server-side state that sends no reply (bytes read, members counted): there
    is no event to wait on, so this polls, and fails after ``timeout``.
    """
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - see the docstring
            await asyncio.sleep(0.001)
