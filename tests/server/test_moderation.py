"""Moderation over real sockets: operators, kicks, bans, mutes, slow mode, and every refusal."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tcpchat.config import ServerSettings
from tcpchat.server.chat import ChatServer
from tcpchat.store.sqlite import SQLiteStore
from tests.support.helpers import LineClient

TIME = r"\[\d\d:\d\d:\d\d\]"
OPER_PASSWORD = "correct horse"


@pytest.fixture
def settings() -> ServerSettings:
    """A test server with an operator password."""
    return ServerSettings(host="127.0.0.1", port=0, oper_password=OPER_PASSWORD)


class Clients:
    """Opens registered line clients to one server (from chosen loopback addresses), and
    closes them all."""

    def __init__(self, server: ChatServer) -> None:
        self.server = server
        self.opened: list[LineClient] = []

    async def connect(self, source: str | None = None) -> LineClient:
        line_client = await LineClient.connect(self.server.port, source=source)
        self.opened.append(line_client)
        return line_client

    async def __call__(
        self, nick: str, *, source: str | None = None, json_mode: bool = False
    ) -> LineClient:
        line_client = await self.connect(source)
        await line_client.expect("Choose a nickname")
        await line_client.register(nick, json_mode=json_mode)
        return line_client

    async def close(self) -> None:
        for line_client in self.opened:
            await line_client.close()


@pytest.fixture
async def clients(server: ChatServer) -> AsyncIterator[Clients]:
    opened = Clients(server)
    yield opened
    await opened.close()


async def in_room(room: str, *members: LineClient) -> None:
    """Each of ``members`` joins ``room``, in order, and sees that it is talking there
    (in the text rendering or in JSON)."""
    name = re.escape(room)
    for member in members:
        await member.send(f"/join {room}")
        await member.expect(rf'you are now talking in {name}$|"type": "current".*"room": "{name}"')


async def oper(member: LineClient) -> None:
    await member.send(f"/oper {OPER_PASSWORD}")
    await member.expect("you are now a server operator")


async def expect_error(member: LineClient, code: str, command: str) -> str:
    """Send ``command`` in JSON and return the text of the error with ``code`` it gets."""
    await member.send(command)
    error = await member.expect_json("error")
    assert error["code"] == code, error
    return str(error["text"])


# -- server operators ----------------------------------------------------------------


async def test_oper_makes_a_server_operator_marked_in_users_and_whois(clients: Clients) -> None:
    """After /oper, /users marks alice @alice and /whois says she is a server operator."""
    alice, bob = await clients("alice"), await clients("bob")
    await oper(alice)
    await bob.send("/users")
    await bob.expect(rf"^{TIME} \*\*\* 2 users online: @alice, bob$")
    await bob.send("/whois alice")
    await bob.expect(r"alice: in @#lobby; .*; server operator$")


async def test_json_users_and_whois_name_the_operators(clients: Clients) -> None:
    """The JSON /users has an operators list, /whois server_operator and operator_in."""
    alice, bob = await clients("alice"), await clients("bob", json_mode=True)
    await in_room("#dev", alice)
    await bob.send("/users #dev")
    assert (await bob.expect_json("users"))["operators"] == ["alice"]
    await bob.send("/whois alice")
    whois = await bob.expect_json("whois")
    assert (whois["server_operator"], whois["operator_in"]) == (False, ["#dev"])


async def test_three_wrong_oper_passwords_close_the_connection(clients: Clients) -> None:
    """Two wrong tries are counted down; the third closes the connection."""
    mallory = await clients("mallory", json_mode=True)
    assert await expect_error(mallory, "oper_wrong", "/oper guess1") == (
        "wrong operator password; 2 tries left"
    )
    assert await expect_error(mallory, "oper_wrong", "/oper guess2") == (
        "wrong operator password; 1 try left"
    )
    await expect_error(mallory, "oper_wrong", "/oper guess3")
    await mallory.expect_eof()


async def test_the_oper_password_is_never_logged(
    clients: Clients, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither a wrong operator password nor the right one reaches the log."""
    caplog.set_level(logging.DEBUG, logger="tcpchat")
    alice = await clients("alice", json_mode=True)
    await expect_error(alice, "oper_wrong", "/oper correct hors")
    await oper(alice)
    assert "correct hors" not in caplog.text
    assert "wrong operator password" in caplog.text


