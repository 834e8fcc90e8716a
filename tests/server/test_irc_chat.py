"""IRC and native users in the same rooms: messages, actions, presence and queries."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from tcpchat.ai.search import Search
from tcpchat.config import SearchSettings, ServerSettings
from tcpchat.server.chat import ChatServer
from tests.support.fake_openai import FakeOpenAI, Script
from tests.support.helpers import LineClient
from tests.support.irc_client import (
    SERVER_NAME,
    IrcClient,
    IrcFactory,
    NativeFactory,
    irc,
    irc_server,
    irc_settings,
    native,
)

__all__ = ["irc", "irc_server", "irc_settings", "native"]  # the fixtures used here


async def test_join_is_answered_with_join_then_names(irc: IrcFactory) -> None:
    """JOIN #lobby: the client's own JOIN, then 353 and 366."""
    client = await irc("alice")
    await client.send("JOIN #lobby")
    await client.expect(r"^:alice!alice@tcpchat JOIN #lobby$")
    assert await client.numeric("353") == ["alice", "=", "#lobby", "alice"]
    await client.numeric("366")


async def test_an_irc_user_is_in_no_room_until_it_joins(irc: IrcFactory) -> None:
    """After registration WHOIS lists no channel: IRC clients join their own."""
    client = await irc("bea")
    await client.send("WHOIS bea")
    lines = await client.sync()
    assert not any(" 319 " in line for line in lines)


async def test_irc_and_native_users_see_each_others_messages(
    irc: IrcFactory, native: NativeFactory
) -> None:
    """A PRIVMSG reaches nc as <alice> text; nc's line reaches IRC as PRIVMSG #lobby."""
    nat = await native("natalie")
    client = await irc("alice")
    await client.send("JOIN #lobby")
    await nat.expect(r"\*\*\* alice joined")
    await client.send("PRIVMSG #lobby :hello \x02there\x02")
    await nat.expect(r"<alice> hello there$")
    await nat.send("hi alice")
    await client.expect(r"^:natalie!natalie@tcpchat PRIVMSG #lobby :hi alice$")


async def test_me_travels_as_ctcp_action_both_ways(irc: IrcFactory, native: NativeFactory) -> None:
    """/me from nc is a CTCP ACTION on IRC, and an IRC ACTION is * nick on nc."""
    nat = await native("natalie")
    client = await irc("alice")
    await client.send("JOIN #lobby")
    await nat.expect("alice joined")
    await nat.send("/me waves")
    await client.expect("^:natalie!natalie@tcpchat PRIVMSG #lobby :\x01ACTION waves\x01$")
    await client.send("PRIVMSG #lobby :\x01ACTION bows\x01")
    await nat.expect(r"\* alice bows$")


async def test_a_long_native_line_is_split_for_irc_never_cut(
    irc: IrcFactory, native: NativeFactory
) -> None:
    """A 1,500-byte message reaches IRC in several PRIVMSGs, each under 512 bytes, all of it."""
    nat = await native("natalie")
    client = await irc("alice")
    await client.send("JOIN #lobby")
    await nat.expect("alice joined")
    words = " ".join(f"w{number:03d}é" for number in range(250))
    await nat.send(words)
    await client.send("PING :sync-mark")
    lines = [line for line in await client.sync() if " PRIVMSG " in line]
    assert len(lines) > 1
    assert all(len(line.encode()) + 2 <= 512 for line in lines)
    assert " ".join(line.split(" :", 1)[1] for line in lines) == words


