"""Flood control on the wire: one connection's lines paced by its token bucket.

Both front doors (the native one in :mod:`tcpchat.server.line`, IRC's in
:mod:`tcpchat.server.irc`) hold a line back here before acting on it. A
flooder is never dropped for speed: its socket is not read while it waits, so
TCP pushes back on it, and everyone else carries on. The bucket itself is
pure (:class:`~tcpchat.core.ratelimit.TokenBucket`); this is the waiting.
"""

from __future__ import annotations

import asyncio

from tcpchat.config import ServerSettings
from tcpchat.core.ratelimit import TokenBucket
from tcpchat.net.streams import connection_gone, socket_error

#: Seconds between asking the kernel whether a paced connection was reset. While
#: flood control holds a flooder back its socket is not read, and asyncio only
#: sees a reset when it reads; this bounds how long a reset flooder stays.
RESET_CHECK_INTERVAL = 0.5


class Pacer:
    """One connection's flood control: :meth:`admit` before acting on each line.

    With flood control off every line is admitted at once. Call :meth:`close`
    when the connection's reading ends (a ``finally``), to drop the watch on the
    socket that waiting may have started.
    """

    def __init__(self, writer: asyncio.StreamWriter, settings: ServerSettings) -> None:
        self._writer = writer
        self._bucket = flood_bucket(settings)
        # Made the first time a line is held back: done once the connection is
        # closed, reset or dropped by the hub.
        self._lost: asyncio.Future[None] | None = None

    async def admit(self) -> bool:
        """Spend a token, waiting if the bucket is empty; False if the peer went meanwhile."""
        if self._bucket is None:
            return True
        delay = self._bucket.take()
        if delay <= 0:
            return True
        if self._lost is None:
            self._lost = connection_gone(self._writer)
        return await pace(self._writer, self._lost, delay)

    def close(self) -> None:
        if self._lost is not None:
            self._lost.cancel()


async def pace(writer: asyncio.StreamWriter, lost: asyncio.Future[None], delay: float) -> bool:
    """Hold a flooder's next line back for ``delay`` seconds; False if it is gone.

    A connection that is closed, reset or dropped meanwhile ends the wait at
    once: a chunk of short lines can be hours of pacing, and none of it may
    be said in the name of someone who has left. While the socket is not read,
    asyncio cannot see a reset, so the kernel is asked too, every
    :data:`RESET_CHECK_INTERVAL` seconds.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + delay
    while not (lost.done() or writer.transport.is_closing() or socket_error(writer)):
        remaining = end - loop.time()
        if remaining <= 0:
            return True
        await asyncio.wait({lost}, timeout=min(remaining, RESET_CHECK_INTERVAL))
    return False


def flood_bucket(settings: ServerSettings) -> TokenBucket | None:
    """A new connection's token bucket, or None when flood control is off."""
    if not settings.flood_control:
        return None
    return TokenBucket(settings.flood_burst, settings.flood_rate)
