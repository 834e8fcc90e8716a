"""The rules irctest checks, tested here since irctest cannot run in CI (docs/irc.md)."""

from __future__ import annotations

from tests.support.irc_client import (
    IrcFactory,
    NativeFactory,
    irc,
    irc_server,
    irc_settings,
    native,
)

__all__ = ["irc", "irc_server", "irc_settings", "native"]  # the fixtures used here


async def test_who_gives_the_user_name_and_real_name_from_user(irc: IrcFactory) -> None:
    """352 carries USER's user name and real name, not the nickname twice."""
    alice = await irc()
    await alice.send("NICK coolNick", "USER myusernam 0 * :My UniqueReal Name")
    await alice.numeric("376")
    bob = await irc("bob")
    await bob.send("WHO coolnick")
    reply = await bob.numeric("352")
    assert reply[2] == "myusernam"
    assert reply[5:] == ["coolNick", "H", "0 My UniqueReal Name"]


async def test_whois_gives_the_user_name_and_real_name_from_user(irc: IrcFactory) -> None:
    """311 carries USER's user name and real name."""
    alice = await irc()
    await alice.send("NICK alice", "USER ali 0 * :Alice Liddell")
    await alice.numeric("376")
    await alice.send("WHOIS alice")
    assert (await alice.numeric("311"))[1:] == ["alice", "ali", "tcpchat", "*", "Alice Liddell"]


async def test_a_channel_notice_reaches_irc_members_as_notice(
    irc: IrcFactory, native: NativeFactory
) -> None:
    """NOTICE #room from an IRC user is a NOTICE to IRC members and a line to native ones."""
    alice, bob = await irc("alice"), await irc("bob")
    carol = await native("carol")
    await alice.send("JOIN #lobby")
    await bob.send("JOIN #lobby")
    await alice.expect(r":bob!\S+ JOIN #lobby$")
    await carol.expect(r"bob joined")
    await bob.send("NOTICE #lobby :the build is green")
    await alice.expect(r"^:bob!\S+ NOTICE #lobby :the build is green$")
    await carol.expect(r"<bob> the build is green$")


async def test_a_line_an_irc_client_may_send_is_relayed_whole(irc: IrcFactory) -> None:
    """A 512-byte PRIVMSG (with or without the colon) reaches its recipient in one line."""
    alice, bob = await irc("alice"), await irc("bob")
    for head in ("PRIVMSG bob :", "PRIVMSG bob "):
        text = "a" * (510 - len(head))
        await alice.send(head + text)
        line = await bob.expect(r"PRIVMSG bob :a+$")
        assert line.group(0).endswith(" :" + text)
