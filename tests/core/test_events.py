"""The event clock: increasing ids, optionally above a starting point."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tcpchat.core.events import EventClock

NOON = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_ids_start_at_one_and_increase() -> None:
    """A fresh clock hands out 1, 2, 3 … with the time it is told."""
    clock = EventClock(lambda: NOON)
    assert [clock.stamp() for _ in range(3)] == [(1, NOON), (2, NOON), (3, NOON)]


def test_ids_start_above_the_given_id() -> None:
    """A clock started after a stored id (a restart with history) never reuses it."""
    clock = EventClock(lambda: NOON, after=41_999)
    assert [clock.stamp()[0] for _ in range(2)] == [42_000, 42_001]


def test_a_negative_start_is_refused() -> None:
    """Ids are positive: a negative starting point is a bug, said at once."""
    with pytest.raises(ValueError, match="0 or more"):
        EventClock(after=-1)
