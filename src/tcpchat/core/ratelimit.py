"""Flood control: a token bucket per client, with no I/O and an injectable clock.

Each input line costs one token. A bucket holds at most ``burst`` tokens and
refills at ``rate`` tokens a second. When it is empty the server does not drop
the line: it stops reading that client's socket for :meth:`TokenBucket.take`'s
answer, so TCP pushes back on the flooder while everyone else carries on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Default number of lines a client may send at once before it is slowed down.
DEFAULT_FLOOD_BURST = 10

#: Default sustained rate, in lines a second, once the burst is spent.
DEFAULT_FLOOD_RATE = 5.0


class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate`` tokens a second.

    ``clock`` returns seconds (``time.monotonic`` by default); tests pass their own.
    """

    __slots__ = ("_clock", "_tokens", "_updated", "burst", "rate")

    def __init__(
        self,
        burst: int = DEFAULT_FLOOD_BURST,
        rate: float = DEFAULT_FLOOD_RATE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.burst = burst
        self.rate = rate
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    @property
    def tokens(self) -> float:
        """Tokens available now (a fraction means a part of the next one has refilled)."""
        self._refill()
        return self._tokens

    def take(self) -> float:
        """Spend one token; return how many seconds to wait before acting on it.

        Zero means "go ahead now". A positive answer means the token was
        borrowed from the future: the caller waits that long (and reads nothing
        meanwhile), and the debt is what slows the next lines down too.
        """
        self._refill()
        self._tokens -= 1.0
        if self._tokens >= 0.0:
            return 0.0
        return -self._tokens / self.rate

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._updated
        self._updated = now
        if elapsed > 0:
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
