"""When the hub's next pass runs: at once while the server is quiet, spaced while it is busy.

Each pass costs about one ``send()`` per member, whatever it holds (5-7 µs each
on loopback), so a server that writes every pass at once spends most of its
CPU on ``send()`` when messages come one per pass. Holding a pass back until
:data:`COALESCE_WINDOW` after the previous one puts the messages that arrive
meanwhile into the same writes, but costs a lone message that wait. So the
gate spaces passes only while the event loop is measurably busy: its share of
a CPU (the loop thread's CPU time over wall time, sampled every
:data:`BUSY_SAMPLE_SECONDS` at the end of a pass) rises past
:data:`BUSY_ENTER_SHARE`, and it flushes at once again when the share falls
below :data:`BUSY_LEAVE_SHARE`. The gap between the two is the hysteresis:
coalescing lowers the share it is measured by, and must not switch itself off.

Even while busy, a pass asked for more than the window after the previous one
runs at once: only a message that follows another closely waits, and never for
more than the window. Pure: the clocks are passed in, and tests feed their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: The longest a pass is held back after the previous one while the loop is busy, in
#: seconds: what a line may wait to be coalesced. (A loop with nothing else to do sleeps
#: in ``epoll`` in whole milliseconds, so an idle loop may run it up to 1 ms late.)
COALESCE_WINDOW = 0.0005

#: The loop thread's CPU share (CPU seconds per wall second, over a sample) at which
#: passes start being spaced: half a core busy.
BUSY_ENTER_SHARE = 0.5

#: The share at or below which passes run at once again. Coalescing cuts the share by a
#: third to a half where it starts (0.6 → 0.35 core at N = 10, 72k deliveries/s), so the
#: way out is well below the way in; but a load that has fallen to a fifth of a core
#: (18k deliveries/s at N = 10) must get its immediate passes back.
BUSY_LEAVE_SHARE = 0.3

#: How long one sample of the loop's CPU share lasts, in seconds: long enough to span
#: several of the kernel scheduler's time slices (a few ms each), so that a server sharing
#: its CPU does not read as busy for the one slice it ran in; short enough that a burst is
#: coalesced within a few dozen messages.
BUSY_SAMPLE_SECONDS = 0.02


class FlushGate:
    """Says when the hub's next pass should run; told when each pass ran.

    ``cpu`` returns the event loop thread's CPU seconds (``time.thread_time``);
    it is read once a sample, not once a pass, as it costs a system call.
    """

    __slots__ = (
        "_cpu",
        "_last_pass",
        "_sample_cpu",
        "_sample_start",
        "busy",
        "enter_share",
        "leave_share",
        "sample_seconds",
        "window",
    )

    def __init__(
        self,
        cpu: Callable[[], float] = time.thread_time,
        *,
        window: float = COALESCE_WINDOW,
        enter_share: float = BUSY_ENTER_SHARE,
        leave_share: float = BUSY_LEAVE_SHARE,
        sample_seconds: float = BUSY_SAMPLE_SECONDS,
    ) -> None:
        if window < 0:
            raise ValueError("the coalescing window cannot be negative")
        if not 0 <= leave_share <= enter_share:
            raise ValueError("the share to leave busy mode must be between 0 and the one to enter")
        if sample_seconds <= 0:
            raise ValueError("a sample must last some time")
        self._cpu = cpu
        self.window = window
        self.enter_share = enter_share
        self.leave_share = leave_share
        self.sample_seconds = sample_seconds
        #: Whether passes are being spaced (the loop was busy at the last sample).
        self.busy = False
        self._last_pass = float("-inf")
        self._sample_start: float | None = None
        self._sample_cpu = 0.0

    def due(self, now: float) -> float:
        """When a pass asked for at ``now`` should run: ``now`` means at once."""
        if not self.busy:
            return now
        return max(now, self._last_pass + self.window)

    def passed(self, now: float) -> None:
        """A pass ran at ``now``: the window counts from it; a sample may end here."""
        self._last_pass = now
        start = self._sample_start
        if start is None:
            self._sample_start, self._sample_cpu = now, self._cpu()
            return
        elapsed = now - start
        if elapsed < self.sample_seconds:
            return
        cpu = self._cpu()
        share = (cpu - self._sample_cpu) / elapsed
        self._sample_start, self._sample_cpu = now, cpu
        if self.busy:
            self.busy = share > self.leave_share
        else:
            self.busy = share >= self.enter_share
