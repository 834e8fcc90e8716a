"""The IRC door over real sockets: registration, numerics, limits and liveness."""

from __future__ import annotations

import asyncio
import dataclasses

from tcpchat.config import ServerSettings
from tcpchat.server.chat import ChatServer
from tests.support.irc_client import (
    SERVER_NAME,
    IrcClient,
    IrcFactory,
    irc,
    irc_server,
    irc_settings,
    native,
)

__all__ = ["irc", "irc_server", "irc_settings", "native"]  # the fixtures used here


async def test_nick_and_user_are_welcomed_with_001_to_005_then_the_motd(irc: IrcFactory) -> None:
    """NICK and USER give 001 to 005, then the message of the day, 375 372 376."""
    client = await irc()
    await client.send("NICK alice", "USER alice 0 * :Alice")
    for code in ("001", "002", "003", "004", "005", "375"):
        params = await client.numeric(code)
        assert params[0] == "alice"
    await client.numeric("376")
    assert "/join #lobby" in " ".join(client.seen)


async def test_user_before_nick_registers_too(irc: IrcFactory) -> None:
    """The order of NICK and USER does not matter."""
    client = await irc()
    await client.send("USER bob 0 * :Bob", "NICK bob")
    assert (await client.numeric("001"))[0] == "bob"


async def test_cap_negotiation_waits_for_cap_end(irc: IrcFactory) -> None:
    """After CAP LS, the welcome waits for CAP END."""
    client = await irc()
    await client.send("CAP LS 302", "NICK carol", "USER carol 0 * :Carol")
    assert "server-time" in (await client.expect(r" CAP \* LS :")).string
    lines = await client.sync()
    assert not any(" 001 " in line for line in lines)
    await client.send("CAP REQ :server-time", "CAP END")
    await client.numeric("001")


async def test_isupport_tells_tcpchats_rules(irc: IrcFactory) -> None:
    """005 carries CHANTYPES=#, NICKLEN=32, CHANNELLEN, TOPICLEN and CASEMAPPING."""
    client = await irc()
    await client.send("NICK dave", "USER dave 0 * :Dave")
    tokens = await client.numeric("005")
    for token in ("CHANTYPES=#", "NICKLEN=32", "CHANNELLEN=33", "TOPICLEN=300"):
        assert token in tokens
    assert "CASEMAPPING=ascii" in tokens


async def test_commands_before_registration_get_451(irc: IrcFactory) -> None:
    """JOIN before registering is 451 (not registered)."""
    client = await irc()
    await client.send("JOIN #lobby")
    assert (await client.numeric("451"))[0] == "*"


async def test_nick_without_a_name_gets_431(irc: IrcFactory) -> None:
    """NICK alone is 431."""
    client = await irc()
    await client.send("NICK")
    await client.numeric("431")


async def test_a_nick_irc_allows_and_tcpchat_refuses_gets_432_with_the_reason(
    irc: IrcFactory,
) -> None:
    """nick[away] is 432, with tcpchat's rule in the words."""
    client = await irc()
    await client.send("NICK nick[away]")
    params = await client.numeric("432")
    assert params[1] == "nick[away]"
    assert "'['" in params[2]


async def test_nick_star_gets_432(irc: IrcFactory) -> None:
    """NICK * is 432."""
    client = await irc()
    await client.send("NICK *")
    await client.numeric("432")


async def test_a_taken_nick_gets_433_and_another_may_be_tried(irc: IrcFactory) -> None:
    """A nickname someone has is 433; the client then sends another NICK."""
    await irc("erin")
    client = await irc()
    await client.send("NICK Erin", "USER e 0 * :E")
    assert (await client.numeric("433"))[1] == "Erin"
    await client.send("NICK erin2")
    assert (await client.numeric("001"))[0] == "erin2"


async def test_a_nick_taken_by_a_native_user_gets_433(irc: IrcFactory, native: object) -> None:
    """IRC and native users share one set of nicknames."""
    await native("frank")  # type: ignore[operator]
    client = await irc()
    await client.send("NICK frank", "USER f 0 * :F")
    await client.numeric("433")


async def test_user_without_its_parameters_gets_461(irc: IrcFactory) -> None:
    """USER with too few parameters is 461."""
    client = await irc()
    await client.send("USER onlyone")
    assert (await client.numeric("461"))[1] == "USER"


async def test_unknown_commands_get_421_and_the_connection_stays(irc: IrcFactory) -> None:
    """An unknown command is 421, never a disconnect."""
    client = await irc("gina")
    await client.send("FROBNICATE now")
    assert (await client.numeric("421"))[1] == "FROBNICATE"
    await client.sync()


async def test_a_70000_byte_line_then_nick_admin_is_never_a_command(irc: IrcFactory) -> None:
    """An overlong line is thrown away whole: its tail, NICK admin, is never run."""
    client = await irc("hank")
    await client.send_bytes(b"PRIVMSG #lobby :" + b"x" * 70_000 + b"NICK admin\r\n")
    await client.numeric("417")
    lines = await client.sync()
    assert not any(" NICK " in line for line in lines)
    await client.send("WHOIS hank")
    assert (await client.numeric("311"))[1] == "hank"


