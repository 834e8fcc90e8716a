"""Every history store, SQLite and Redis alike: what it keeps, how it reads back, its retention.

Each test runs on both backends (the Redis one against a real redis-server);
what only one backend does is in ``test_sqlite.py`` and ``test_redis.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tcpchat.core.errors import CommandError
from tcpchat.core.moderation import Ban
from tcpchat.store.base import MAX_PAGE, MAX_SEARCH_HITS, Kind, Store, stored_time
from tcpchat.store.redis import RedisStore
from tcpchat.store.sqlite import SQLiteStore
from tests.support.components import needs
from tests.support.history import NOON, record

#: Opens another store on the same data: what a restarted server does.
Reopen = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=needs("redis-server"))])
def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> Reopen:
    """Opens a store of the backend under test, on one fresh file or one emptied Redis."""
    if request.param == "sqlite":
        path = str(tmp_path / "history.db")

        def make() -> Store:
            return SQLiteStore(path)
    else:
        url: str = request.getfixturevalue("redis_url")

        def make() -> Store:
            return RedisStore(url)

    async def opened() -> Store:
        new = make()
        await new.open()
        return new

    return opened


@pytest.fixture
async def store(reopen: Reopen) -> AsyncIterator[Store]:
    """An open, empty store, closed after the test."""
    opened = await reopen()
    yield opened
    await opened.close()


async def test_recent_is_the_rooms_last_records_oldest_first(store: Store) -> None:
    """recent(room, 3) is the room's last three records, in the order they were said."""
    store.append(record(n, f"line {n}") for n in range(1, 8))
    assert [r.text for r in await store.recent("#lobby", 3)] == ["line 5", "line 6", "line 7"]


async def test_a_read_sees_what_was_just_appended(store: Store) -> None:
    """A read commits the buffer first: someone joining right after a line sees it."""
    store.append([record(1, "just now")])
    assert store.pending == 1
    assert [r.text for r in await store.recent("#lobby", 20)] == ["just now"]
    assert store.pending == 0


async def test_records_read_back_as_they_were_stored(store: Store) -> None:
    """Every field comes back equal: the id, the UTC time to the microsecond, the sources."""
    answer = record(
        7,
        "It is 42 [1].",
        room="#Dév",
        nick="Ünal",
        kind=Kind.AI,
        ts=datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC),
        sources=("https://example.org/a", "https://example.org/b"),
    )
    store.append([answer])
    assert await store.recent(answer.room_key, 1) == [answer]


async def test_rooms_keep_their_own_history(store: Store) -> None:
    """A room's pages never hold another room's records; rooms are found by key."""
    store.append([record(1, "in lobby"), record(2, "in dev", room="#Dev")])
    assert [r.text for r in await store.recent("#dev", 20)] == ["in dev"]
    assert [r.text for r in await store.recent("#lobby", 20)] == ["in lobby"]


async def test_before_pages_back_from_an_id(store: Store) -> None:
    """before(room, id, n) is the n records just older than id, oldest first."""
    store.append(record(n, f"line {n}") for n in range(1, 11))
    assert [r.id for r in await store.before("#lobby", 6, 3)] == [3, 4, 5]
    assert [r.id for r in await store.before("#lobby", 2, 3)] == [1]


async def test_since_is_what_came_after_an_id(store: Store) -> None:
    """since(room, id, n) is the last n records newer than id: what someone missed."""
    store.append(record(n) for n in range(1, 11))
    assert [r.id for r in await store.since("#lobby", 8, 5)] == [9, 10]
    assert [r.id for r in await store.since("#lobby", 2, 3)] == [8, 9, 10]


async def test_pages_are_bounded(store: Store) -> None:
    """No page holds more than MAX_PAGE records, whatever is asked; a negative ask is empty."""
    store.append(record(n) for n in range(1, MAX_PAGE + 50))
    assert len(await store.recent("#lobby", 10_000)) == MAX_PAGE
    assert len(await store.before("#lobby", 10_000, 10_000)) == MAX_PAGE
    assert await store.recent("#lobby", -1) == []


