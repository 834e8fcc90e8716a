"""A cluster on a Redis user that an ACL limits to what a node needs (docs/scaling.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.server.test_cluster_history import OPER_PASSWORD, cluster_history, written
from tests.support.cluster import heartbeat_stopped, hub_of, running_cluster, settled
from tests.support.faults import wait_until
from tests.support.redis import RedisServer

#: The rules docs/scaling.md gives for the nodes' Redis user: the keys under the default
#: prefix, no channels, and the commands a node sends (or its scripts call).
NODE_RULES = (
    "~tcpchat:* resetchannels -@all +ping +hello +select +info +client|setname "
    "+client|info +client|kill +eval +evalsha +script|load +get +set +del +exists "
    "+incrby +decrby +expire +hget +hset +hdel +hgetall +sadd +srem +smembers "
    "+sismember +sscan +xadd +xread +xrange +xrevrange +xtrim"
)

DOCS = Path(__file__).parents[2] / "docs" / "scaling.md"


def test_the_docs_give_the_rules_the_tests_run_with() -> None:
    assert f"ACL SETUSER tcpchat on >PASSWORD {NODE_RULES}" in " ".join(DOCS.read_text().split())


@pytest.mark.parametrize("where", ["/0", "/1?protocol=3"], ids=["RESP2", "RESP3 db 1"])
async def test_a_cluster_on_a_user_with_the_documented_rules_is_refused_nothing(
    own_redis: RedisServer, where: str
) -> None:
    """Two nodes on that user, history on Redis: chat across the nodes, /msg, a new room,
    a nick change, a replay, /find, /history, /seen, a ban, an outage with a line in
    doubt, and a node counted dead. Redis's ACL LOG stays empty: no command a node sent
    was refused."""
    own_redis.command("ACL", "SETUSER", "tcpchat", "on", ">secret", *NODE_RULES.split())
    url = f"redis://tcpchat:secret@127.0.0.1:{own_redis.port}{where}"
    admin = aioredis.Redis.from_url(own_redis.url, decode_responses=True)
    try:
        async with running_cluster(
            url, 2, history=cluster_history(history_on_join=5), oper_password=OPER_PASSWORD
        ) as cluster:
            a, b = cluster.nodes
            alice, bob = await cluster.alice_and_bob()
            await alice.send("hello from a", "/msg bob psst", "/join #dev", "/nick alicia")
            await alice.send("/join #dev", "hello in dev")
            await bob.expect(r"<alice> hello from a")
            await bob.expect(r"psst")
            await bob.expect(r"alice is now known as alicia")
            await settled(alice, "#dev")
            # Her line waits while her node loads #dev's moderation, and her replies do not
            # wait for it: bob joins once it is in the room's stream (nothing held or on
            # its way).
            node_a, modes_a = hub_of(a), hub_of(a).modes
            assert modes_a is not None
            await wait_until(lambda: not modes_a.hold and not node_a._in_flight)
            await written(a)
            await bob.send("/join #dev")
            await bob.expect(r"end of history")
            await bob.send("/find hello", "/history", "/seen alicia")
            await bob.expect(r"matches hello")
            # (Either: a sighting reaches Redis with the store's next flush. Here what
            # matters is that reading one is allowed.)
            await bob.expect(r"alicia (was last seen|has not been seen)")
            root = await cluster.client(b, "root")
            await root.send(f"/oper {OPER_PASSWORD}", "/join #dev", "/ban ape 2h spam")
            await root.expect(r"root banned ape from #dev")
            # Redis holds alice's line, then drops every connection: back, her node looks
            # for the line in the room's stream.
            await admin.client_pause(10_000, all=False)
            try:
                await alice.send("into the void")
                await wait_until(lambda: len(hub_of(a)._unanswered) == 1)
                await admin.client_kill_filter(_type="normal", skipme=True)
            finally:
                await admin.client_unpause()
            await alice.expect(r"did not reach the chat", timeout=10)
            await alice.expect(r"\*\*\* the chat is back", timeout=10)
            await alice.send("/join #lobby", "after the outage")
            await bob.expect(r"<alicia> after the outage", timeout=10)
            async with heartbeat_stopped(hub_of(a)):
                await bob.expect(r"alicia left", timeout=10)
            assert hub_of(a)._appender_known is not None  # CLIENT INFO answered
        refused = [(entry["reason"], entry["object"]) for entry in await admin.acl_log()]
        assert refused == []
    finally:
        await admin.aclose()
