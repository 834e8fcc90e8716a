"""Members of a cluster who type faster than Redis answers: seeded bursts of commands,
each sent in one write, on two nodes. Nothing may fail inside a node (the suite fails a
test that logs an error), and afterwards both nodes see the same room."""

from __future__ import annotations

import random
import re

import pytest

from tests.support.cluster import running_cluster, settled
from tests.support.helpers import LineClient
from tests.support.redis import RedisServer

OPER_PASSWORD = "pw"
#: What a member may send in a burst: {me} is its own first nick, {other} another's.
COMMANDS = (
    "/join #a", "/join #b", "/join #c", "/join #lobby", "/part #a", "/part #b", "/part",
    "/nick {me}", "/nick {me}x", "/nick {other}", "hello", "/me waves", "/topic t {me}",
    "/away brb", "/away", "/users", "/rooms", "/whois {other}", "/msg {other} hi",
    "/seen {other}", "/history", f"/oper {OPER_PASSWORD}", "/kick {other}",
    "/mute {other} 1m", "/unmute {other}", "/op {other}", "/deop {other}",
    "/ban {other} 1m", "/unban {other}", "/slow 1", "/slow off",
)  # fmt: skip
MEMBERS = 4
BURSTS = 6


async def users_in(member: LineClient, room: str) -> list[str]:
    await member.send(f"/users {room}")
    found = await member.expect(rf"\d+ users? in {room}: (.*)$")
    # (Without "(away)": an away message reaches the other node on the presence feed,
    # which this test does not wait for.)
    return sorted(entry.split(" ")[0] for entry in found.group(1).split(", "))


@pytest.mark.parametrize("seed", range(8))
async def test_bursts_of_commands_break_no_node_and_both_agree_after(
    own_redis: RedisServer, seed: int
) -> None:
    rng = random.Random(seed)
    async with running_cluster(
        own_redis.url, 2, oper_password=OPER_PASSWORD, flood_control=False
    ) as cluster:
        members = [await cluster.client(cluster.nodes[i % 2], f"u{i}") for i in range(MEMBERS)]
        for _ in range(BURSTS):
            for i, member in enumerate(members):
                me, other = f"u{i}", f"u{(i + 1) % MEMBERS}"
                burst = [
                    rng.choice(COMMANDS).format(me=me, other=other)
                    for _ in range(rng.randint(1, 6))
                ]
                await member.send(*burst)
        for member in members:
            await settled(member, "#end")
        # A node shows another node's member in a room once it has read its join there:
        # once every member has heard every other's last line, both nodes have.
        for i, member in enumerate(members):
            await member.send(f"done {i}")
        for member in members:
            waited = {f"done {i}" for i in range(MEMBERS) if members[i] is not member}
            while waited:
                waited.discard((await member.expect(r"> (done \d)$")).group(1))
        views = [await users_in(member, "#end") for member in members[:2]]
    assert views[0] == views[1]
    assert len(views[0]) == MEMBERS
    assert all(re.fullmatch(r"@?u\d+x?", nick) for nick in views[0])