async def test_a_line_past_512_bytes_gets_417(irc: IrcFactory) -> None:
    """A line of 600 bytes (under the splitter's limit, past IRC's) is 417 and not run."""
    client = await irc("ivy")
    await client.send("NICK " + "a" * 600)
    await client.numeric("417")


async def test_lines_split_byte_by_byte_are_read_whole(irc: IrcFactory) -> None:
    """A client writing a byte at a time is read line by line."""
    client = await irc()
    for byte in b"NICK jack\r\nUSER jack 0 * :Jack\r\n":
        await client.send_bytes(bytes([byte]))
    await client.numeric("001")


async def test_ping_is_answered_with_its_token(irc: IrcFactory) -> None:
    """PING :token gets PONG server :token, before and after registration."""
    client = await irc()
    await client.send("PING :before")
    await client.expect(rf"^:{SERVER_NAME} PONG {SERVER_NAME} before$")
    await client.register("kate")
    await client.send("PING :after registration")
    await client.expect(rf"^:{SERVER_NAME} PONG {SERVER_NAME} :after registration$")


async def test_quit_before_registering_closes_with_error(irc: IrcFactory) -> None:
    """QUIT before registration is ERROR, then the socket closes."""
    client = await irc()
    await client.send("QUIT")
    lines = await client.expect_eof()
    assert lines[-1].startswith("ERROR :Closing link")


async def test_a_silent_client_is_pinged_then_closed(irc_settings: ServerSettings) -> None:
    """Silence gets PING after the interval, and the end after as long again."""
    settings = dataclasses.replace(irc_settings, irc_ping_interval=0.2)
    async with ChatServer(settings) as server:
        client = await IrcClient.connect(server.irc_port)
        try:
            await client.register("lena")
            await client.expect(rf"^:{SERVER_NAME} PING tcpchat-1$")
            lines = await client.expect_eof()
            assert lines[-1].startswith("ERROR :Closing link: Ping timeout")
        finally:
            await client.close()


async def test_a_pong_keeps_a_client_connected(irc_settings: ServerSettings) -> None:
    """A client that answers PING is pinged again, not closed."""
    settings = dataclasses.replace(irc_settings, irc_ping_interval=0.2)
    async with ChatServer(settings) as server:
        client = await IrcClient.connect(server.irc_port)
        try:
            await client.register("mona")
            await client.expect("PING tcpchat-1$")
            await client.send("PONG :tcpchat-1")
            await client.expect("PING tcpchat-2$")
        finally:
            await client.close()


async def test_an_unregistered_client_is_closed_at_the_registration_time_out(
    irc_settings: ServerSettings,
) -> None:
    """A client that never registers gets ERROR at the registration time-out."""
    settings = dataclasses.replace(irc_settings, register_timeout=0.3)
    async with ChatServer(settings) as server:
        client = await IrcClient.connect(server.irc_port)
        try:
            lines = await client.expect_eof()
            assert lines == ["ERROR :Closing link: registration timed out"]
        finally:
            await client.close()


async def test_the_wrong_password_gets_464_and_error(irc_settings: ServerSettings) -> None:
    """PASS with the wrong password is 464 and ERROR; the right one registers."""
    settings = dataclasses.replace(irc_settings, password="sesame")
    async with ChatServer(settings) as server:
        wrong = await IrcClient.connect(server.irc_port)
        right = await IrcClient.connect(server.irc_port)
        try:
            await wrong.send("PASS guess", "NICK nora", "USER n 0 * :N")
            await wrong.numeric("464")
            assert (await wrong.expect_eof())[-1].startswith("ERROR :Closing link")
            await right.send("PASS sesame", "NICK nora", "USER n 0 * :N")
            await right.numeric("001")
        finally:
            await wrong.close()
            await right.close()


async def test_connections_past_the_cap_are_refused_with_error(
    irc_settings: ServerSettings,
) -> None:
    """The per-address cap applies to the IRC port, counted with the native one."""
    settings = dataclasses.replace(irc_settings, max_clients=1)
    async with ChatServer(settings) as server:
        first = await IrcClient.connect(server.irc_port)
        second = await IrcClient.connect(server.irc_port)
        try:
            await first.register("olga")
            lines = await second.expect_eof()
            assert lines == [
                "ERROR :Closing link: the server is full (1 connections); try again later"
            ]
        finally:
            await first.close()
            await second.close()


async def test_a_flooding_irc_client_is_paced(irc_settings: ServerSettings) -> None:
    """Past its burst, an IRC client's lines are acted on at the flood rate, not at once."""
    settings = dataclasses.replace(irc_settings, flood_burst=2, flood_rate=5.0)
    async with ChatServer(settings) as server:
        client = await IrcClient.connect(server.irc_port)
        try:
            await client.register("pete")  # two lines: the burst is spent
            loop = asyncio.get_running_loop()
            started = loop.time()
            await client.send("PING :a", "PING :b", "PING :c")
            await client.expect("PONG .* c$")
            assert loop.time() - started >= 0.4  # three lines at 5 a second, after the burst
        finally:
            await client.close()
