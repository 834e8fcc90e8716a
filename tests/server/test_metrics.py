"""``/metrics`` over real sockets: scraped before and after traffic, parsed as Prometheus does.

Each scrape is itself a connection to the web door, so ``tcpchat_connections``
for ``web`` counts the scrape too: the tests compare before and after.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from tcpchat.ai.search import Search
from tcpchat.config import SearchSettings, ServerSettings
from tcpchat.server.chat import ChatServer
from tests.support.fake_openai import FakeOpenAI, Script
from tests.support.faults import close_writer, open_stalled_client, running_server, wait_until
from tests.support.helpers import LineClient
from tests.support.history import history_settings
from tests.support.http import http_get, scrape, value
from tests.support.irc_client import SERVER_NAME, IrcClient
from tests.support.websocket import WebSocketClient

TOKEN = "s3cret-scraper-token"


@pytest.fixture
def settings() -> ServerSettings:
    """Every front door on a port the kernel picks, and gentle flood control."""
    return ServerSettings(
        host="127.0.0.1",
        port=0,
        irc_port=0,
        http_port=0,
        server_name=SERVER_NAME,
        flood_burst=3,
        flood_rate=20.0,
    )


@pytest.fixture
async def fake_api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeOpenAI]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def server(
    settings: ServerSettings, fake_api: FakeOpenAI, tmp_path: Path
) -> AsyncIterator[ChatServer]:
    """A server with the three doors, /search against the fake API, and history."""
    search = Search(
        SearchSettings(api_key="sk-test", base_url=fake_api.base_url, max_retries=0, cooldown=0.0)
    )
    history = history_settings(tmp_path / "history.db")
    async with ChatServer(settings, search=search, history=history) as chat_server:
        yield chat_server


async def test_connections_by_front_door_and_members_move(server: ChatServer) -> None:
    """A native, an IRC and a web member: one more connection per door, three more members."""
    before = await scrape(server.http_port)
    native = await LineClient.connect(server.port)
    irc = await IrcClient.connect(server.irc_port)
    web = await WebSocketClient.connect(server.http_port)
    try:
        await native.register("nat")
        await irc.register("irene")
        await web.register("wendy")
        after = await scrape(server.http_port)
    finally:
        await native.close()
        await irc.close()
        await web.close()
    for door in ("line", "irc", "web"):
        moved = value(after, "tcpchat_connections", door=door) - value(
            before, "tcpchat_connections", door=door
        )
        assert moved == 1, door
    assert value(after, "tcpchat_members") - value(before, "tcpchat_members") == 3
    assert value(after, "tcpchat_rooms") == 1  # everyone is in #lobby


async def test_messages_deliveries_and_bytes_out_move_with_what_is_said(
    server: ChatServer,
) -> None:
    """Three lines said to two listeners: three messages, and their bytes written to both."""
    alice = await LineClient.connect(server.port)
    bob = await LineClient.connect(server.port)
    carol = await IrcClient.connect(server.irc_port)
    try:
        await alice.register("alice")
        await bob.register("bob")
        await carol.register("carol")
        await carol.send("JOIN #lobby")
        await bob.expect(r"\*\*\* carol joined")
        await alice.expect(r"\*\*\* carol joined")
        before = await scrape(server.http_port)
        await alice.send("one", "two", "three")
        for word in ("one", "two", "three"):
            await bob.expect(rf"<alice> {word}$")
            await carol.expect(rf"PRIVMSG #lobby :{word}$")
        after = await scrape(server.http_port)
    finally:
        await alice.close()
        await bob.close()
        await carol.close()

    def moved(name: str) -> float:
        return value(after, name) - value(before, name)

    assert moved("tcpchat_messages_received_total") == 3
    assert moved("tcpchat_deliveries_total") >= 2  # at least one write to each listener
    # Bob's three text lines and Carol's three IRC lines, at the least.
    said = sum(len(line) + 1 for line in bob.seen if "<alice>" in line)
    said += sum(len(line) + 2 for line in carol.seen if "PRIVMSG #lobby" in line)
    assert moved("tcpchat_sent_bytes_total") >= said
    assert moved("tcpchat_received_bytes_total") >= len("one\ntwo\nthree\n")


async def test_an_answered_search_is_counted_and_timed(
    server: ChatServer, fake_api: FakeOpenAI
) -> None:
    """A search: started moves, in flight while it streams, then one answer-latency observation."""
    hold = asyncio.Event()
    fake_api.queue(Script(text="Forty-two.", hold=hold))
    alice = await LineClient.connect(server.port)
    try:
        await alice.register("alice")
        before = await scrape(server.http_port)
        await alice.send("/search what is the answer?")
        await fake_api.wait_for_requests(1)
        during = await scrape(server.http_port)
        hold.set()
        await alice.expect(r"<AI> Forty-two\.")
        after = await scrape(server.http_port)
    finally:
        await alice.close()
    assert value(during, "tcpchat_searches_in_flight") == 1
    assert value(after, "tcpchat_searches_in_flight") == 0
    started = "tcpchat_searches_started_total"
    assert value(after, started) - value(before, started) == 1
    assert value(after, "tcpchat_searches_failed_total") == value(
        before, "tcpchat_searches_failed_total"
    )
    count = "tcpchat_search_answer_seconds_count"
    assert value(after, count) - value(before, count) == 1
    assert value(after, "tcpchat_search_answer_seconds_sum") > 0


async def test_a_failed_search_is_counted_as_failed(
    server: ChatServer, fake_api: FakeOpenAI
) -> None:
    """An API error: the search counts as started and failed, and no answer is timed."""
    fake_api.queue(Script(status=500))
    alice = await LineClient.connect(server.port)
    try:
        await alice.register("alice")
        before = await scrape(server.http_port)
        await alice.send("/search will this fail?")
        await alice.expect(r"!!! ")
        search = server.search
        assert isinstance(search, Search)
        await wait_until(lambda: search.in_flight == 0)
        after = await scrape(server.http_port)
    finally:
        await alice.close()
    for name, moved in (
        ("tcpchat_searches_started_total", 1),
        ("tcpchat_searches_failed_total", 1),
        ("tcpchat_search_answer_seconds_count", 0),
    ):
        assert value(after, name) - value(before, name) == moved, name


async def test_a_flood_delayed_member_is_counted(server: ChatServer) -> None:
    """Lines past the burst are held back: the held lines and the held member are counted."""
    flooder = await LineClient.connect(server.port)
    observer = await LineClient.connect(server.port)
    try:
        await observer.register("observer")
        await flooder.register("flooder")
        before = await scrape(server.http_port)
        await flooder.send(*(f"flood {n}" for n in range(6)))
        await observer.expect(r"<flooder> flood 5$")
        after = await scrape(server.http_port)
    finally:
        await flooder.close()
        await observer.close()
    held = "tcpchat_flood_delayed_lines_total"
    assert value(after, held) - value(before, held) >= 3  # six lines, a burst of three
    assert value(before, "tcpchat_flood_delayed_members") == 0
    assert value(after, "tcpchat_flood_delayed_members") == 1


async def test_held_lines_of_members_who_left_still_count(server: ChatServer) -> None:
    """The held-back count never goes down when the flooder leaves (it is a counter)."""
    flooder = await LineClient.connect(server.port)
    try:
        await flooder.register("flooder")
        await flooder.send(*(f"flood {n}" for n in range(5)), "/exit")
        await flooder.expect_eof()  # /exit waited its turn: every line was acted on
    finally:
        await flooder.close()
    await wait_until(lambda: not server.sessions())
    after = await scrape(server.http_port)
    assert value(after, "tcpchat_flood_delayed_lines_total") >= 3
    assert value(after, "tcpchat_flood_delayed_members") == 0


async def test_a_slow_reader_dropped_for_its_send_queue_is_counted() -> None:
    """A member that never reads is cut off past its queue bound, and counted once."""
    limits = {"max_queue_bytes": 64 * 1024, "send_buffer_bytes": 16 * 1024}
    async with running_server(http_port=0, flood_control=False, **limits) as server:
        before = await scrape(server.http_port)
        talker = await LineClient.connect(server.port)
        listener = await LineClient.connect(server.port)
        _, stalled = await open_stalled_client(server.port)
        try:
            await talker.register("talker")
            await listener.register("listener")
            stalled.write(b"sloth\n")
            await listener.expect(r"\*\*\* sloth joined")
            filler = "x" * 400
            while "sloth" in server.hub.nicks():
                await talker.send(*(f"{n} {filler}" for n in range(100)))
                await listener.expect(r"<talker> 99 x+$|\*\*\* sloth left")
            after = await scrape(server.http_port)
        finally:
            await talker.close()
            await listener.close()
            await close_writer(stalled)
    dropped = "tcpchat_dropped_full_queue_total"
    assert value(before, dropped) == 0
    assert value(after, dropped) == 1


async def test_history_write_batches_are_timed_and_the_backlog_shown(server: ChatServer) -> None:
    """A line said is written in a batch: the batch histogram gets it, the backlog empties."""
    alice = await LineClient.connect(server.port)
    try:
        await alice.register("alice")
        before = await scrape(server.http_port)
        await alice.send("remember me")
        count = "tcpchat_history_batch_seconds_count"
        metrics = server.metrics
        assert metrics is not None
        await wait_until(
            lambda: (metrics.registry.get_sample_value(count) or 0) > value(before, count)
        )
        after = await scrape(server.http_port)
    finally:
        await alice.close()
    assert value(after, "tcpchat_history_available") == 1
    assert value(after, "tcpchat_history_pending_records") >= 0


async def test_the_event_loop_lag_histogram_has_observations(server: ChatServer) -> None:
    """The loop-lag timer observes every half second, so the histogram fills while it runs."""
    metrics = server.metrics
    assert metrics is not None
    count = "tcpchat_event_loop_lag_seconds_count"
    await wait_until(lambda: (metrics.registry.get_sample_value(count) or 0) >= 2)
    samples = await scrape(server.http_port)
    assert value(samples, count) >= 2
    assert value(samples, "tcpchat_event_loop_lag_seconds_bucket", le="+Inf") >= 2


class FakeBackplane:
    """A cluster node's hub as /metrics reads it, with chosen figures."""

    outages = 2
    waiting_operations = 7
    scripts_unanswered = 3
    skipped_notices = 1
    remote_users = 40

    def lag(self) -> float:
        return 0.25

    def not_ready(self) -> str | None:
        return "the cluster's Redis is unreachable"


