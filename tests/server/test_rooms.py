"""Rooms over real sockets: joining, parting, topics, presence, and who is told what."""

from __future__ import annotations

import re

import pytest

from tcpchat.server.chat import ChatServer
from tests.conftest import ClientFactory
from tests.support.helpers import LineClient

TIME = r"\[\d\d:\d\d:\d\d\]"


async def sync(client: LineClient) -> None:
    """Wait until the server has handled everything ``client`` sent so far."""
    await client.send("/rooms")
    await client.expect(r"\*\*\* \d+ rooms?:$")


async def lines_until_marker(client: LineClient, marker: str) -> list[str]:
    """Read ``client``'s lines up to one containing ``marker``; return those before it."""
    lines: list[str] = []
    while True:
        line = await client.read_line()
        assert line is not None, f"EOF before {marker!r}"
        if marker in line:
            return lines
        lines.append(line)


async def test_join_tells_the_joiner_then_lists_the_room_then_makes_it_current(
    client: ClientFactory,
) -> None:
    """/join answers with the join (room named: now in two rooms), the users, the current room."""
    alice = await client("alice")
    await alice.send("/join #dev")
    assert await alice.read_line() is not None
    assert alice.seen[-1].endswith("#dev *** alice joined")
    await alice.expect(rf"^{TIME} \*\*\* 1 user in #dev: @alice$")
    await alice.expect(rf"^{TIME} \*\*\* you are now talking in #dev$")


async def test_json_room_events_carry_the_room(client: ClientFactory) -> None:
    """JSON clients get the room in the welcome, users, join, message and current events."""
    alice = await client("alice", json_mode=True)
    assert alice.seen
    await alice.send("/users")
    users = await alice.expect_json("users")
    assert (users["room"], users["users"], users["away"]) == ("#lobby", ["alice"], [])
    bob = await client("bob", json_mode=True)
    await bob.send("/join #dev")
    assert (await bob.expect_json("join"))["room"] == "#dev"
    assert (await bob.expect_json("users"))["room"] == "#dev"
    assert (await bob.expect_json("current"))["room"] == "#dev"
    await alice.send("/join #dev", "hi")
    message = await bob.expect_json("message")
    assert (message["room"], message["text"]) == ("#dev", "hi")


async def test_the_welcome_names_the_default_room(client: ClientFactory) -> None:
    """The JSON welcome says which room the connection is in."""
    alice = await client()
    await alice.send("/format json")
    await alice.expect_json("notice")
    await alice.send("alice")
    assert (await alice.expect_json("welcome"))["room"] == "#lobby"


async def test_nothing_said_in_a_room_reaches_a_member_of_another(client: ClientFactory) -> None:
    """Lines, actions, joins, topics and parts in #dev never reach a member only in #lobby."""
    carol = await client("carol")
    alice, bob = await client("alice"), await client("bob")
    await alice.send("/join #dev")
    await bob.send("/join #dev")
    await alice.expect(r"#dev \*\*\* bob joined")
    await alice.send("secret line", "/me secret action", "/topic secret topic", "/part #dev bye")
    await bob.expect("alice left the room")
    await bob.send("/msg #lobby marker")
    lines = await lines_until_marker(carol, "marker")
    assert not [line for line in lines if "secret" in line or "#dev" in line]


async def test_a_plain_line_goes_to_the_current_room_only(client: ClientFactory) -> None:
    """After /join #dev, a plain line goes to #dev, named there for readers in several rooms."""
    alice, bob = await client("alice"), await client("bob")
    await bob.send("/join #dev")
    await bob.expect("you are now talking in #dev")
    await alice.send("/join #dev", "hello dev")
    await bob.expect(rf"^{TIME} #dev <alice> hello dev$")


async def test_msg_to_a_room_says_it_there_without_changing_the_current_room(
    client: ClientFactory,
) -> None:
    """/msg #lobby TEXT talks in #lobby while #dev stays current."""
    alice, bob = await client("alice"), await client("bob")
    await alice.send("/join #dev", "/msg #lobby to the lobby", "to dev")
    await bob.expect(rf"^{TIME} <alice> to the lobby$")
    await bob.send("/join #dev")
    await alice.expect(r"#dev \*\*\* bob joined")
    await alice.send("still dev")
    await bob.expect(rf"^{TIME} #dev <alice> still dev$")


async def test_msg_to_a_room_one_is_not_in_is_refused(client: ClientFactory) -> None:
    """/msg #room for a room one is not in gets not_in_room."""
    alice = await client("alice", json_mode=True)
    await alice.send("/msg #elsewhere hello")
    error = await alice.expect_json("error")
    assert error["code"] == "not_in_room"


async def test_joining_a_room_one_is_in_only_makes_it_current(client: ClientFactory) -> None:
    """A second /join of a room tells no one else; it only switches the current room."""
    alice, bob = await client("alice"), await client("bob")
    await alice.send("/join #dev")
    await bob.send("/join #dev")
    await alice.expect(r"#dev \*\*\* bob joined")
    await bob.send("/join #lobby", "/join #dev", "/msg #lobby marker")
    await bob.expect("you are now talking in #dev")
    lines = await lines_until_marker(alice, "marker")
    assert not [line for line in lines if "joined" in line]


