"""The room limits over real sockets: rooms per server, per member, and topic length."""

from __future__ import annotations

import pytest

from tcpchat.config import ServerSettings
from tests.conftest import ClientFactory


@pytest.fixture
def settings() -> ServerSettings:
    """A server of two rooms, two rooms per member, and ten-character topics."""
    return ServerSettings(
        host="127.0.0.1", port=0, max_rooms=2, max_rooms_per_member=2, max_topic_chars=10
    )


async def test_a_member_in_the_most_rooms_is_told_to_part_one(client: ClientFactory) -> None:
    """The member's last room refused: room_limit, and what to do."""
    alice = await client("alice", json_mode=True)
    await alice.send("/join #a", "/join #b")
    error = await alice.expect_json("error")
    assert error["code"] == "room_limit"
    assert error["text"] == "you are in 2 rooms, the most one may be in; /part one first"


async def test_a_server_with_all_its_rooms_refuses_a_new_one(client: ClientFactory) -> None:
    """The server's last room refused: room_limit, and joining an existing one still works."""
    alice, bob = await client("alice"), await client("bob", json_mode=True)
    await alice.send("/join #a")
    await alice.expect("talking in #a")
    await bob.send("/part #lobby", "/join #b")
    error = await bob.expect_json("error")
    assert error["code"] == "room_limit"
    assert error["text"] == "the server has its 2 rooms; join an existing one"
    await bob.send("/join #a")
    assert (await bob.expect_json("current"))["room"] == "#a"


async def test_a_topic_past_the_limit_is_refused(client: ClientFactory) -> None:
    """A topic longer than --max-topic-chars gets topic_too_long; one at the limit is set."""
    alice = await client("alice", json_mode=True)
    await alice.send("/topic " + "x" * 11)
    error = await alice.expect_json("error")
    assert (error["code"], error["text"]) == (
        "topic_too_long",
        "a topic is at most 10 characters long",
    )
    await alice.send("/topic " + "x" * 10)
    assert (await alice.expect_json("topic"))["text"] == "x" * 10


@pytest.mark.parametrize(
    ("overrides", "flag"),
    [
        ({"max_rooms": 0}, "--max-rooms"),
        ({"max_rooms_per_member": 0}, "--max-rooms-per-member"),
        ({"max_topic_chars": 0}, "--max-topic-chars"),
        ({"default_room": "lobby"}, "--default-room"),
        ({"default_room": "#a b"}, "--default-room"),
    ],
)
def test_room_settings_are_checked_at_start_up(overrides: dict[str, object], flag: str) -> None:
    """A room limit or default room that could never work is refused, naming the flag."""
    with pytest.raises(ValueError, match=flag):
        ServerSettings(**overrides)  # type: ignore[arg-type]
