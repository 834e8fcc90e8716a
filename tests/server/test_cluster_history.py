"""History and bans in a cluster: kept on Redis, the same on every node."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

from tcpchat.config import HistorySettings
from tcpchat.core.nicks import nick_key
from tcpchat.server.chat import ChatServer
from tests.support.cluster import heartbeat_stopped, hub_of, running_cluster, settled
from tests.support.faults import wait_until
from tests.support.helpers import LineClient
from tests.support.programs import WAIT, start_server
from tests.support.redis import RedisServer

STAMP = r"^\[[\d:-]+( [\d:]+)?\] "
OPER_PASSWORD = "correct horse"


def cluster_history(history_on_join: int = 20) -> HistorySettings:
    """History on, with a --db that a cluster must not use (it keeps history on Redis)."""
    return HistorySettings(
        db=str(Path("/nonexistent/never-opened.db")), history_on_join=history_on_join
    )


async def lines_until(member: LineClient, pattern: str) -> list[str]:
    """The lines ``member`` reads up to one matching ``pattern``, without their stamps."""
    lines = []
    while True:
        line = await member.read_line()
        assert line is not None, "the connection closed"
        lines.append(re.sub(STAMP, "", line))
        if re.search(pattern, line):
            return lines


async def written(node: ChatServer) -> None:
    """What ``node`` handed its history store so far is on Redis (it flushes every 100 ms)."""
    assert node.history is not None
    assert node.history.historian is not None
    await node.history.historian.store.flush()


async def said_after(operator: LineClient, member: LineClient) -> None:
    """The operator says a line in #lobby after its ban; once ``member`` has it, its node
    has read the ban too (the ban went to the other nodes before the line)."""
    await operator.send("/join #lobby", "after the ban")
    await member.expect(r"<root> after the ban$")


async def test_joining_on_another_node_replays_what_was_said_on_the_first(
    redis_url: str,
) -> None:
    """Alice says three lines on node A; Bob, joining on node B, is replayed them in order."""
    async with running_cluster(redis_url, 2, history=cluster_history(history_on_join=2)) as cluster:
        a, b = cluster.nodes
        alice = await cluster.client(a, "alice")
        await alice.send("one", "two", "three")
        await settled(alice)
        bob = await cluster.client(b)
        await bob.register("bob")
        replay = await lines_until(bob, r"end of history")
    assert replay[-3:] == ["<alice> two", "<alice> three", "*** end of history; /history for more"]


async def test_history_and_find_on_another_node_read_the_shared_store(redis_url: str) -> None:
    """On node B, /history pages back through lines said on node A, and /find finds them."""
    async with running_cluster(redis_url, 2, history=cluster_history(history_on_join=1)) as cluster:
        a, b = cluster.nodes
        alice = await cluster.client(a, "alice")
        await alice.send("deploy on friday", "lunch at noon", "see you")
        await settled(alice)
        bob = await cluster.client(b)
        await bob.register("bob")
        await lines_until(bob, r"end of history")
        await bob.send("/history 5")
        page = await lines_until(bob, r"end of history|no older history")
        await bob.send("/find friday")
        found = await lines_until(bob, r"\*\*\*   \[")
    assert page == [
        "<alice> deploy on friday",
        "<alice> lunch at noon",
        "*** end of history; nothing older is kept",
    ]
    assert found[0] == "*** 1 line of #lobby matches friday:"
    assert found[1].endswith("<alice> deploy on friday")


async def test_seen_on_another_node_knows_where_someone_left(redis_url: str) -> None:
    """Bob parts #dev on node A with a reason; /seen bob on node B says so."""
    async with running_cluster(redis_url, 2, history=cluster_history()) as cluster:
        a, b = cluster.nodes
        bob = await cluster.client(a, "bob")
        await bob.send("/join #dev", "/part #dev off to lunch")
        await settled(bob)
        await written(a)
        alice = await cluster.client(b, "alice")
        await alice.send("/seen bob")
        seen = await alice.expect(r"\*\*\* bob was last seen .*$")
    assert re.search(r"leaving #dev .*: off to lunch; online now$", seen.group(0))


async def test_a_room_ban_made_on_one_node_holds_on_another(redis_url: str) -> None:
    """An operator on node A bans ape from #dev; ape, on node B, may not join it."""
    async with running_cluster(
        redis_url, 2, history=cluster_history(), oper_password=OPER_PASSWORD
    ) as cluster:
        a, b = cluster.nodes
        root = await cluster.client(a, "root")
        ape = await cluster.client(b, "ape")
        await root.send(f"/oper {OPER_PASSWORD}", "/join #dev", "/ban ape 2h spamming links")
        await root.expect(r"root banned ape from #dev for 2h 0m \(spamming links\)$")
        await said_after(root, ape)
        await ape.send("/join #dev")
        await ape.expect(r"!!! you are banned from #dev for 2h 0m: spamming links$")