async def test_part_falls_back_to_the_most_recent_room_then_to_none(
    client: ClientFactory,
) -> None:
    """Parting the current room makes the latest other one current; with none, lines fail."""
    alice = await client("alice", json_mode=True)
    await alice.send("/join #a", "/join #b", "/join #a", "/part")
    part = await alice.expect_json("part")
    assert (part["room"], part["nick"], part["reason"]) == ("#a", "alice", "")
    assert (await alice.expect_json("current"))["room"] == "#b"
    await alice.send("/part #lobby", "/part done here")
    assert (await alice.expect_json("part"))["room"] == "#lobby"
    part = await alice.expect_json("part")
    assert (part["room"], part["reason"]) == ("#b", "done here")
    assert (await alice.expect_json("current"))["room"] is None
    await alice.send("hello?")
    error = await alice.expect_json("error")
    assert error["code"] == "no_room"
    assert error["text"] == "you are in no room; /join #room"


async def test_part_of_a_room_one_is_not_in_is_refused(client: ClientFactory) -> None:
    """/part #room for a room one is not in gets not_in_room."""
    alice = await client("alice", json_mode=True)
    await alice.send("/part #nowhere")
    assert (await alice.expect_json("error"))["code"] == "not_in_room"


async def test_a_part_is_worded_apart_from_a_quit(client: ClientFactory) -> None:
    """Others read `left the room (reason)` for a part, `left (quit)` for a quit."""
    alice, bob = await client("alice"), await client("bob")
    await alice.send("/part #lobby gone fishing")
    await bob.expect(rf"^{TIME} \*\*\* alice left the room \(gone fishing\)$")


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("#", "1 to 32 characters after '#'"),
        ("#a b", "only letters, digits, '_' and '-' \\(not whitespace\\)"),
        ("#" + "a" * 33, "at most 32 characters after '#'"),
        ("#b\u043eb", "may not mix scripts \\(Cyrillic and Latin\\)"),
        ("dev", "starts with '#'"),
    ],
)
async def test_a_bad_room_name_is_refused_with_the_rule(
    client: ClientFactory, name: str, rule: str
) -> None:
    """/join with a bad name gets room_invalid and a sentence naming the broken rule."""
    alice = await client("alice", json_mode=True)
    await alice.send(f"/join {name}")
    error = await alice.expect_json("error")
    assert error["code"] == "room_invalid"
    assert re.search(rule, error["text"])


async def test_room_names_compare_as_nicknames(client: ClientFactory) -> None:
    """#DEV and the full-width #ｄｅｖ are the #dev first written."""
    alice, bob = await client("alice"), await client("bob", json_mode=True)
    await alice.send("/join #Dev")
    await alice.expect("you are now talking in #Dev")
    await bob.send("/join #ｄｅｖ")
    users = await bob.expect_json("users")
    assert (users["room"], users["users"]) == ("#Dev", ["alice", "bob"])


async def test_rooms_lists_names_counts_and_topics(client: ClientFactory) -> None:
    """/rooms lists every room with its member count and topic."""
    alice, bob = await client("alice"), await client("bob")
    await alice.send("/join #dev", "/topic shipping v2")
    await bob.send("/rooms")
    await bob.expect(rf"^{TIME} \*\*\* 2 rooms:$")
    await bob.expect(rf"^{TIME} \*\*\*   #dev \(1 user\): shipping v2$")
    await bob.expect(rf"^{TIME} \*\*\*   #lobby \(2 users\)$")


async def test_an_empty_room_disappears(client: ClientFactory) -> None:
    """When its last member parts, a room is gone from /rooms (the default room stays)."""
    alice = await client("alice")
    await alice.send("/join #dev", "/part #dev", "/part #lobby", "/rooms")
    await alice.expect(rf"^{TIME} \*\*\* 1 room:$")
    await alice.expect(rf"^{TIME} \*\*\*   #lobby \(0 users\)$")


async def test_topic_is_set_shown_and_cleared_and_the_room_told_who(
    client: ClientFactory,
) -> None:
    """/topic TEXT tells the room who set it; /topic shows it; /topic - clears it."""
    alice, bob = await client("alice"), await client("bob")
    await alice.send("/topic release day")
    await bob.expect(rf"^{TIME} \*\*\* alice set the topic: release day$")
    await bob.send("/topic")
    await bob.expect(rf"^{TIME} \*\*\* topic of #lobby: release day \(set by alice\)$")
    await bob.send("/topic -")
    await alice.expect(rf"^{TIME} \*\*\* bob cleared the topic$")
    await alice.send("/topic")
    await alice.expect(rf"^{TIME} \*\*\* #lobby has no topic$")


