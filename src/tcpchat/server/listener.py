"""Listening and accepting: what every server's front door shares.

Each listener speaks plain TCP, even with TLS on: a connection is accepted,
counted against the caps, and only then upgraded with :func:`accept_tls`, so
that a connection that never finishes its handshake still counts, and the
handshake spends the same time budget as registration.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable

from tcpchat.config import ServerSettings, task_port
from tcpchat.net.sockopts import enable_keepalive, set_send_buffer
from tcpchat.net.streams import format_address

log = logging.getLogger("tcpchat.server")

#: Bytes asked of the socket per read. The stream's own buffer is bounded to
#: twice this; past it asyncio stops reading the socket and TCP pushes back.
READ_CHUNK = 64 * 1024


async def start_listening(
    serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    settings: ServerSettings,
    *,
    task: int,
    reuse_port: bool = False,
) -> asyncio.Server:
    """Listen as ``settings`` say (address and the task's port), serving with ``serve``.

    The listener speaks plain TCP even when TLS is on: ``serve`` runs as soon as a
    connection is accepted and upgrades it with :func:`accept_tls` itself, so that
    a connection is counted against the caps before its handshake, and the
    handshake spends the same time budget as registration. ``reuse_port`` sets
    SO_REUSEPORT (Linux): several nodes of one cluster then listen on one
    address, and the kernel spreads new connections over them.
    """
    return await asyncio.start_server(
        serve,
        settings.host,
        task_port(settings.port, task),
        limit=READ_CHUNK,
        reuse_port=reuse_port or None,
    )


async def accept_tls(
    writer: asyncio.StreamWriter, context: ssl.SSLContext, deadline: float
) -> bool:
    """Run the server side of the TLS handshake on ``writer`` by the loop time ``deadline``.

    Returns whether it succeeded; ``writer`` then speaks TLS. A handshake that
    fails or runs out of time is logged and its socket cut at once: asyncio does
    not tell the stream that a connection died mid-handshake, so waiting for it
    to close would wait in vain.
    """
    address = format_address(writer.get_extra_info("peername"))
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout_at(deadline):
            # asyncio's own handshake time-out too, as a backstop never reached first.
            await writer.start_tls(
                context, ssl_handshake_timeout=max(deadline - loop.time(), 0.001) + 1.0
            )
    except TimeoutError:
        log.info("%s: no TLS handshake in time; closed", address)
    except OSError as exc:  # ssl.SSLError and ConnectionError among them
        log.info("%s: TLS handshake failed (%s); closed", address, exc)
    except BaseException:
        writer.transport.abort()
        raise
    else:
        return True
    writer.transport.abort()
    return False


def tune_socket(writer: asyncio.StreamWriter, settings: ServerSettings) -> None:
    """Keepalive, and the kernel send buffer if one is configured."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        enable_keepalive(
            sock, settings.keepalive_idle, settings.keepalive_interval, settings.keepalive_count
        )
        set_send_buffer(sock, settings.send_buffer_bytes)
