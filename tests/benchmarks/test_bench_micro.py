"""The microbenchmarks of the hot paths keep running against the code they measure."""

from __future__ import annotations

from benchmarks import micro


async def test_each_hot_path_runs_and_reports_a_time() -> None:
    """Fan-out, registration and parse-to-publish each run at a tiny size and report µs."""
    assert await micro.fanout(rooms=2, members=3, passes=2) > 0
    assert await micro.registration(room_size=3, rounds=2) > 0
    assert await micro.irc_registration(channel_size=3, rounds=2) > 0
    assert await micro.parse_to_publish(room_size=3, lines=6) > 0