async def test_oper_is_refused_where_there_is_no_operator_password() -> None:
    """Without --oper-password, /oper answers oper_disabled and counts no try."""
    async with ChatServer(ServerSettings(host="127.0.0.1", port=0)) as server:
        opened = Clients(server)
        try:
            alice = await opened("alice", json_mode=True)
            text = await expect_error(alice, "oper_disabled", f"/oper {OPER_PASSWORD}")
            assert "no --oper-password" in text
        finally:
            await opened.close()


# -- refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "/op bob",
        "/deop alice",
        "/kick alice",
        "/ban alice",
        "/unban alice",
        "/mute alice",
        "/unmute alice",
        "/slow 10",
    ],
)
async def test_a_member_who_is_not_an_operator_is_refused(clients: Clients, command: str) -> None:
    """In a room alice made, bob's moderation commands are refused with not_operator."""
    alice, bob = await clients("alice"), await clients("bob", json_mode=True)
    await in_room("#dev", alice, bob)
    text = await expect_error(bob, "not_operator", command)
    assert text == "only operators of #dev may do that"


@pytest.mark.parametrize("command", ["/ban 10.0.0.0/8", "/unban 10.0.0.0/8", "/ban 127.0.0.9"])
async def test_only_a_server_operator_may_ban_addresses(clients: Clients, command: str) -> None:
    """A room operator's /ban or /unban of an address is refused with not_server_operator."""
    alice = await clients("alice", json_mode=True)
    await alice.send("/join #dev")
    await alice.expect_json("current")
    await expect_error(alice, "not_server_operator", command)


async def test_a_room_operator_may_not_kick_a_server_operator(clients: Clients) -> None:
    """Alice operates #dev; root, a server operator there, cannot be kicked by her."""
    alice, root = await clients("alice", json_mode=True), await clients("root")
    await oper(root)
    await alice.send("/join #dev")
    await alice.expect_json("current")
    await in_room("#dev", root)
    text = await expect_error(alice, "not_server_operator", "/kick root")
    assert "root is a server operator" in text


async def test_an_operator_may_not_mute_another(clients: Clients) -> None:
    """Muting an operator of the room is refused: deop first."""
    alice, bob = await clients("alice", json_mode=True), await clients("bob")
    await alice.send("/join #dev")
    await alice.expect_json("current")
    await in_room("#dev", bob)
    await alice.send("/op bob")
    await alice.expect_json("mode")
    text = await expect_error(alice, "command", "/mute bob")
    assert "/deop them first" in text


# -- room operators ------------------------------------------------------------------


async def test_a_kick_tells_the_room_who_and_why_and_moves_the_kicked(clients: Clients) -> None:
    """Alice kicks bob: the room and bob see who and why; bob is back in #lobby, may rejoin."""
    alice, bob, carol = await clients("alice"), await clients("bob"), await clients("carol")
    await in_room("#dev", alice, bob, carol)
    await alice.send("/kick bob flooding")
    kicked = r"\*\*\* alice kicked bob out of #dev \(flooding\)$"
    await carol.expect(kicked)
    await bob.expect(kicked)
    await bob.expect(r"\*\*\* you are now talking in #lobby$")
    await carol.send("/users")
    await carol.expect(r"2 users in #dev: @alice, carol$")
    await in_room("#dev", bob)


