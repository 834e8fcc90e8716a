"""What the servers and the client share about asyncio streams."""

from __future__ import annotations

import asyncio


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


def listening_port(listener: asyncio.Server | None) -> int:
    """The port a server listens on (the real one, when it asked for port 0)."""
    if listener is None or not listener.sockets:
        raise RuntimeError("the server is not listening")
    return int(listener.sockets[0].getsockname()[1])