async def test_a_ban_lifted_on_one_node_is_lifted_on_another(redis_url: str) -> None:
    """After /unban on node A, bob on node B may join #dev again."""
    async with running_cluster(
        redis_url, 2, history=cluster_history(), oper_password=OPER_PASSWORD
    ) as cluster:
        a, b = cluster.nodes
        root = await cluster.client(a, "root")
        bob = await cluster.client(b, "bob")
        await root.send(f"/oper {OPER_PASSWORD}", "/join #dev", "/ban bob")
        await said_after(root, bob)
        await bob.send("/join #dev")
        await bob.expect(r"!!! you are banned from #dev for good$")
        await root.send("/join #dev", "/unban bob")
        await root.expect(r"root lifted the ban on bob from #dev$")
        await said_after(root, bob)
        await bob.send("/join #dev")
        await bob.expect(r"you are now talking in #dev$")


async def test_bans_made_and_lifted_while_a_node_was_counted_dead_hold_on_it_when_back(
    redis_url: str,
) -> None:
    """ape and bob are on node A. While A reads nothing and sends no heartbeat (cut off,
    stalled), node B counts it dead, and root, on B, bans ape from #dev and lifts bob's
    ban there. A, back, starts the presence feed again at its newest entry, past both:
    it takes the bans as the store keeps them. ape may not join #dev; bob may."""
    async with running_cluster(
        redis_url, 2, history=cluster_history(), oper_password=OPER_PASSWORD
    ) as cluster:
        a, b = cluster.nodes
        ape = await cluster.client(a, "ape")
        bob = await cluster.client(a, "bob")
        root = await cluster.client(b, "root")
        await root.send(f"/oper {OPER_PASSWORD}", "/join #dev", "/ban bob")
        await root.expect(r"root banned bob from #dev for good$")
        await said_after(root, bob)
        node, other = hub_of(a), hub_of(b)
        node._stop_reading_streams()
        async with heartbeat_stopped(node):
            await wait_until(lambda: nick_key("ape") not in other._remote, timeout=10)
            await root.send("/join #dev", "/ban ape", "/unban bob")
            await root.expect(r"root banned ape from #dev for good$")
            await root.expect(r"root lifted the ban on bob from #dev$")
        await wait_until(lambda: nick_key("ape") in other._remote, timeout=10)
        node._read_streams()
        await wait_until(lambda: not a.bans._writes)
        await ape.send("/join #dev")
        await ape.expect(r"!!! you are banned from #dev for good$")
        await bob.send("/join #dev")
        await bob.expect(r"you are now talking in #dev$")


async def test_bans_outlive_a_redis_that_restarts_empty(own_redis: RedisServer) -> None:
    """Redis restarts empty, its bans hash with it: the nodes write back the bans they
    hold. bob stays banned from #dev on both nodes, and a node started afterwards, which
    loads the bans from Redis, holds the ban too."""
    async with running_cluster(
        own_redis.url, 2, history=cluster_history(), oper_password=OPER_PASSWORD
    ) as cluster:
        a, b = cluster.nodes
        root = await cluster.client(a, "root")
        bob = await cluster.client(b, "bob")
        await root.send(f"/oper {OPER_PASSWORD}", "/join #dev", "/ban bob")
        await root.expect(r"root banned bob from #dev for good$")
        await said_after(root, bob)
        await asyncio.to_thread(own_redis.restart)
        await bob.expect(r"\*\*\* the chat is back", timeout=10)
        await bob.send("/join #dev")
        await bob.expect(r"!!! you are banned from #dev for good$")
        late = await cluster.node()
        await wait_until(lambda: [ban.mask for ban in late.moderation.every_ban()] == ["bob"])


async def test_a_node_started_later_loads_the_bans_kept_on_redis(redis_url: str) -> None:
    """A ban made before a node starts holds on it: the bans are in the shared store."""
    async with running_cluster(
        redis_url, 1, history=cluster_history(), oper_password=OPER_PASSWORD
    ) as cluster:
        root = await cluster.client(cluster.nodes[0], "root")
        await root.send(f"/oper {OPER_PASSWORD}", "/join #dev", "/ban ape")
        await root.expect(r"root banned ape from #dev for good$")
        await settled(root, "#dev")
        late = await cluster.node()
        ape = await cluster.client(late, "ape")
        await ape.send("/join #dev")
        await ape.expect(r"!!! you are banned from #dev for good$")


async def test_a_node_says_it_ignores_db_and_never_creates_the_file(
    redis_url: str, tmp_path: Path
) -> None:
    """``serve --redis-url URL --db FILE`` says at start-up that FILE is not used, and it is
    never created: the cluster's history is on Redis."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith("TCPCHAT_")}
    db = tmp_path / "other.db"
    said: list[str] = []
    process, _ = await start_server(
        "--task", "2", "--redis-url", redis_url, "--db", str(db), env=environ, said=said
    )
    try:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(WAIT):
            _, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert any(
        f"--db {db} is ignored: a cluster keeps its history on Redis" in line for line in said
    )
    assert not db.exists()