async def test_a_kicked_json_client_gets_a_kick_event_for_itself(clients: Clients) -> None:
    """The JSON kick names who, whom, where and why; the current room follows."""
    alice, bob = await clients("alice"), await clients("bob", json_mode=True)
    await in_room("#dev", alice, bob)
    await alice.send("/kick bob")
    kick = await bob.expect_json("kick")
    assert {k: kick[k] for k in ("nick", "target", "room", "reason")} == {
        "nick": "alice",
        "target": "bob",
        "room": "#dev",
        "reason": "",
    }
    assert (await bob.expect_json("current"))["room"] == "#lobby"


async def test_op_gives_powers_and_deop_takes_them(clients: Clients) -> None:
    """Bob, made an operator, may kick; once deopped, he is refused."""
    alice, bob = await clients("alice"), await clients("bob", json_mode=True)
    carol = await clients("carol")
    await in_room("#dev", alice, bob, carol)
    await alice.send("/op bob")
    await carol.expect(r"\*\*\* alice made bob an operator of #dev$")
    await bob.send("/kick carol")
    await carol.expect(r"\*\*\* bob kicked carol out of #dev$")
    await in_room("#dev", carol)
    await alice.send("/deop bob")
    await carol.expect(r"\*\*\* alice removed bob as an operator of #dev$")
    await expect_error(bob, "not_operator", "/kick carol")


async def test_a_server_operator_moderates_a_room_it_did_not_make(clients: Clients) -> None:
    """Root, a server operator, kicks and sets slow mode in bob's room."""
    root, bob, carol = await clients("root"), await clients("bob"), await clients("carol")
    await oper(root)
    await in_room("#dev", bob, carol, root)
    await root.send("/kick carol")
    await bob.expect(r"\*\*\* root kicked carol out of #dev$")
    await root.send("/slow 5")
    await bob.expect(r"\*\*\* root set slow mode in #dev: one line per 5s$")


async def test_a_room_ban_keeps_the_nickname_and_its_lookalikes_out(clients: Clients) -> None:
    """Alice bans ape from #dev: he is kicked, and neither he nor a lookalike may rejoin."""
    alice, ape = await clients("alice"), await clients("ape", json_mode=True)
    await in_room("#dev", alice, ape)
    await alice.send("/ban ape 2h spamming links")
    mode = await ape.expect_json("mode")
    assert (mode["change"], mode["target"], mode["seconds"]) == ("ban", "ape", 7200)
    assert (await ape.expect_json("kick"))["reason"] == "spamming links"
    text = await expect_error(ape, "banned", "/join #dev")
    assert text == "you are banned from #dev for 2h 0m: spamming links"
    await ape.send("/nick \u0430\u0440\u0435")  # all Cyrillic: looks like "ape"
    await ape.expect_json("nick")
    await expect_error(ape, "banned", "/join #dev")


async def test_unban_lets_the_nickname_back_in(clients: Clients) -> None:
    """After /unban bob, bob may join #dev again."""
    alice, bob = await clients("alice"), await clients("bob")
    await in_room("#dev", alice)
    await alice.send("/ban bob")
    await alice.expect(r"alice banned bob from #dev for good$")
    await alice.send("/unban bob")
    await alice.expect(r"alice lifted the ban on bob from #dev$")
    await in_room("#dev", bob)


async def test_a_nickname_banned_from_the_default_room_cannot_register(clients: Clients) -> None:
    """Banned from #lobby, the nickname bob is refused at registration, and asked again."""
    root = await clients("root")
    await oper(root)
    await root.send("/ban bob")
    await root.expect(r"root banned bob from #lobby for good$")
    bob = await clients.connect()
    await bob.expect("Choose a nickname")
    await bob.send("bob")
    await bob.expect(r"!!! you are banned from #lobby for good$")
    await bob.expect("Choose a nickname")