async def test_nick_changes_part_and_quit_reach_the_other_side(
    irc: IrcFactory, native: NativeFactory
) -> None:
    """NICK, PART and QUIT with reasons reach nc; nc's nick change reaches IRC."""
    nat = await native("natalie")
    client = await irc("alice")
    await client.send("JOIN #lobby")
    await nat.expect("alice joined")
    await nat.send("/nick nat")
    await client.expect(r"^:natalie!natalie@tcpchat NICK nat$")
    await client.send("NICK alicia")
    await client.expect(r"^:alice!alice@tcpchat NICK alicia$")
    await nat.expect("alice is now known as alicia")
    await client.send("PART #lobby :lunch")
    await nat.expect(r"alicia left the room \(lunch\)")
    await client.send("JOIN #lobby")
    await nat.expect("alicia joined")
    await client.send("QUIT :see you")
    await nat.expect(r"alicia left \(Quit: see you\)")
    assert (await client.expect_eof())[-1] == "ERROR :Closing link: Quit: see you"


async def test_a_native_quit_reaches_irc_as_quit(irc: IrcFactory, native: NativeFactory) -> None:
    """A native user leaving is QUIT with the reason."""
    nat = await native("natalie")
    client = await irc("alice")
    await client.send("JOIN #lobby")
    await nat.expect("alice joined")
    await nat.send("/quit")
    await client.expect(r"^:natalie!natalie@tcpchat QUIT :?quit$")


async def test_privmsg_to_a_user_goes_both_ways(irc: IrcFactory, native: NativeFactory) -> None:
    """PRIVMSG nick reaches nc privately; /msg from nc arrives as PRIVMSG to the IRC nick."""
    nat = await native("natalie")
    client = await irc("alice")
    await client.send("PRIVMSG natalie :psst")
    await nat.expect(r"\[private\] alice -> natalie: psst")
    await nat.send("/msg alice back")
    await client.expect(r"^:natalie!natalie@tcpchat PRIVMSG alice :back$")


async def test_privmsg_between_irc_users_keeps_ctcp(irc: IrcFactory) -> None:
    """Between IRC users a CTCP VERSION is relayed as sent."""
    alice = await irc("alice")
    bob = await irc("bob")
    await alice.send("PRIVMSG bob :\x01VERSION\x01")
    await bob.expect("^:alice!alice@tcpchat PRIVMSG bob :\x01VERSION\x01$")


async def test_ctcp_version_to_a_native_user_is_answered_by_the_server(
    irc: IrcFactory, native: NativeFactory
) -> None:
    """A native user has no CTCP: tcpchat answers VERSION for it, with a NOTICE."""
    await native("natalie")
    client = await irc("alice")
    await client.send("PRIVMSG natalie :\x01VERSION\x01")
    await client.expect("^:natalie!natalie@tcpchat NOTICE alice :\x01VERSION tcpchat ")


async def test_echo_message_sends_ones_own_lines_back(irc: IrcFactory) -> None:
    """With echo-message, a channel PRIVMSG comes back to its sender."""
    client = await irc()
    await client.send("CAP REQ :echo-message", "NICK alice", "USER a 0 * :A", "CAP END")
    await client.numeric("376")
    await client.send("JOIN #lobby", "PRIVMSG #lobby :echo")
    await client.expect(r"^:alice!alice@tcpchat PRIVMSG #lobby :echo$")


async def test_server_time_tags_every_room_line(irc: IrcFactory, native: NativeFactory) -> None:
    """With server-time, room lines carry @time=...Z."""
    nat = await native("natalie")
    client = await irc()
    await client.send("CAP REQ :server-time", "NICK alice", "USER a 0 * :A", "CAP END")
    await client.numeric("376")
    await client.send("JOIN #lobby")
    await nat.expect("alice joined")
    await nat.send("timed")
    await client.expect(r"^@time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z :natalie\S* PRIVMSG")


async def test_privmsg_errors_401_403_404_411_412(irc: IrcFactory) -> None:
    """No such nick, no such channel, not in the channel, no recipient, no text."""
    client = await irc("alice")
    await irc("bob")
    await client.send("PRIVMSG nobody :hi")
    await client.numeric("401")
    await client.send("PRIVMSG #nowhere :hi")
    await client.numeric("403")
    bob_room = await irc("carol")
    await bob_room.send("JOIN #dev")
    await bob_room.numeric("366")
    await client.send("PRIVMSG #dev :hi")
    await client.numeric("404")
    await client.send("PRIVMSG")
    await client.numeric("411")
    await client.send("PRIVMSG bob")
    await client.numeric("412")


