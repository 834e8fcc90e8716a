"""What only the Redis history store does: caps, hidden passwords, and Redis going away."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from tcpchat.core.errors import HistoryUnavailable, StoreError
from tcpchat.core.events import utc_now
from tcpchat.store import redis as redis_store
from tcpchat.store.base import Kind
from tcpchat.store.redis import RedisKeys, RedisStore, redact_url
from tests.support.components import needs
from tests.support.history import NOON, record
from tests.support.redis import RedisServer, free_port, running_redis

pytestmark = needs("redis-server")

KEYS = RedisKeys()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStore]:
    """An open store on the shared, emptied redis-server."""
    opened = RedisStore(redis_url)
    await opened.open()
    yield opened
    await opened.close()


def store_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tcpchat.store"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@redis.example:6380/2", "redis://***@redis.example:6380/2"),
        ("rediss://chat:s3cret@redis.example/0", "rediss://***@redis.example/0"),
        ("redis://:s3cret@[::1]:6379", "redis://***@[::1]:6379"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cret@host:notaport", "(a Redis URL that cannot be parsed)"),
    ],
)
def test_a_urls_password_is_hidden(url: str, shown: str) -> None:
    """redact_url replaces a user and password with ***, and leaves the rest to read."""
    assert redact_url(url) == shown


async def test_an_unreachable_redis_is_refused_at_open_without_its_password() -> None:
    """Opening on a port nobody listens on is one StoreError naming the URL, password hidden."""
    port = free_port()
    with pytest.raises(StoreError) as raised:
        await RedisStore(f"redis://:s3cret@127.0.0.1:{port}/0").open()
    said = str(raised.value)
    assert said.startswith(f"redis://***@127.0.0.1:{port}/0: cannot use Redis (")
    assert "s3cret" not in said


async def test_a_wrong_password_is_refused_without_showing_it() -> None:
    """A Redis that wants another password: StoreError, and neither password is shown."""
    with running_redis(password="right-one") as server:
        wrong = server.url.replace("right-one", "wrong-one")
        with pytest.raises(StoreError) as raised:
            await RedisStore(wrong).open()
        assert "wrong-one" not in str(raised.value)
        assert "right-one" not in str(raised.value)
        opened = RedisStore(server.url)
        await opened.open()  # the right password works
        await opened.close()


async def test_every_xadd_caps_the_rooms_stream(redis_url: str, redis_server: RedisServer) -> None:
    """With a row cap, a room's stream stays near it (MAXLEN ~) between prunings."""
    store = RedisStore(redis_url, max_rows_per_room=100)
    await store.open()
    try:
        store.append(record(n) for n in range(1, 2_001))
        await store.flush()
        length = int(redis_server.command("XLEN", KEYS.history("#lobby")).lstrip(":"))
        assert 100 <= length < 300
        assert [r.id for r in await store.recent("#lobby", 1)] == [2_000]
    finally:
        await store.close()


async def test_a_topic_outlives_its_pruned_stream_entry(store: RedisStore) -> None:
    """Pruning empties the stream, and the room's hash still holds its last topic."""
    old = NOON - timedelta(days=400)
    store.append(
        [
            record(1, "first topic", kind=Kind.TOPIC, ts=old),
            record(2, "release friday", kind=Kind.TOPIC, ts=old),
        ]
    )
    assert await store.prune(max_age_days=30, max_rows_per_room=0) == 2
    topic = await store.topic("#lobby")
    assert topic is not None
    assert (topic.id, topic.text) == (2, "release friday")
    assert await store.recent("#lobby", 20) == []


async def test_sightings_expire_with_retention(redis_url: str, redis_server: RedisServer) -> None:
    """A nick's sightings expire after the retention's days, and an older one is not shown."""
    store = RedisStore(redis_url, max_age_days=30)
    await store.open()
    try:
        store.append(
            [
                record(1, "long ago", room="#dev", ts=utc_now() - timedelta(days=40)),
                record(2, "today", ts=utc_now()),
            ]
        )
        await store.flush()
        ttl = int(redis_server.command("TTL", KEYS.seen("alice")).lstrip(":"))
        assert 29 * 86_400 < ttl <= 30 * 86_400
        assert await store.seen("alice", room_key="#dev") is None
        last = await store.seen("alice")
        assert last is not None
        assert last.id == 2
    finally:
        await store.close()


