"""Moderation holds for IRC users too: a room ban refuses JOIN, a mute refuses PRIVMSG."""

from __future__ import annotations

import pytest

from tcpchat.config import ServerSettings
from tests.support.irc_client import (
    SERVER_NAME,
    IrcFactory,
    NativeFactory,
    irc,
    irc_server,
    native,
)

__all__ = ["irc", "irc_server", "native"]  # the fixtures used here

OPER_PASSWORD = "correct horse"


@pytest.fixture
def irc_settings() -> ServerSettings:
    """IRC on, and an operator password for the native operator."""
    return ServerSettings(
        host="127.0.0.1",
        port=0,
        irc_port=0,
        server_name=SERVER_NAME,
        oper_password=OPER_PASSWORD,
    )


async def test_a_nickname_banned_from_a_room_cannot_join_it_over_irc(
    irc: IrcFactory, native: NativeFactory
) -> None:
    """JOIN of a room whose operator banned the nickname is answered 474, and nobody sees it."""
    alice = await native("alice")
    await alice.send("/join #dev")
    await alice.expect("you are now talking in #dev")
    await alice.send("/ban bob 1h spam")
    await alice.expect("alice banned bob from #dev")
    bob = await irc("bob")
    await bob.send("JOIN #dev")
    assert (await bob.numeric("474"))[1] == "#dev"
    await alice.send("/users #dev")
    await alice.expect(r"1 user in #dev: @alice$")


async def test_a_muted_irc_user_is_told_and_its_line_goes_nowhere(
    irc: IrcFactory, native: NativeFactory
) -> None:
    """A PRIVMSG from a muted IRC member gets 404 with the reason; the room never hears it."""
    alice = await native("alice")
    await alice.send(f"/oper {OPER_PASSWORD}")
    await alice.expect("you are now a server operator")
    bob = await irc("bob")
    await bob.send("JOIN #lobby")
    await alice.expect(r"\*\*\* bob joined")
    await alice.send("/mute bob 10m")
    await alice.expect("alice muted bob in #lobby")
    await bob.send("PRIVMSG #lobby :can anyone hear me")
    reply = await bob.numeric("404")
    assert reply[1] == "#lobby"
    assert "muted" in reply[-1]
    await bob.send("PRIVMSG #lobby :a line after the refusal")
    await bob.numeric("404")
    await alice.send("/unmute bob")
    await bob.send("PRIVMSG #lobby :heard now")
    await alice.expect(r"<bob> heard now$")
    assert not any("can anyone hear me" in line for line in alice.seen)