async def test_notice_errors_are_never_answered(irc: IrcFactory) -> None:
    """A NOTICE to nobody gets no reply."""
    client = await irc("alice")
    await client.send("NOTICE nobody :hi", "NOTICE #nowhere :hi")
    assert await client.sync() == []


async def test_away_sets_306_unsets_305_and_answers_301(irc: IrcFactory) -> None:
    """AWAY :text is 306; a PRIVMSG to them is answered 301; AWAY alone is 305."""
    alice = await irc("alice")
    bob = await irc("bob")
    await bob.send("AWAY :gone fishing")
    await bob.numeric("306")
    await alice.send("PRIVMSG bob :there?")
    assert await alice.numeric("301") == ["alice", "bob", "gone fishing"]
    await bob.send("MODE bob")
    assert await bob.numeric("221") == ["bob", "+a"]
    await bob.send("AWAY")
    await bob.numeric("305")


async def test_whois_numerics(irc: IrcFactory) -> None:
    """WHOIS: 311, 319, 312, 317, 318; a missing nick is 401 then 318."""
    alice = await irc("alice")
    await alice.send("JOIN #lobby", "WHOIS alice")
    assert (await alice.numeric("311"))[1:5] == ["alice", "alice", "tcpchat", "*"]
    assert await alice.numeric("319") == ["alice", "alice", "#lobby"]
    assert (await alice.numeric("312"))[2] == SERVER_NAME
    await alice.numeric("317")
    await alice.numeric("318")
    await alice.send("WHOIS ghost")
    await alice.numeric("401")
    await alice.numeric("318")


async def test_who_a_channel_and_a_mask_with_away_flags(
    irc: IrcFactory, native: NativeFactory
) -> None:
    """WHO #lobby lists members with H or G; a mask matches nicks as tcpchat compares them."""
    nat = await native("natalie")
    await nat.send("/away brb")
    await nat.expect("marked as away")
    alice = await irc("alice")
    await alice.send("WHO #lobby")
    assert (await alice.numeric("352"))[1:7] == [
        "#lobby",
        "natalie",
        "tcpchat",
        SERVER_NAME,
        "natalie",
        "G",
    ]
    await alice.numeric("315")
    await alice.send("WHO NAT*")
    assert (await alice.numeric("352"))[5] == "natalie"
    await alice.numeric("315")


async def test_topic_query_set_and_the_room_told(irc: IrcFactory, native: NativeFactory) -> None:
    """TOPIC: 331 with none, TOPIC to the room when set, 332 when asked; nc sees it set."""
    nat = await native("natalie")
    alice = await irc("alice")
    await alice.send("JOIN #lobby", "TOPIC #lobby")
    await alice.numeric("331")
    await alice.send("TOPIC #lobby :IRC is here")
    await alice.expect(r"^:alice!alice@tcpchat TOPIC #lobby :IRC is here$")
    await nat.expect("alice set the topic: IRC is here")
    await alice.send("TOPIC #lobby")
    assert (await alice.numeric("332"))[2] == "IRC is here"


async def test_topic_of_a_room_one_is_not_in_gets_442(irc: IrcFactory) -> None:
    """Setting the topic of a room one is not in is 442; one that does not exist, 403."""
    bob = await irc("bob")
    await bob.send("JOIN #dev")
    await bob.numeric("366")
    alice = await irc("alice")
    await alice.send("TOPIC #dev :mine")
    await alice.numeric("442")
    await alice.send("TOPIC #nowhere")
    await alice.numeric("403")