async def test_joining_a_room_with_a_topic_shows_it(client: ClientFactory) -> None:
    """A joiner is told the room's topic before its users."""
    alice, bob = await client("alice"), await client("bob", json_mode=True)
    await alice.send("/join #dev", "/topic ship it")
    await alice.expect("alice set the topic")
    await bob.send("/join #dev")
    topic = await bob.expect_json("topic")
    assert (topic["room"], topic["nick"], topic["text"], topic["changed"]) == (
        "#dev",
        "alice",
        "ship it",
        False,
    )
    await bob.expect_json("users")


async def test_users_of_the_lobby_alone_keep_todays_words_with_away_marks(
    client: ClientFactory,
) -> None:
    """In #lobby alone, /users says "users online", marking who is away."""
    alice, bob = await client("alice"), await client("bob")
    await bob.send("/away lunch")
    await bob.expect("you are marked as away: lunch")
    await alice.send("/users")
    await alice.expect(rf"^{TIME} \*\*\* 2 users online: alice, bob \(away\)$")


async def test_users_of_a_named_room(client: ClientFactory) -> None:
    """/users #dev lists #dev's members, named by room."""
    alice, bob = await client("alice"), await client("bob")
    await alice.send("/join #dev")
    await bob.send("/users #dev")
    await bob.expect(rf"^{TIME} \*\*\* 1 user in #dev: @alice$")


async def test_whois_tells_rooms_times_and_away(client: ClientFactory) -> None:
    """/whois NICK gives their rooms, seconds connected and idle, and the away message."""
    alice, bob = await client("alice", json_mode=True), await client("bob")
    await bob.send("/join #dev", "/away in a meeting")
    await bob.expect("marked as away")
    await alice.send("/whois BOB")
    whois = await alice.expect_json("whois")
    assert (whois["nick"], whois["rooms"], whois["away"]) == (
        "bob",
        ["#lobby", "#dev"],
        "in a meeting",
    )
    assert whois["connected"] >= whois["idle"] >= 0


async def test_a_msg_to_someone_away_is_answered_with_their_message(
    client: ClientFactory,
) -> None:
    """/msg to an away user brings the sender an automatic `bob is away: ...`."""
    alice, bob = await client("alice"), await client("bob")
    await bob.send("/away lunch")
    await bob.expect("marked as away")
    await alice.send("/msg bob are you there?")
    await alice.expect(rf"^{TIME} \*\*\* bob is away: lunch$")
    await bob.send("/away")
    await bob.expect("no longer marked as away")
    await alice.send("/msg bob back?", "/msg alice marker")
    lines = await lines_until_marker(alice, "alice -> alice: marker")
    assert not [line for line in lines if "is away" in line]


async def test_a_nick_change_reaches_a_member_sharing_two_rooms_once(
    client: ClientFactory,
) -> None:
    """Sharing #lobby and #dev, bob sees alice's nick change once."""
    alice, bob = await client("alice"), await client("bob")
    await alice.send("/join #dev")
    await bob.send("/join #dev")
    await alice.expect(r"#dev \*\*\* bob joined")
    await alice.send("/nick alicia", "/msg bob marker")
    lines = await lines_until_marker(bob, "marker")
    assert len([line for line in lines if "alice is now known as alicia" in line]) == 1


async def test_a_quit_reaches_a_member_sharing_two_rooms_once(client: ClientFactory) -> None:
    """Sharing #lobby and #dev, bob is told once that alice left the server."""
    alice, bob, carol = await client("alice"), await client("bob"), await client("carol")
    await alice.send("/join #dev")
    await bob.send("/join #dev")
    await alice.expect(r"#dev \*\*\* bob joined")
    await alice.send("/quit")
    await alice.expect_eof()
    await carol.send("/msg #lobby marker")
    lines = await lines_until_marker(bob, "marker")
    assert len([line for line in lines if "alice left (quit)" in line]) == 1


async def test_a_nick_change_does_not_reach_those_sharing_no_room(client: ClientFactory) -> None:
    """Someone who shares no room with alice is not told of her nick change."""
    alice, bob = await client("alice"), await client("bob")
    await alice.send("/join #dev", "/part #lobby", "/nick alicia")
    await alice.expect("alice is now known as alicia")
    await alice.send("/msg bob marker")
    lines = await lines_until_marker(bob, "marker")
    assert not [line for line in lines if "alicia" in line and "marker" not in line]


async def test_a_line_names_its_room_only_while_in_several(client: ClientFactory) -> None:
    """After parting back to one room, lines lose their room prefix again."""
    alice, bob = await client("alice"), await client("bob")
    await bob.send("/join #dev")
    await bob.expect("talking in #dev")
    await alice.send("in the lobby")
    await bob.expect(rf"^{TIME} #lobby <alice> in the lobby$")
    await bob.send("/part #dev")
    await bob.expect("you are now talking in #lobby")
    await alice.send("again")
    await bob.expect(rf"^{TIME} <alice> again$")


async def test_the_room_count_in_the_server(server: ChatServer, client: ClientFactory) -> None:
    """The hub keeps the rooms: the default room from the start, #dev while used."""
    alice = await client("alice")
    await alice.send("/join #dev")
    await sync(alice)
    assert [room.name for room in server.hub.rooms()] == ["#dev", "#lobby"]
