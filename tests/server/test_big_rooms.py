"""Big rooms over real sockets: past --quiet-joins-above, comings and goings stay quiet."""

from __future__ import annotations

import pytest

from tcpchat.config import ServerSettings
from tests.conftest import ClientFactory
from tests.support.cluster import running_cluster, settled
from tests.support.helpers import LineClient
from tests.support.irc_client import SERVER_NAME, IrcFactory, irc, irc_server

__all__ = ["irc", "irc_server"]  # the fixtures used here

#: Rooms of more than this many members are big in these tests.
THRESHOLD = 2


@pytest.fixture
def settings() -> ServerSettings:
    """A server whose rooms of more than 2 members keep joins, parts and quits quiet."""
    return ServerSettings(host="127.0.0.1", port=0, quiet_joins_above=THRESHOLD)


@pytest.fixture
def irc_settings() -> ServerSettings:
    """The same, with IRC on too."""
    return ServerSettings(
        host="127.0.0.1",
        port=0,
        irc_port=0,
        server_name=SERVER_NAME,
        quiet_joins_above=THRESHOLD,
    )


async def lines_until_users(client: LineClient) -> list[str]:
    """Ask for /users and return every line the server sent before its answer."""
    await client.send("/users")
    lines: list[str] = []
    while (line := await client.read_line()) is not None:
        if " users in " in line or " users online" in line:
            return lines
        lines.append(line)
    raise AssertionError(f"EOF before the /users answer; saw {lines!r}")


async def test_a_join_at_the_threshold_is_announced_as_ever(client: ClientFactory) -> None:
    """The 2nd member of a room, at --quiet-joins-above 2: the other sees it join."""
    alice = await client("alice")
    await client("bob")
    await alice.expect(r"\*\*\* bob joined$")


async def test_a_join_past_the_threshold_is_not_announced(client: ClientFactory) -> None:
    """The 3rd member's arrival reaches nobody: alice's next answer comes with no join before it."""
    alice, _ = await client("alice"), await client("bob")
    await alice.expect(r"\*\*\* bob joined$")
    await client("carol")
    assert not any("carol" in line for line in await lines_until_users(alice))


async def test_the_welcome_of_a_big_room_gives_the_count(client: ClientFactory) -> None:
    """The 3rd member is told how many are here and how to list them, not every name."""
    await client("alice")
    await client("bob")
    carol = await client()
    await carol.send("carol")
    await carol.expect(r"\*\*\* Welcome, carol! 3 users online; /users lists them$")


async def test_a_json_welcome_of_a_big_room_has_members_and_no_names(
    client: ClientFactory,
) -> None:
    """JSON: the welcome's users is empty and its members is the room's count."""
    await client("alice")
    await client("bob")
    carol = await client()
    await carol.send("/format json")
    await carol.expect_json("notice")
    await carol.send("carol")
    welcome = await carol.expect_json("welcome")
    assert (welcome["users"], welcome["members"]) == ([], 3)


async def test_users_in_a_big_room_lists_everyone(client: ClientFactory) -> None:
    """/users in a big room names every member, with the count."""
    await client("alice")
    await client("bob")
    carol = await client("carol", json_mode=True)
    await carol.send("/users")
    users = await carol.expect_json("users")
    assert (users["users"], users["members"]) == (["alice", "bob", "carol"], 3)


async def test_a_part_and_a_quit_in_a_big_room_are_not_announced(client: ClientFactory) -> None:
    """Carol parts and dave quits a room of 4: the parter is told; alice hears neither."""
    alice = await client("alice")
    bob = await client("bob")
    await alice.expect(r"\*\*\* bob joined$")
    carol, dave = await client("carol"), await client("dave")
    await carol.send("/part")
    await carol.expect(r"\*\*\* carol left the room$")
    await dave.send("/quit")
    await dave.expect_eof()
    await bob.send("/msg #lobby marker")  # said after both, so alice reads past them
    lines = await lines_until_users(alice)
    assert any("<bob> marker" in line for line in lines)
    assert not any("carol" in line or "dave" in line for line in lines)


async def test_irc_joins_of_a_big_channel_are_not_sent_to_it(irc: IrcFactory) -> None:
    """IRC: the 3rd JOIN is sent to the joiner alone; NAMES then names it, and NOTICE counts."""
    alice, bob, carol = await irc("alice"), await irc("bob"), await irc("carol")
    for member in (alice, bob):
        await member.send("JOIN #big")
        await member.numeric("366")
    await carol.send("JOIN #big")
    await carol.expect(r"^:carol!carol@tcpchat JOIN #big$")
    assert await carol.numeric("353") == ["carol", "=", "#big", "carol"]
    await carol.numeric("366")
    await carol.expect(r"NOTICE carol :3 users in #big; NAMES #big lists them$")
    assert not any("carol" in line for line in await alice.sync())


async def test_irc_names_of_a_big_channel_lists_everyone(irc: IrcFactory) -> None:
    """IRC: an explicit NAMES of a big channel lists all its members (its creator operates it)."""
    members = [await irc(nick) for nick in ("alice", "bob", "carol")]
    for member in members:
        await member.send("JOIN #big")
        await member.numeric("366")
    await members[2].send("NAMES #big")
    assert await members[2].numeric("353") == ["carol", "=", "#big", "@alice bob carol"]


async def test_irc_part_of_a_big_channel_reaches_the_parter_alone(irc: IrcFactory) -> None:
    """IRC: PART in a big channel is echoed to the parter (clients need it), not to others."""
    members = [await irc(nick) for nick in ("alice", "bob", "carol")]
    for member in members:
        await member.send("JOIN #big")
        await member.numeric("366")
    await members[2].send("PART #big :bye")
    await members[2].expect(r"^:carol!carol@tcpchat PART #big :?bye$")
    assert not any("PART" in line for line in await members[0].sync())


async def test_a_cluster_keeps_a_big_rooms_joins_and_quits_quiet(redis_url: str) -> None:
    """Two nodes, a room of 3 across them: carol's join and quit reach nobody on either node,
    and her welcome counts the whole cluster's room."""
    async with running_cluster(redis_url, 2, quiet_joins_above=THRESHOLD) as cluster:
        a, b = cluster.nodes
        alice = await cluster.client(a, "alice")
        bob = await cluster.client(b, "bob")
        await alice.expect(r"\*\*\* bob joined$")
        carol = await cluster.client(b)
        await carol.send("carol")
        await carol.expect(r"\*\*\* Welcome, carol! 3 users online; /users lists them$")
        await settled(carol)
        await carol.send("/quit")
        await carol.expect_eof()
        await bob.send("marker")
        await alice.expect(r"<bob> marker$")
        await bob.send("/users")
        await bob.expect(r"\*\*\* 2 users online: alice, bob$")
        assert [line for line in alice.seen + bob.seen if "carol" in line] == []