async def test_bans_lists_the_room_and_to_server_operators_the_server(clients: Clients) -> None:
    """/bans shows a member the room's bans; a server operator sees the server's too."""
    alice, root = await clients("alice"), await clients("root", json_mode=True)
    await in_room("#dev", alice)
    await alice.send("/ban mallory 1h spam")
    await alice.expect("alice banned mallory")
    await alice.send("/bans")
    await alice.expect(r"\*\*\* 1 ban in #dev:$")
    await alice.expect(r"\*\*\*   mallory from #dev, by alice, (1h 0m|59m 59s) left: spam$")
    await oper(root)
    await root.send("/ban 10.0.0.0/8 flood")
    assert (await root.expect_json("mode"))["target"] == "10.0.0.0/8"
    await root.send("/join #dev")
    await root.expect_json("current")
    await root.send("/bans")
    listed = (await root.expect_json("bans"))["bans"]
    assert [(b["target"], b["room"], b["expires_in"]) for b in listed] == [
        ("mallory", "#dev", listed[0]["expires_in"]),
        ("10.0.0.0/8", "", None),
    ]
    assert 3590 <= listed[0]["expires_in"] <= 3600


# -- mute and slow mode --------------------------------------------------------------


async def test_a_muted_member_is_told_and_cannot_speak_until_unmuted(clients: Clients) -> None:
    """Muted bob is told; his line is refused with muted and reaches nobody; unmuted, it goes."""
    alice, bob = await clients("alice"), await clients("bob", json_mode=True)
    await in_room("#dev", alice, bob)
    await alice.send("/mute bob 10m")
    mode = await bob.expect_json("mode")
    assert (mode["change"], mode["target"], mode["seconds"]) == ("mute", "bob", 600)
    text = await expect_error(bob, "muted", "can anyone hear me?")
    assert text == "you are muted in #dev for 10m 0s" or text.startswith("you are muted in #dev")
    await expect_error(bob, "muted", "/me shouts")
    await alice.send("/unmute bob")
    assert (await bob.expect_json("mode"))["change"] == "unmute"
    await bob.send("back")
    await alice.expect(r"<bob> back$")
    assert not any("can anyone hear me" in line or "shouts" in line for line in alice.seen)


async def test_slow_mode_refuses_a_second_line_with_the_seconds_left(clients: Clients) -> None:
    """In 60s slow mode bob's second line is refused with slow_mode; /slow 0 lifts it."""
    alice, bob = await clients("alice"), await clients("bob", json_mode=True)
    await in_room("#dev", alice, bob)
    await alice.send("/slow 60")
    assert (await bob.expect_json("mode"))["seconds"] == 60
    await bob.send("first")
    await alice.expect(r"<bob> first$")
    text = await expect_error(bob, "slow_mode", "second")
    assert re.fullmatch(r"slow mode in #dev: one line per 60s; wait (60|59)s", text)
    await alice.send("/slow 0")
    await alice.expect(r"alice turned slow mode off in #dev$")
    await bob.send("third")
    await alice.expect(r"<bob> third$")
    await alice.send("/slow")
    await alice.expect(r"slow mode in #dev: off$")


# -- server bans ---------------------------------------------------------------------


async def test_a_cidr_ban_refuses_its_addresses_and_closes_their_connections(
    clients: Clients,
) -> None:
    """Banning 127.0.0.4/30 closes the connection from 127.0.0.6 and refuses 127.0.0.5,
    with the reason; 127.0.0.9 still comes in (loopback is not exempt from bans)."""
    root = await clients("root")
    victim = await clients("victim", source="127.0.0.6")
    await oper(root)
    await root.send("/ban 127.0.0.4/30 1h flooding")
    await root.expect(r"root banned 127.0.0.4/30 from the server for 1h 0m \(flooding\)$")
    await victim.expect(r"!!! your address is banned from this server for 1h 0m: flooding$")
    await victim.expect_eof()
    refused = await clients.connect("127.0.0.5")
    lines = await refused.expect_eof()
    assert any(
        re.search(r"!!! your address is banned from this server for (1h 0m|59m 59s): flooding$", x)
        for x in lines
    ), lines
    await clients("welcome", source="127.0.0.9")


