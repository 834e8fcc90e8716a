"""IRC members of a cluster: the IRC port of each node opens onto the cluster's rooms."""

from __future__ import annotations

from tests.support.cluster import Cluster, running_cluster, settled
from tests.support.irc_client import IrcClient


async def irc_member(cluster: Cluster, node: int, nick: str) -> IrcClient:
    """An IRC client of the cluster's ``node``, registered and in #lobby."""
    port = cluster.nodes[node].irc_port
    assert port is not None
    client = await IrcClient.connect(port)
    cluster.clients.append(client)
    await client.register(nick)
    await client.send("JOIN #lobby")
    await client.expect(rf"^:{nick}!{nick}@tcpchat JOIN #lobby$")
    return client


async def test_irc_members_on_two_nodes_talk_and_see_each_other(redis_url: str) -> None:
    """ann on node A and ben on node B, both on IRC: each one's JOIN, PRIVMSG and NICK
    reach the other, and a native member of node B reads ann's line."""
    async with running_cluster(redis_url, 0) as cluster:
        await cluster.node(irc=True)
        await cluster.node(irc=True)
        carol = await cluster.client(cluster.nodes[1], "carol")
        ann = await irc_member(cluster, 0, "ann")
        ben = await irc_member(cluster, 1, "ben")
        await ann.expect(r"^:ben!ben@tcpchat JOIN #lobby$")
        await ann.send("PRIVMSG #lobby :hello from A", "NICK anna")
        await ben.expect(r"^:ann!ann@tcpchat PRIVMSG #lobby :hello from A$")
        await ben.expect(r"^:ann!ann@tcpchat NICK :?anna$")
        await carol.expect(r"<ann> hello from A")
        await ben.send("PRIVMSG anna :psst")
        await ann.expect(r"^:ben!ben@tcpchat PRIVMSG anna :psst$")


async def test_a_channel_notice_crosses_nodes_as_a_notice(redis_url: str) -> None:
    """An IRC NOTICE to #lobby on node A: IRC members on node B get a NOTICE, native ones
    a line; ann's node goes on (its sender did not stop on it), and so does the room."""
    async with running_cluster(redis_url, 0) as cluster:
        await cluster.node(irc=True)
        await cluster.node(irc=True)
        carol = await cluster.client(cluster.nodes[1], "carol")
        ann = await irc_member(cluster, 0, "ann")
        ben = await irc_member(cluster, 1, "ben")
        await ann.expect(r"^:ben!ben@tcpchat JOIN #lobby$")
        await ann.send("NOTICE #lobby :build is green", "PRIVMSG #lobby :and after it")
        await ben.expect(r"^:ann!ann@tcpchat NOTICE #lobby :build is green$")
        await ben.expect(r"^:ann!ann@tcpchat PRIVMSG #lobby :and after it$")
        await carol.expect(r"<ann> build is green")
        await carol.expect(r"<ann> and after it")
        await settled(carol)
        assert not any("paused" in line for line in carol.seen)
