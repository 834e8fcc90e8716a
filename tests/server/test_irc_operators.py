"""IRC's operator commands: OPER, KICK and MODE +o/+b/+q, onto tcpchat's moderation."""

from __future__ import annotations

import pytest

from tcpchat.config import ServerSettings
from tests.support.irc_client import (
    SERVER_NAME,
    IrcClient,
    IrcFactory,
    irc,
    irc_server,
    native,
)

__all__ = ["irc", "irc_server", "native"]  # the fixtures used here

OPER_PASSWORD = "correct horse"


@pytest.fixture
def irc_settings() -> ServerSettings:
    """IRC on, with an operator password."""
    return ServerSettings(
        host="127.0.0.1", port=0, irc_port=0, server_name=SERVER_NAME, oper_password=OPER_PASSWORD
    )


async def _room_of_two(irc: IrcFactory) -> tuple[IrcClient, IrcClient]:
    """alice makes #dev (and so is its operator); bob joins it; both have seen it all."""
    alice, bob = await irc("alice"), await irc("bob")
    await alice.send("JOIN #dev")
    await alice.numeric("366")
    await bob.send("JOIN #dev")
    await bob.numeric("366")
    await alice.expect(r":bob!\S+ JOIN #dev$")
    return alice, bob


async def test_oper_with_any_name_and_the_password_is_381(irc: IrcFactory) -> None:
    """OPER takes any name with the one operator password: 381, then WHOIS says 313."""
    alice = await irc("alice")
    await alice.send(f"OPER whoever :{OPER_PASSWORD}")
    await alice.numeric("381")
    await alice.send("WHOIS alice")
    assert (await alice.numeric("313"))[1] == "alice"


async def test_oper_with_a_wrong_password_is_464(irc: IrcFactory) -> None:
    """A wrong operator password is 464, with the tries left."""
    alice = await irc("alice")
    await alice.send("OPER alice wrong")
    assert "2 tries left" in (await alice.numeric("464"))[-1]


async def test_the_creator_of_a_room_is_at_in_names_and_who(irc: IrcFactory) -> None:
    """Whoever made a room is its operator: @alice in 353, H@ in WHO #room."""
    _, bob = await _room_of_two(irc)
    await bob.send("NAMES #dev")
    assert (await bob.numeric("353"))[-1] == "@alice bob"
    await bob.send("WHO #dev")
    flags = {}
    for _ in range(2):
        reply = await bob.numeric("352")
        flags[reply[5]] = reply[6]
    assert flags == {"alice": "H@", "bob": "H"}


async def test_mode_plus_o_makes_an_operator_and_everyone_sees_it(irc: IrcFactory) -> None:
    """MODE #dev +o bob from the operator reaches the room as MODE, and bob may then kick."""
    alice, bob = await _room_of_two(irc)
    await alice.send("MODE #dev +o bob")
    await bob.expect(r"^:alice!\S+ MODE #dev \+o bob$")
    await bob.send("NAMES #dev")
    assert (await bob.numeric("353"))[-1] == "@alice @bob"


async def test_a_member_who_is_not_an_operator_gets_482(irc: IrcFactory) -> None:
    """MODE +o, +b, +q and KICK from a plain member are 482, and change nothing."""
    _, bob = await _room_of_two(irc)
    for line in ("MODE #dev +o bob", "MODE #dev +b alice", "MODE #dev +q alice", "KICK #dev alice"):
        await bob.send(line)
        assert (await bob.numeric("482"))[1] == "#dev"
    await bob.send("NAMES #dev")
    assert (await bob.numeric("353"))[-1] == "@alice bob"


async def test_kick_puts_a_member_out_with_the_reason(irc: IrcFactory) -> None:
    """KICK #dev bob :reason: bob and the room read KICK with the reason; bob is out."""
    alice, bob = await _room_of_two(irc)
    await alice.send("KICK #dev bob :enough")
    await bob.expect(r"^:alice!\S+ KICK #dev bob :?enough$")
    await alice.expect(r"^:alice!\S+ KICK #dev bob :?enough$")
    await alice.send("NAMES #dev")
    assert (await alice.numeric("353"))[-1] == "@alice"


async def test_kick_of_someone_not_in_the_room_is_441(irc: IrcFactory) -> None:
    """KICK of a nickname not in the room is 441."""
    alice, _ = await _room_of_two(irc)
    await alice.send("KICK #dev ghost")
    assert (await alice.numeric("441"))[1:3] == ["ghost", "#dev"]


async def test_mode_plus_b_bans_a_nickname_from_the_room(irc: IrcFactory) -> None:
    """MODE #dev +b bob!*@* puts bob out, lists the ban in 367, and his JOIN is 474."""
    alice, bob = await _room_of_two(irc)
    await alice.send("MODE #dev +b bob!*@*")
    await bob.expect(r"^:alice!\S+ MODE #dev \+b bob!\*@\*$")
    await bob.expect(r"^:alice!\S+ KICK #dev bob")
    await alice.send("MODE #dev b")
    ban = await alice.numeric("367")
    assert ban[1:4] == ["#dev", "bob!*@*", "alice"]
    await bob.send("JOIN #dev")
    await bob.numeric("474")
    await alice.send("MODE #dev -b bob")
    await alice.expect(r"MODE #dev -b bob!\*@\*$")
    await bob.send("JOIN #dev")
    await bob.numeric("366")


async def test_mode_plus_q_mutes_a_member(irc: IrcFactory) -> None:
    """MODE #dev +q bob: bob's PRIVMSG is 404 until -q, and the room never hears it."""
    alice, bob = await _room_of_two(irc)
    await alice.send("MODE #dev +q bob")
    await bob.expect(r"MODE #dev \+q bob$")
    await bob.send("PRIVMSG #dev :hush")
    assert "muted" in (await bob.numeric("404"))[-1]
    await alice.send("MODE #dev -q bob")
    await bob.expect(r"MODE #dev -q bob$")
    await bob.send("PRIVMSG #dev :heard")
    await alice.expect(r"PRIVMSG #dev :heard$")
    assert not any("hush" in line for line in alice.seen)


async def test_a_mode_tcpchat_has_no_meaning_for_is_472(irc: IrcFactory) -> None:
    """MODE #dev +m (no room-wide moderated mode: slow mode is /slow) is 472, from anyone."""
    alice, _ = await _room_of_two(irc)
    await alice.send("MODE #dev +m")
    assert (await alice.numeric("472"))[1] == "m"