async def test_search_reads_a_bounded_number_of_lines(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/find reads the room's newest SEARCH_SCAN_ENTRIES lines, and no older one."""
    monkeypatch.setattr(redis_store, "SEARCH_SCAN_ENTRIES", 50)
    monkeypatch.setattr(redis_store, "SEARCH_SCAN_STEP", 20)
    store.append(record(n, "needle" if n in (1, 60) else "hay") for n in range(1, 101))
    assert [r.id for r in await store.search("#lobby", "needle")] == [60]


async def test_next_ids_are_blocks_no_two_servers_share(redis_url: str) -> None:
    """Two servers on one Redis take increasing blocks of ids, never the same id."""
    first, second = RedisStore(redis_url), RedisStore(redis_url)
    await first.open()
    await second.open()
    try:
        taken = [await first.next_ids(3), await second.next_ids(2), await first.next_ids(1)]
        assert [list(block) for block in taken] == [[1, 2, 3], [4, 5], [6]]
    finally:
        await first.close()
        await second.close()


async def test_the_id_counter_stays_above_stored_records(store: RedisStore) -> None:
    """Records stored with the server's own ids raise the counter: next_ids goes on above."""
    store.append([record(41), record(42)])
    await store.flush()
    assert list(await store.next_ids(2)) == [43, 44]


async def test_redis_restarted_empty_loses_history_but_not_the_id_order(
    own_redis: RedisServer,
) -> None:
    """After Redis comes back empty, the store works again at once, history is gone, and
    ids go on above the last this server knew."""
    store = RedisStore(own_redis.url)
    await store.open()
    try:
        store.append(record(n) for n in range(1, 6))
        await store.flush()
        own_redis.restart()
        assert await store.recent("#lobby", 20) == []
        assert list(await store.next_ids(1)) == [6]
        assert store.available
    finally:
        await store.close()


async def test_losing_redis_is_logged_once_and_nothing_appended_is_lost(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """While Redis is away flushes keep the records, reads say history is unavailable, and
    one warning says so (no password); when it is back, all is written, and that is said."""
    caplog.set_level(logging.WARNING, logger="tcpchat.store")
    store = RedisStore(own_redis.url)
    await store.open()
    shown = own_redis.url
    try:
        store.append([record(1, "before")])
        await store.flush()
        own_redis.stop()
        for n in range(2, 5):
            store.append([record(n, f"during {n}")])
            await store.flush()  # never raises into the chat
        with pytest.raises(HistoryUnavailable, match="history is unavailable right now"):
            await store.recent("#lobby", 20)
        assert (store.available, store.pending) == (False, 3)
        [outage] = store_warnings(caplog)
        assert outage.startswith(f"history cannot be written to {shown}: ")
        own_redis.restart()
        await store.flush()
        assert store.available
        assert [r.text for r in await store.recent("#lobby", 20)] == [
            "during 2",
            "during 3",
            "during 4",
        ]
        assert store_warnings(caplog)[1:] == [f"history is written to {shown} again"]
    finally:
        await store.close()


async def test_a_read_that_failed_does_not_leave_history_unavailable_once_redis_is_back(
    own_redis: RedisServer,
) -> None:
    """A read that meets Redis away (a /seen, the hourly prune) makes the store
    unavailable, with nothing waiting to be written. Once Redis is back, the next flush
    (the historian's, every few seconds) finds it answering: the store is available again,
    where before it stayed unavailable (its commands refused, the node not ready) until
    something was said on this node."""
    store = RedisStore(own_redis.url)
    await store.open()
    try:
        own_redis.stop()
        with pytest.raises(HistoryUnavailable):
            await store.seen("alice")
        assert (store.available, store.pending) == (False, 0)
        await store.flush()
        assert not store.available  # still away
        own_redis.restart()
        await store.flush()
        assert store.available
    finally:
        await store.close()


async def test_a_password_never_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """The outage warning of a store with a password names the URL with *** in its place."""
    caplog.set_level(logging.WARNING, logger="tcpchat.store")
    with running_redis(password="s3cret") as server:
        store = RedisStore(server.url)
        await store.open()
        try:
            server.stop()
            store.append([record(1)])
            await store.flush()
        finally:
            await store.close()
    [outage, closing] = store_warnings(caplog)
    assert outage.startswith(f"history cannot be written to redis://***@127.0.0.1:{server.port}/0")
    assert "s3cret" not in outage + closing
