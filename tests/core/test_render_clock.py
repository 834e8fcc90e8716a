"""The text rendering's clock stamp, cached by the second, reads as the direct conversion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tcpchat.core.events import Message
from tcpchat.core.render import text_lines


@pytest.mark.parametrize("tz", [None, UTC, timezone(timedelta(hours=5, minutes=30))])
@pytest.mark.parametrize(
    "ts",
    [
        datetime(2026, 3, 29, 0, 59, 59, 999_000, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 26, 23, 59, 59, 1, tzinfo=UTC),
    ],
)
def test_stamp_matches_the_direct_time_zone_conversion(ts: datetime, tz: timezone | None) -> None:
    """`[HH:MM:SS]` is the event's time in the chosen zone, down to the second."""
    line = text_lines(Message(1, ts, "alice", "hi"), tz)[0]
    assert line.startswith("[" + ts.astimezone(tz).strftime("%H:%M:%S") + "] ")