async def test_pages_hold_what_was_said_not_who_left(store: Store) -> None:
    """Leave records serve /seen; history pages show messages, actions, topics, AI."""
    store.append(
        [
            record(1, "hi"),
            record(2, "waves", kind=Kind.ACTION),
            record(3, "quit", kind=Kind.LEAVE),
            record(4, "release day", kind=Kind.TOPIC),
            record(5, "why?", kind=Kind.SEARCH),
            record(6, "because", kind=Kind.AI),
        ]
    )
    assert [r.id for r in await store.recent("#lobby", 20)] == [1, 2, 4, 5, 6]


async def test_history_survives_a_restart(store: Store, reopen: Reopen) -> None:
    """Closing commits everything; a store opened again on the same data reads it all back."""
    store.append(record(n, f"line {n}") for n in range(1, 4))
    await store.close()
    again = await reopen()
    try:
        assert [r.text for r in await again.recent("#lobby", 20)] == ["line 1", "line 2", "line 3"]
        assert again.highest_id() == 3
    finally:
        await again.close()


async def test_the_highest_id_survives_pruning_everything(store: Store, reopen: Reopen) -> None:
    """Ids keep increasing after a restart even when retention emptied the store."""
    store.append(
        [record(41, ts=NOON - timedelta(days=400)), record(42, ts=NOON - timedelta(days=400))]
    )
    assert await store.prune(max_age_days=1, max_rows_per_room=0) == 2
    await store.close()
    again = await reopen()
    try:
        assert again.highest_id() == 42
    finally:
        await again.close()


async def test_an_id_stored_twice_is_kept_once(store: Store) -> None:
    """A batch written again after a failure changes nothing: ids are the records' keys."""
    store.append([record(1, "first")])
    await store.flush()
    store.append([record(1, "again"), record(2, "second")])
    assert [r.text for r in await store.recent("#lobby", 20)] == ["first", "second"]


async def test_search_finds_the_newest_hits_in_the_room(store: Store) -> None:
    """search is the room's newest matching records, newest first, at most MAX_SEARCH_HITS."""
    store.append(record(n, f"deploy number {n}") for n in range(1, 31))
    store.append([record(31, "deploy elsewhere", room="#dev"), record(32, "unrelated")])
    hits = await store.search("#lobby", "deploy")
    assert [r.id for r in hits] == list(range(30, 30 - MAX_SEARCH_HITS, -1))


async def test_search_reads_said_records_only(store: Store) -> None:
    """A leave's reason is not something anyone said: /find skips it."""
    store.append([record(1, "timeout", kind=Kind.LEAVE), record(2, "a timeout again")])
    assert [r.id for r in await store.search("#lobby", "timeout")] == [2]


async def test_search_with_nothing_to_find_is_a_command_error(store: Store) -> None:
    """Words that hold nothing to look for are refused in words for the user."""
    with pytest.raises(CommandError):
        await store.search("#lobby", '"" -x')


async def test_pruned_records_leave_the_search_index(store: Store) -> None:
    """A record pruned away is no longer found by search."""
    now = datetime.now(UTC)
    store.append(
        [record(1, "secret plan", ts=now - timedelta(days=40)), record(2, "plan b", ts=now)]
    )
    await store.prune(max_age_days=30, max_rows_per_room=0)
    assert [r.id for r in await store.search("#lobby", "plan")] == [2]


async def test_seen_is_the_nicks_last_line_or_leave(store: Store) -> None:
    """seen(nick) compares nicks as nicknames are, and takes the newest sighting."""
    store.append(
        [
            record(1, "morning", nick="Bob"),
            record(2, "quit", nick="bob", kind=Kind.LEAVE, room="#dev"),
            record(3, "bob's answer", nick="BOB", kind=Kind.AI),
        ]
    )
    last = await store.seen("ＢＯＢ")  # fullwidth: the same nick after NFKC
    assert last is not None
    assert (last.id, last.kind, last.room) == (2, Kind.LEAVE, "#dev")
    in_lobby = await store.seen("bob", room_key="#lobby")
    assert in_lobby is not None
    assert in_lobby.id == 1
    assert await store.seen("carol") is None


async def test_last_left_is_the_nicks_last_leave_of_the_room(store: Store) -> None:
    """last_left(nick, room) is where /summary starts "since you left"."""
    store.append(
        [
            record(1, "quit", kind=Kind.LEAVE),
            record(2, "back"),
            record(3, "bye", kind=Kind.LEAVE, room="#dev"),
        ]
    )
    left = await store.last_left("Alice", "#lobby")
    assert left is not None
    assert left.id == 1


