"""The token bucket, driven by a fake clock: no sockets, no sleeping."""

from __future__ import annotations

import pytest

from tcpchat.core.ratelimit import DEFAULT_FLOOD_BURST, DEFAULT_FLOOD_RATE, TokenBucket


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_defaults_are_a_burst_of_ten_then_five_a_second() -> None:
    """The documented defaults: 10 lines at once, then 5 lines a second."""
    assert (DEFAULT_FLOOD_BURST, DEFAULT_FLOOD_RATE) == (10, 5.0)


def test_burst_goes_through_without_delay() -> None:
    """The first ``burst`` lines cost nothing."""
    bucket = TokenBucket(10, 5.0, FakeClock())
    assert [bucket.take() for _ in range(10)] == [0.0] * 10


def test_lines_past_the_burst_are_delayed_at_the_rate() -> None:
    """Each line past the burst waits 1/rate longer than the one before: delayed, not dropped."""
    bucket = TokenBucket(2, 5.0, FakeClock())
    delays = [bucket.take() for _ in range(5)]
    assert delays[:2] == [0.0, 0.0]
    assert delays[2:] == pytest.approx([0.2, 0.4, 0.6])


def test_tokens_refill_with_time_up_to_the_burst() -> None:
    """Idle time refills the bucket, but never past ``burst``."""
    clock = FakeClock()
    bucket = TokenBucket(3, 1.0, clock)
    for _ in range(3):
        bucket.take()
    clock.now += 2.0
    assert bucket.tokens == pytest.approx(2.0)
    clock.now += 100.0
    assert bucket.tokens == pytest.approx(3.0)


def test_a_waited_out_debt_lets_the_next_line_through_at_the_rate() -> None:
    """A client that waits as told is then held to exactly the sustained rate."""
    clock = FakeClock()
    bucket = TokenBucket(1, 4.0, clock)
    assert bucket.take() == 0.0
    delay = bucket.take()
    assert delay == pytest.approx(0.25)
    clock.now += delay
    assert bucket.take() == pytest.approx(0.25)


def test_a_clock_that_goes_backwards_adds_no_tokens() -> None:
    """A backwards clock step never gives a flooder extra tokens."""
    clock = FakeClock()
    bucket = TokenBucket(1, 1.0, clock)
    bucket.take()
    clock.now -= 50.0
    assert bucket.tokens == pytest.approx(0.0)


@pytest.mark.parametrize(("burst", "rate"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_nonsense_limits_are_refused(burst: int, rate: float) -> None:
    """A bucket that could never pass a line is a configuration error."""
    with pytest.raises(ValueError, match="must"):
        TokenBucket(burst, rate)