async def test_names_list_and_part_errors(irc: IrcFactory) -> None:
    """NAMES lists members; LIST lists rooms; PART of a room one is not in is 442."""
    alice = await irc("alice")
    await alice.send("JOIN #dev,#ops", "NAMES #dev")
    await alice.numeric("353")
    await alice.send("LIST")
    listed = [(await alice.numeric("322"))[1] for _ in range(2)]
    assert sorted(listed) == ["#dev", "#ops"]
    await alice.numeric("323")
    bob = await irc("bob")
    await bob.send("JOIN #lobby")
    await bob.numeric("366")
    await alice.send("PART #lobby")
    await alice.numeric("442")
    await alice.send("PART #nowhere")
    await alice.numeric("403")


async def test_join_0_parts_every_room(irc: IrcFactory) -> None:
    """JOIN 0 leaves every channel, with a PART each."""
    alice = await irc("alice")
    await alice.send("JOIN #a,#b", "JOIN 0")
    await alice.expect("PART #a")
    await alice.expect("PART #b")


async def test_join_of_a_bad_name_gets_403_or_476(irc: IrcFactory) -> None:
    """A name without # is 403; a # name tcpchat refuses is 476 with the reason."""
    alice = await irc("alice")
    await alice.send("JOIN lobby")
    await alice.numeric("403")
    await alice.send("JOIN #a|b")
    await alice.numeric("476")


async def test_mode_queries_are_answered_and_changes_refused(irc: IrcFactory) -> None:
    """MODE #room is 324 +n; b ends an empty list; -n and +o are 482 from a member who is
    not an operator, +m 472; MODE nick +i is 501."""
    alice = await irc("alice")
    await alice.send("JOIN #lobby", "MODE #lobby")
    assert await alice.numeric("324") == ["alice", "#lobby", "+n"]
    await alice.send("MODE #lobby b")
    await alice.numeric("368")
    await alice.send("MODE #lobby -n")
    await alice.numeric("482")
    await alice.send("MODE #lobby +o alice")
    await alice.numeric("482")
    await alice.send("MODE #lobby +m")
    await alice.numeric("472")
    await alice.send("MODE alice +i")
    await alice.numeric("501")
    await irc("bob")
    await alice.send("MODE bob")
    await alice.numeric("502")


async def test_ison_and_userhost(irc: IrcFactory) -> None:
    """ISON lists who is on; USERHOST gives nick=+nick@tcpchat."""
    alice = await irc("alice")
    await alice.send("ISON alice ghost")
    assert await alice.numeric("303") == ["alice", "alice"]
    await alice.send("USERHOST alice")
    assert await alice.numeric("302") == ["alice", "alice=+alice@tcpchat"]


async def test_irc_members_share_one_encoding_per_pass(
    irc_server: ChatServer, irc: IrcFactory, native: NativeFactory
) -> None:
    """Two IRC members get the same bytes for a room line (encoded once, not per member)."""
    nat = await native("natalie")
    alice, bob = await irc("alice"), await irc("bob")
    for client in (alice, bob):
        await client.send("JOIN #lobby")
        await client.numeric("366")
    await nat.send("same bytes")
    line_a = (await alice.expect("PRIVMSG #lobby")).string
    line_b = (await bob.expect("PRIVMSG #lobby")).string
    assert line_a == line_b == ":natalie!natalie@tcpchat PRIVMSG #lobby :same bytes"


async def test_a_slow_irc_reader_is_cut_off_past_the_queue_bound(
    irc_settings: ServerSettings,
) -> None:
    """An IRC member that reads nothing is cut off past max_queue_bytes; the room goes on."""
    settings = dataclasses.replace(
        irc_settings,
        max_queue_bytes=64 * 1024,
        send_buffer_bytes=16 * 1024,
        flood_control=False,
    )
    async with ChatServer(settings) as server:
        sloth = await IrcClient.connect(server.irc_port)
        talker = await LineClient.connect(server.port)
        try:
            await talker.register("talker")
            await sloth.register("sloth")
            await sloth.send("JOIN #lobby")
            await talker.expect(r"\*\*\* sloth joined")
            sloth.writer.transport.pause_reading()  # type: ignore[attr-defined]
            filler = "x" * 1000
            while True:
                await talker.send(*(filler for _ in range(50)), "/users")
                line = (await talker.expect(r"users? online|sloth left")).string
                if "sloth left" in line:
                    break
            assert "sloth left (send queue exceeded)" in line
            assert server.hub.nicks() == ("talker",)
        finally:
            await sloth.close()
            await talker.close()


