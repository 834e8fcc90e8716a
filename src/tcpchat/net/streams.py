"""What the servers and the client share about asyncio streams and their sockets."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
from typing import Any


async def close_stream(writer: asyncio.StreamWriter, timeout: float) -> None:
    """Close ``writer``, letting its buffered bytes go out for up to ``timeout`` seconds.

    A peer that will not take them (a stalled reader) is cut off with an abort, so
    closing never waits longer than ``timeout``, and the socket is closed on every
    path, cancellation included.
    """
    writer.close()
    try:
        async with asyncio.timeout(timeout):
            await writer.wait_closed()
    except (TimeoutError, ConnectionError, OSError):
        writer.transport.abort()
    except asyncio.CancelledError:
        writer.transport.abort()
        raise


def drop_drain_deque(writer: asyncio.StreamWriter) -> None:
    """Give ``writer``'s protocol a list, not a deque, for its ``drain()`` waiters.

    asyncio's stream protocol makes a 760-byte deque per connection for the
    tasks waiting in ``drain()``; a list does the same job (append, remove,
    iterate) in 56 bytes, and a server that never awaits ``drain()`` on a
    client's stream (its writes are bounded by the hub's buffer check) holds
    it empty for the connection's life. An asyncio whose protocol differs is
    left alone.
    """
    protocol = getattr(writer, "_protocol", None)
    waiters = getattr(protocol, "_drain_waiters", None)
    if type(waiters) is collections.deque and not waiters:
        protocol._drain_waiters = []  # type: ignore[union-attr]


def listening_port(listener: asyncio.Server | None) -> int:
    """The port a server listens on (the real one, when it asked for port 0)."""
    if listener is None or not listener.sockets:
        raise RuntimeError("the server is not listening")
    return int(listener.sockets[0].getsockname()[1])


def format_address(address: Any) -> str:
    """``host:port`` for a socket address (``[host]:port`` for IPv6)."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


def connection_gone(writer: asyncio.StreamWriter) -> asyncio.Future[None]:
    """A future done once ``writer``'s connection has closed, however it ended.

    Cancelling it leaves the stream alone (``wait_closed()`` awaited directly and
    cancelled would cancel the stream's own close future). It never holds an
    exception: the error that ended the connection is the stream's to report.
    """

    async def closed() -> None:
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    return asyncio.shield(closed())


def socket_error(writer: asyncio.StreamWriter) -> int:
    """The error the kernel holds for the connection's socket (0 for none).

    This is how a reset is seen while the socket is not being read: flood control
    stops reading a flooder, and asyncio only learns of a reset when it reads.
    """
    sock = writer.get_extra_info("socket")
    if sock is None:
        return 0
    try:
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
    except OSError as exc:
        return exc.errno or -1
