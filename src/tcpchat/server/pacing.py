"""What every front door does with one connection's input lines: pace, time, hand on.

A front door cuts its connection's bytes into input lines (the line protocol
and IRC at line endings, under their own limits; the web door at WebSocket
frames) and hands them to :class:`Intake`, which is where the rules that do
not depend on framing live, the same for all three doors:

- flood control (:class:`Pacer`): a line over the rate waits before it is
  acted on, and the door reads nothing meanwhile, so the transport (TCP)
  pushes back on the flooder; a flooder is never dropped for speed;
- the registration time-out: from accept to a nickname, one deadline
  (:func:`paced_input`), announced in the protocol's own words
  (:meth:`~tcpchat.server.listener.DoorSession.registration_timed_out`);
- a connection cut off by the hub, reset or closed while held back says
  nothing more.

The lines go to any :class:`~tcpchat.server.listener.DoorSession`: the
native :class:`~tcpchat.core.session.Session` or IRC's
:class:`~tcpchat.irc.session.IrcSession`. The bucket itself is pure
(:class:`~tcpchat.core.ratelimit.TokenBucket`); this module is the waiting.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from tcpchat.config import ServerSettings
from tcpchat.core.errors import LineTooLong
from tcpchat.core.hub import Peer
from tcpchat.core.ratelimit import TokenBucket
from tcpchat.net.streams import connection_gone, socket_error
from tcpchat.server.listener import DoorSession

#: Seconds between asking the kernel whether a paced connection was reset. While
#: flood control holds a flooder back its socket is not read, and asyncio only
#: sees a reset when it reads; this bounds how long a reset flooder stays.
RESET_CHECK_INTERVAL = 0.5


class Intake:
    """One connection's input lines on their way to its session, at the flood rate.

    Made by :func:`paced_input`, which also keeps the registration deadline.
    """

    def __init__(
        self,
        session: DoorSession,
        settings: ServerSettings,
        writer: asyncio.StreamWriter,
        registration: asyncio.Timeout,
    ) -> None:
        self.session = session
        self._pacer = Pacer(writer, settings, session.peer)
        self._registration = registration

    async def deliver(self, item: bytes | LineTooLong) -> bool:
        """Hand one input line (or news of an overlong one) to the session.

        Returns False when the door should stop reading: the session finished,
        the hub cut the connection off, or it went away while held back.
        """
        session = self.session
        if session.peer.drop_reason is not None:
            return False  # cut off by the hub: nothing more of it reaches the room
        if not await self._pacer.admit():
            session.end(session.peer.drop_reason or "connection lost")
            return False
        session.receive_line(item)
        if session.finished is not None:
            return False
        if session.registered and self._registration.when() is not None:
            # At once: flood control may still hold back lines already read.
            self._registration.reschedule(None)
        return True

    def close(self) -> None:
        self._pacer.close()


def paced_input(
    session: DoorSession, settings: ServerSettings, writer: asyncio.StreamWriter, deadline: float
) -> PacedInput:
    """An :class:`Intake` for ``session``, closing the connection at ``deadline`` if unregistered.

    ``deadline`` is a loop time. When it passes before the session has a
    nickname, the session says so its own way and ends, and the ``async
    with`` block is left as if the door had stopped reading.
    """
    return PacedInput(session, settings, writer, deadline)


class PacedInput:
    """``async with`` an :class:`Intake` under the registration deadline (:func:`paced_input`).

    A plain class rather than a generator-based context manager: every
    connection enters one, and the generator's frames and steps were a
    measurable part of a registration.
    """

    def __init__(
        self,
        session: DoorSession,
        settings: ServerSettings,
        writer: asyncio.StreamWriter,
        deadline: float,
    ) -> None:
        self._registration = asyncio.timeout_at(deadline)
        self._intake = Intake(session, settings, writer, self._registration)

    async def __aenter__(self) -> Intake:
        await self._registration.__aenter__()
        return self._intake

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        try:
            # Turns the deadline's cancellation into TimeoutError; anything else passes.
            await self._registration.__aexit__(exc_type, exc, traceback)
        except TimeoutError:
            if not self._registration.expired():
                raise  # a socket time-out, not ours
            self._intake.session.registration_timed_out()
            return True
        finally:
            self._intake.close()
        return False


class Pacer:
    """One connection's flood control: :meth:`admit` before acting on each line.

    With flood control off every line is admitted at once. Call :meth:`close`
    when the connection's reading ends (a ``finally``), to drop the watch on the
    socket that waiting may have started.
    """

    def __init__(
        self, writer: asyncio.StreamWriter, settings: ServerSettings, peer: Peer | None = None
    ) -> None:
        self._writer = writer
        self._bucket = flood_bucket(settings)
        self._peer = peer  # told of each line held back (flood_delays, for /metrics)
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
        if self._peer is not None:
            self._peer.flood_delays += 1
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