async def test_prune_keeps_each_rooms_newest_rows(store: Store) -> None:
    """Past max_rows_per_room, a room's oldest records go; other rooms are untouched."""
    store.append(record(n) for n in range(1, 2_501))
    store.append(record(n, room="#dev") for n in range(2_501, 2_511))
    assert await store.prune(max_age_days=0, max_rows_per_room=100) == 2_400
    assert [r.id for r in await store.recent("#lobby", 1)] == [2_500]
    assert len(await store.before("#lobby", 2_401, 100)) == 0
    assert len(await store.recent("#dev", 100)) == 10


async def test_prune_by_age(store: Store) -> None:
    """Records older than max_age_days go; younger ones stay."""
    now = datetime.now(UTC)
    store.append([record(1, ts=now - timedelta(days=91)), record(2, ts=now - timedelta(days=89))])
    assert await store.prune(max_age_days=90, max_rows_per_room=0) == 1
    assert [r.id for r in await store.recent("#lobby", 20)] == [2]


async def test_rooms_lists_the_most_recently_said_in_first(store: Store) -> None:
    """rooms(limit) names the rooms with said history, the liveliest last line first."""
    store.append([record(1, room="#old"), record(2, room="#new"), record(3, room="#mid")])
    store.append([record(4, room="#gone", kind=Kind.LEAVE)])
    assert await store.rooms(10) == ["#mid", "#new", "#old"]
    assert await store.rooms(2) == ["#mid", "#new"]


async def test_a_reservation_raises_the_highest_id_and_never_lowers_it(store: Store) -> None:
    """Ids reserved (handed out, stored or not) count in highest_id; less never lowers it."""
    await store.reserve_ids(20_000)
    await store.reserve_ids(10_000)
    assert store.highest_id() == 20_000


# -- bans ----------------------------------------------------------------------------

ROOM_BAN = Ban("#dev", "ape", "#dev", "ape", "alice", "spam", 1_800_000_000.0, None, "ape")
SERVER_BAN = Ban("", "10.0.0.0/8", "", "10.0.0.0/8", "root", "", 1_800_000_001.0, 1_800_003_601.0)


async def test_bans_are_kept_across_a_reopening(store: Store, reopen: Reopen) -> None:
    """Saved bans, a room's and the server's, read back equal after the store is reopened."""
    await store.save_ban(ROOM_BAN)
    await store.save_ban(SERVER_BAN)
    await store.close()
    again = await reopen()
    try:
        assert await again.bans() == [ROOM_BAN, SERVER_BAN]
    finally:
        await again.close()


async def test_a_ban_saved_again_replaces_the_first(store: Store) -> None:
    """A second ban of the same target in the same room is one ban, the newer."""
    await store.save_ban(ROOM_BAN)
    longer = replace(ROOM_BAN, reason="still spamming", created=ROOM_BAN.created + 60)
    await store.save_ban(longer)
    assert await store.bans() == [longer]


async def test_a_removed_ban_is_gone(store: Store) -> None:
    """remove_ban forgets the ban with that room and mask, and no other."""
    await store.save_ban(ROOM_BAN)
    await store.save_ban(SERVER_BAN)
    await store.remove_ban(ROOM_BAN)
    assert await store.bans() == [SERVER_BAN]


@pytest.mark.parametrize(
    ("ts", "stored"),
    [
        (datetime(2026, 5, 1, 12, 0, 0, 123456, UTC), "2026-05-01T12:00:00.123456+00:00"),
        (datetime(2026, 5, 1, 12, 0, 0, 0, UTC), "2026-05-01T12:00:00.000000+00:00"),
        (
            datetime(2026, 5, 1, 14, 0, 0, 5, timezone(timedelta(hours=2))),
            "2026-05-01T12:00:00.000005+00:00",
        ),
    ],
)
def test_times_are_stored_in_utc_and_all_as_long(ts: datetime, stored: str) -> None:
    """Every time is written the same length, so that the column sorts as it reads."""
    assert stored_time(ts) == stored