@pytest.fixture
async def fake_api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeOpenAI]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    async with FakeOpenAI() as fake:
        yield fake


async def test_search_from_irc_is_answered_in_the_channel_by_ai(
    irc_settings: ServerSettings, fake_api: FakeOpenAI
) -> None:
    """!search in a channel: the room hears the question, and AI answers with PRIVMSGs."""
    fake_api.queue(
        Script(text="IRC is a chat protocol.", sources=(("https://irc.example/", "IRC"),))
    )
    search = Search(
        SearchSettings(api_key="sk-test", base_url=fake_api.base_url, max_retries=0, cooldown=0.0)
    )
    async with ChatServer(irc_settings, search=search) as server:
        alice = await IrcClient.connect(server.irc_port)
        nat = await LineClient.connect(server.port)
        try:
            await nat.register("natalie")
            await alice.register("alice")
            await alice.send("JOIN #lobby", "PRIVMSG #lobby :!search what is IRC?")
            await alice.expect(r"^:AI!AI@tcpchat NOTICE #lobby :alice asked: what is IRC\?$")
            await alice.expect(r"^:AI!AI@tcpchat PRIVMSG #lobby :IRC is a chat protocol\.")
            await alice.expect(r"^:AI!AI@tcpchat PRIVMSG #lobby :Sources:$")
            await alice.expect(r"^:AI!AI@tcpchat PRIVMSG #lobby :\[1\] https://irc.example/$")
            await nat.expect(r"<AI> IRC is a chat protocol")
        finally:
            await alice.close()
            await nat.close()


async def test_privmsg_to_ai_is_answered_privately(
    irc_settings: ServerSettings, fake_api: FakeOpenAI
) -> None:
    """PRIVMSG AI :question is answered to the asker alone, as PRIVMSGs from AI, sources
    on their own lines; nobody else hears the question or the answer."""
    fake_api.queue(
        Script(text="IRC is a chat protocol.", sources=(("https://irc.example/", "IRC"),))
    )
    search = Search(
        SearchSettings(api_key="sk-test", base_url=fake_api.base_url, max_retries=0, cooldown=0.0)
    )
    async with ChatServer(irc_settings, search=search) as server:
        alice = await IrcClient.connect(server.irc_port)
        bob = await IrcClient.connect(server.irc_port)
        try:
            await alice.register("alice")
            await bob.register("bob")
            await alice.send("JOIN #lobby")
            await bob.send("JOIN #lobby")
            await alice.expect(r":bob!\S+ JOIN #lobby$")
            await alice.send("PRIVMSG AI :what is IRC?")
            await alice.expect(r"^:AI!AI@tcpchat PRIVMSG alice :IRC is a chat protocol\.")
            await alice.expect(r"^:AI!AI@tcpchat PRIVMSG alice :Sources:$")
            await alice.expect(r"^:AI!AI@tcpchat PRIVMSG alice :\[1\] https://irc.example/$")
            assert not any("AI" in line for line in await bob.sync())
        finally:
            await alice.close()
            await bob.close()


async def test_privmsg_to_ai_without_search_says_so(irc: IrcFactory) -> None:
    """On a server with no search service, a question to AI gets a NOTICE saying so."""
    alice = await irc("alice")
    await alice.send("PRIVMSG AI :hello?")
    await alice.expect(r"NOTICE alice :search is not available")