async def test_unbanning_an_address_lets_it_connect(clients: Clients) -> None:
    """After /unban 127.0.0.5, a connection from it is welcomed."""
    root = await clients("root")
    await oper(root)
    await root.send("/ban 127.0.0.5")
    await root.expect(r"root banned 127.0.0.5 from the server for good$")
    await root.send("/unban 127.0.0.5")
    await root.expect(r"root lifted the ban on 127.0.0.5 from the server$")
    await clients("back", source="127.0.0.5")


class _Expired(logging.Handler):
    """Sets ``event`` when the moderation log says a ban expired."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "action", None) == "ban expired":
            self.event.set()


@contextlib.contextmanager
def expiry_watch() -> Iterator[asyncio.Event]:
    handler = _Expired()
    logger = logging.getLogger("tcpchat.moderation")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler.event
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_a_one_second_ban_expires_by_itself(settings: ServerSettings) -> None:
    """A 1s ban of 127.0.0.7 refuses it; once the sweep says it expired, it comes in."""
    with expiry_watch() as expired:
        async with ChatServer(settings, sweep_interval=0.1) as server:
            opened = Clients(server)
            try:
                root = await opened("root")
                await oper(root)
                await root.send("/ban 127.0.0.7 1s")
                await root.expect(r"root banned 127.0.0.7 from the server for 1s$")
                refused = await opened.connect("127.0.0.7")
                assert any("banned" in line for line in await refused.expect_eof())
                async with asyncio.timeout(5):
                    await expired.wait()
                await opened("free", source="127.0.0.7")
            finally:
                await opened.close()


# -- bans outlive the server ---------------------------------------------------------


async def test_bans_survive_a_restart_on_the_same_database(
    settings: ServerSettings, tmp_path: Path
) -> None:
    """A server ban and a room ban made before a restart still hold after it."""
    path = str(tmp_path / "tcpchat.db")
    store = SQLiteStore(path)
    await store.open()
    try:
        async with ChatServer(settings, store=store) as server:
            opened = Clients(server)
            try:
                root = await opened("root")
                await oper(root)
                await root.send("/ban 127.0.0.8 flood")
                await root.expect("root banned 127.0.0.8")
                await in_room("#dev", root)
                await root.send("/ban bob 7d rude")
                await root.expect("root banned bob from #dev")
            finally:
                await opened.close()
    finally:
        await store.close()
    again = SQLiteStore(path)
    await again.open()
    try:
        restarted = dataclasses.replace(settings, port=0)
        async with ChatServer(restarted, store=again) as server:
            opened = Clients(server)
            try:
                refused = await opened.connect("127.0.0.8")
                lines = await refused.expect_eof()
                assert any(
                    line.endswith("your address is banned from this server for good: flood")
                    for line in lines
                ), lines
                bob = await opened("bob", json_mode=True)
                text = await expect_error(bob, "banned", "/join #dev")
                assert re.fullmatch(r"you are banned from #dev for (7d 0h|6d 23h): rude", text)
            finally:
                await opened.close()
    finally:
        await again.close()


# -- the audit log -------------------------------------------------------------------


async def test_every_action_is_logged_with_who_whom_where_and_why(
    clients: Clients, caplog: pytest.LogCaptureFixture
) -> None:
    """A kick is logged at INFO with by, target, room and reason as fields."""
    caplog.set_level(logging.INFO, logger="tcpchat.moderation")
    alice, bob = await clients("alice"), await clients("bob")
    await in_room("#dev", alice, bob)
    await alice.send("/kick bob too loud")
    await bob.expect("alice kicked bob")
    kicks = [r for r in caplog.records if getattr(r, "action", None) == "kick"]
    assert [(r.levelno, r.by, r.target, r.room, r.reason) for r in kicks] == [  # type: ignore[attr-defined]
        (logging.INFO, "alice", "bob", "#dev", "too loud")
    ]
