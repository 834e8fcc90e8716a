"""Moderation in a cluster: kicks, bans, mutes and operators act on the member's own node."""

from __future__ import annotations

from tests.support.cluster import running_cluster, settled
from tests.support.helpers import LineClient

OPER_PASSWORD = "correct horse"


async def in_dev(creator: LineClient, **others: LineClient) -> None:
    """``creator`` makes #dev (and is its operator); ``others`` (by nickname) join it, a
    line of each seen by the creator, so that every node knows who is in #dev."""
    await creator.send("/join #dev")
    await creator.expect(r"now talking in #dev$")
    for nick, other in others.items():
        await other.send("/join #dev", f"{nick} is here")
        await creator.expect(rf"<{nick}> {nick} is here$")


async def test_a_kick_on_one_node_puts_out_a_member_of_another(redis_url: str) -> None:
    """Root on node A kicks bob, on node B: everyone sees the kick once, bob is moved to
    #lobby on his node, and both nodes list #dev without him."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        root = await cluster.client(a, "root")
        bob = await cluster.client(b, "bob")
        carol = await cluster.client(b, "carol")
        await in_dev(root, bob=bob, carol=carol)
        await root.send("/kick bob flooding")
        kicked = r"\*\*\* root kicked bob out of #dev \(flooding\)$"
        await root.expect(kicked)
        await carol.expect(kicked)
        await bob.expect(kicked)
        await bob.expect(r"\*\*\* you are now talking in #lobby$")
        await bob.send("still here")  # said after bob left #dev: once root has it, A knows
        await root.expect(r"<bob> still here$")
        await root.send("/users #dev")
        await root.expect(r"2 users in #dev: carol, @root$")
        await carol.send("/users")
        await carol.expect(r"2 users in #dev: carol, @?root$")  # (B: root made #dev on A)


async def test_a_ban_on_one_node_kicks_a_member_of_another_who_cannot_rejoin(
    redis_url: str,
) -> None:
    """Root on node A bans bob, on node B: bob is kicked out of #dev and refused back."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        root = await cluster.client(a, "root")
        bob = await cluster.client(b, "bob")
        await in_dev(root, bob=bob)
        await root.send("/ban bob 2h spamming links")
        await bob.expect(r"root banned bob from #dev for 2h 0m \(spamming links\)$")
        await bob.expect(r"\*\*\* root kicked bob out of #dev \(spamming links\)$")
        await bob.expect(r"\*\*\* you are now talking in #lobby$")
        await bob.send("/join #dev")
        await bob.expect(r"!!! you are banned from #dev for 2h 0m: spamming links$")


async def test_a_mute_on_one_node_silences_a_member_of_another(redis_url: str) -> None:
    """Root on node A mutes bob, on node B: bob's lines in #dev are refused on his node."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        root = await cluster.client(a, "root")
        bob = await cluster.client(b, "bob")
        await in_dev(root, bob=bob)
        await root.send("/mute bob 10m")
        await bob.expect(r"root muted bob in #dev for 10m 0s$")
        await bob.send("can you hear me")
        await bob.expect(r"!!! you are muted in #dev for 10m")


async def test_an_unmute_on_one_node_lets_a_member_of_another_speak(redis_url: str) -> None:
    """After root on node A unmutes bob, bob on node B may speak in #dev again."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        root = await cluster.client(a, "root")
        bob = await cluster.client(b, "bob")
        await in_dev(root, bob=bob)
        await root.send("/mute bob", "/unmute bob")
        await bob.expect(r"root unmuted bob in #dev$")
        await bob.send("thanks")
        await root.expect(r"<bob> thanks$")


async def test_an_operator_made_on_one_node_may_act_on_another(redis_url: str) -> None:
    """Root on node A ops bob, on node B; bob kicks carol, on node A, who is moved out."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        root = await cluster.client(a, "root")
        bob = await cluster.client(b, "bob")
        carol = await cluster.client(a, "carol")
        await in_dev(root, bob=bob, carol=carol)
        await root.send("/op bob")
        await bob.expect(r"root made bob an operator of #dev$")
        await bob.send("/kick carol enough")
        await carol.expect(r"\*\*\* bob kicked carol out of #dev \(enough\)$")
        await carol.expect(r"\*\*\* you are now talking in #lobby$")


async def test_a_kick_of_a_member_of_the_same_node_tells_the_kicked(redis_url: str) -> None:
    """In a cluster, a member kicked by an operator of its own node hears its kick too."""
    async with running_cluster(redis_url, 2) as cluster:
        a, b = cluster.nodes
        root = await cluster.client(a, "root")
        bob = await cluster.client(a, "bob")
        carol = await cluster.client(b, "carol")
        await in_dev(root, bob=bob, carol=carol)
        await root.send("/kick bob")
        await carol.expect(r"\*\*\* root kicked bob out of #dev$")
        await bob.expect(r"\*\*\* root kicked bob out of #dev$")
        await bob.expect(r"\*\*\* you are now talking in #lobby$")
        await settled(bob)
