"""The renderings' times, cached (the text stamp by the second, the JSON time by the datetime
last written), read as the direct conversion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tcpchat.core.events import Message
from tcpchat.core.render import json_time, text_lines


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


def test_the_json_time_is_each_datetimes_own_after_another_was_written() -> None:
    """The JSON time remembers the datetime it wrote last: a different one, or an equal one
    that is another object, is written anew, never given the last one's text."""
    first = datetime(2026, 12, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    later = first + timedelta(milliseconds=1)
    assert json_time(first) == "2026-12-02T03:04:05.678Z"
    assert json_time(first) == "2026-12-02T03:04:05.678Z"
    assert json_time(later) == "2026-12-02T03:04:05.679Z"
    assert json_time(first.replace()) == "2026-12-02T03:04:05.678Z"
    shifted = first.astimezone(timezone(timedelta(hours=1)))
    assert json_time(shifted) == "2026-12-02T04:04:05.678+01:00"