async def test_backplane_series_are_shown_for_a_cluster_node(server: ChatServer) -> None:
    """Off a cluster there is no backplane series; a cluster node's hub gets each of them."""
    samples = await scrape(server.http_port)
    assert not [name for name, _ in samples if name.startswith("tcpchat_backplane")]
    server.backplane = FakeBackplane()
    samples = await scrape(server.http_port)
    assert value(samples, "tcpchat_backplane_lag_seconds") == 0.25
    assert value(samples, "tcpchat_backplane_up") == 0
    assert value(samples, "tcpchat_backplane_outages_total") == 2
    assert value(samples, "tcpchat_backplane_waiting_operations") == 7
    assert value(samples, "tcpchat_backplane_scripts_unanswered") == 3
    assert value(samples, "tcpchat_backplane_skipped_total") == 1
    assert value(samples, "tcpchat_backplane_remote_users") == 40


# -- the token ------------------------------------------------------------------------------


@pytest.fixture
async def guarded(settings: ServerSettings) -> AsyncIterator[ChatServer]:
    """A server whose /metrics asks for a token."""
    async with ChatServer(replace(settings, metrics_token=TOKEN)) as chat_server:
        yield chat_server


@pytest.mark.parametrize(
    "headers",
    [
        (),
        ("Authorization: Bearer wrong-token",),
        (f"Authorization: Basic {TOKEN}",),
        (f"Authorization: Bearer {TOKEN}x",),
    ],
)
async def test_metrics_without_the_token_are_refused(
    guarded: ChatServer, headers: tuple[str, ...]
) -> None:
    """No token, a wrong one, or another scheme: 401 with a Bearer challenge, no metrics."""
    status, fields, body = await http_get(guarded.http_port, "/metrics", *headers)
    assert status == "HTTP/1.1 401 Unauthorized"
    assert fields["www-authenticate"].startswith("Bearer")
    assert b"tcpchat_" not in body


async def test_metrics_with_the_token_are_served(guarded: ChatServer) -> None:
    """The right token, as a Bearer credential, gets the metrics."""
    samples = await scrape(guarded.http_port, f"Authorization: Bearer {TOKEN}")
    assert value(samples, "tcpchat_members") == 0


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_health_checks_stay_open_with_a_token(guarded: ChatServer, path: str) -> None:
    """Load balancers ask without credentials: the health checks never ask for the token."""
    status, _, _ = await http_get(guarded.http_port, path)
    assert status == "HTTP/1.1 200 OK"
