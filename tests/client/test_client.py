"""The client's logic against a real server: registration, events, sending, leaving, reconnecting.

The front end is scripted (tests/support/frontends.py): the test types lines and reads
back what was shown as plain text.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from tcpchat.client.chat import ChatClient, fallback_nicks, outgoing, typed_lines
from tcpchat.client.chatstate import ChatState, Link
from tcpchat.config import ClientSettings, ServerSettings
from tcpchat.core.events import Join, Welcome
from tcpchat.server.chat import ChatServer
from tcpchat.tui.display import plain
from tests.conftest import ClientFactory
from tests.support.frontends import ScriptedFrontend
from tests.support.helpers import LineClient
from tests.support.hostile_server import hostile_server

TS = datetime(2026, 3, 1, tzinfo=UTC)

Started = tuple[ChatClient, ScriptedFrontend, "asyncio.Task[int]"]
Starter = Callable[..., Started]


@pytest.fixture
async def start_client() -> AsyncIterator[Starter]:
    """Start ChatClients in the background: ``start_client(port, nick="alice")``."""
    tasks: list[asyncio.Task[int]] = []

    def start(port: int, *, interactive: bool = True, **settings: object) -> Started:
        client_settings = ClientSettings(host="127.0.0.1", port=port, **settings)  # type: ignore[arg-type]
        frontend = ScriptedFrontend(interactive=interactive)
        state = ChatState(f"127.0.0.1:{port}", client_settings.nick)
        chat_client = ChatClient(client_settings, frontend, state)
        task = asyncio.create_task(chat_client.run())
        tasks.append(task)
        return chat_client, frontend, task

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def finished(task: asyncio.Task[int]) -> int:
    async with asyncio.timeout(5):
        return await task


async def test_taken_nickname_shows_the_reason_and_asks_again(
    server: ChatServer, client: ClientFactory, start_client: Starter
) -> None:
    """A refused nickname shows the server's reason; the next one typed is tried."""
    await client("bob")
    chat_client, frontend, _ = start_client(server.port, nick="Bob")
    await frontend.expect(r"!!! the nickname 'Bob' is taken")
    assert chat_client.state.link is Link.REGISTERING
    frontend.type("not valid!")
    await frontend.expect(r"!!! a nickname may hold only")
    frontend.type("alice")
    await frontend.expect(r"\*\*\* Welcome, alice! 2 users online: alice, bob")
    assert chat_client.state.nick == "alice"
    assert chat_client.state.link in {Link.CONNECTED}  # `in`: mypy narrowed it above


async def test_the_welcome_names_tab_only_at_a_terminal(
    server: ChatServer, start_client: Starter
) -> None:
    """At a terminal the welcome says Tab completes; through a pipe, that each line is sent."""
    _, at_terminal, _ = start_client(server.port, nick="alice")
    await at_terminal.expect(r"\*\*\* Type a message and press Enter; Tab completes")
    _, piped, _ = start_client(server.port, nick="bob", interactive=False)
    await piped.expect(r"\*\*\* Each line is a message; /help lists the commands\.$")
    assert not any("Tab" in line for line in piped.shown)


async def test_asks_for_a_nickname_when_none_is_given(
    server: ChatServer, start_client: Starter
) -> None:
    """Without --nick, the client asks, and the typed name (or /nick name) is used."""
    _, frontend, _ = start_client(server.port)
    await frontend.expect(r"Choose a nickname")
    frontend.type("/nick carol")
    await frontend.expect(r"Welcome, carol!")


async def test_server_giving_up_on_the_nickname_is_noticed_at_once(
    start_client: Starter,
) -> None:
    """While the user is asked for a nickname, the server's time-out still gets through."""
    async with ChatServer(ServerSettings(host="127.0.0.1", port=0, register_timeout=0.1)) as slow:
        _, frontend, task = start_client(slow.port)
        await frontend.expect("Choose a nickname")
        assert await finished(task) == 1
    await frontend.expect(r"!!! no nickname was chosen in time")
    await frontend.expect(r"!!! the server closed the connection; exiting")


async def test_events_from_others_are_rendered(
    server: ChatServer, client: ClientFactory, start_client: Starter
) -> None:
    """Messages, actions, private messages, joins, nick changes and leaves are all shown."""
    chat_client, frontend, _ = start_client(server.port, nick="alice")
    await frontend.expect("Welcome, alice")
    bob = await client("bob")
    await frontend.expect(r"\*\*\* bob joined$")
    assert chat_client.state.users == ["alice", "bob"]
    await bob.send("plain words", "/me waves", "/msg alice a secret", "/nick rob", "/quit")
    await frontend.expect(r"<bob> plain words$")
    await frontend.expect(r"\* bob waves$")
    await frontend.expect(r"\[private\] from bob: a secret$")
    await frontend.expect(r"\*\*\* bob is now known as rob$")
    await frontend.expect(r"\*\*\* rob left \(quit\)$")
    assert chat_client.state.users == ["alice"]
    assert frontend.alerts == [line for line in frontend.shown if "[private]" in line]


async def test_mention_alerts(
    server: ChatServer, client: ClientFactory, start_client: Starter
) -> None:
    """A message naming the user rings the bell; one that does not stays quiet."""
    _, frontend, _ = start_client(server.port, nick="alice")
    await frontend.expect("Welcome, alice")
    bob = await client("bob")
    await bob.send("nothing to see", "ALICE: look here")
    await frontend.expect("look here")
    assert [line for line in frontend.alerts if "<bob>" in line] == [frontend.shown[-1]]


async def test_own_lines_are_sent_and_shown_as_sent(
    server: ChatServer, client: ClientFactory, start_client: Starter
) -> None:
    """A typed line reaches the others and is shown once, as sent; /me too; //x sends /x."""
    bob = await client("bob")
    _, frontend, _ = start_client(server.port, nick="alice")
    await bob.expect(r"alice joined")
    frontend.type("hello bob", "/me smiles", "//slash")
    await bob.expect(r"<alice> hello bob$")
    await bob.expect(r"\* alice smiles$")
    await bob.expect(r"<alice> /slash$")
    await frontend.expect(r"<alice> /slash$")
    assert sum("hello bob" in line for line in frontend.shown) == 1


async def test_own_nick_change_comes_back_and_is_followed(
    server: ChatServer, client: ClientFactory, start_client: Starter
) -> None:
    """/nick is confirmed by the server's nick event; the client then uses the new name."""
    chat_client, frontend, _ = start_client(server.port, nick="alice")
    await frontend.expect("Welcome, alice")
    frontend.type("/nick alicia")
    await frontend.expect(r"alice is now known as alicia")
    assert chat_client.state.nick == "alicia"
    assert chat_client.state.prompt() == "alicia #lobby> "


async def test_lines_typed_before_registration_are_sent_in_order(
    server: ChatServer, client: ClientFactory, start_client: Starter
) -> None:
    """Lines that arrive before the welcome wait for it, then go out in order."""
    bob = await client("bob")
    _, frontend, _ = start_client(server.port, nick="alice", interactive=False)
    frontend.type("one", "two", "three")
    for word in ("one", "two", "three"):
        await bob.expect(rf"<alice> {word}$")


async def test_format_stays_local(server: ChatServer, start_client: Starter) -> None:
    """/format is refused by the client itself: it needs the JSON rendering."""
    _, frontend, _ = start_client(server.port, nick="alice")
    await frontend.expect("Welcome, alice")
    frontend.type("/format text", "/users")
    await frontend.expect(r"!!! /format is not available here")
    await frontend.expect(r"\*\*\* 1 user online: alice")


async def test_help_is_the_clients_own(server: ChatServer, start_client: Starter) -> None:
    """/help is answered by the client: no /format, the keys listed, nothing asked of the
    server."""
    _, frontend, _ = start_client(server.port, nick="alice")
    await frontend.expect("Welcome, alice")
    frontend.type("/help", "/users")
    await frontend.expect(r"\*\*\* 1 user online: alice")
    assert sum(line.endswith("*** Commands:") for line in frontend.shown) == 1
    assert any("Ctrl-C" in line for line in frontend.shown)
    assert not any("/format" in line for line in frontend.shown)


async def test_an_overlong_message_goes_out_in_pieces_under_the_servers_limit(
    start_client: Starter,
) -> None:
    """With a server that takes 100-byte lines (its welcome says so), a 250-byte message
    reaches the room as three messages cut at spaces, and the user is told."""
    settings = ServerSettings(host="127.0.0.1", port=0, max_line_bytes=100)
    async with ChatServer(settings) as small:
        bob = await LineClient.connect(small.port)
        try:
            await bob.expect("Choose a nickname")
            await bob.register("bob")
            _, frontend, _ = start_client(small.port, nick="alice")
            await bob.expect("alice joined")
            words = [f"word{number:03}" for number in range(35)]
            frontend.type(" ".join(words))
            await frontend.expect(r"\*\*\* That was too long for one line .*3 messages")
            received = [(await bob.expect(r"<alice> (.*)$")).group(1) for _ in range(3)]
            assert " ".join(received) == " ".join(words)
            assert not any("line too long" in line for line in frontend.shown)
        finally:
            await bob.close()


async def test_an_overlong_command_is_refused_with_the_reason(
    server: ChatServer, start_client: Starter
) -> None:
    """A /search too long for the server is not sent; the user is told why."""
    _, frontend, _ = start_client(server.port, nick="alice")
    await frontend.expect("Welcome, alice")
    frontend.type("/search " + "why " * 2000, "/users")
    await frontend.expect(r"!!! not sent: that line is 8,008 bytes and the server takes 4,096")
    await frontend.expect(r"\*\*\* 1 user online: alice")
    assert not any("line too long" in line for line in frontend.shown)


async def test_refused_nickname_is_not_shown_as_ours(
    server: ChatServer, client: ClientFactory, start_client: Starter
) -> None:
    """After the server refuses --nick, the toolbar shows no nickname until one is accepted."""
    await client("bob")
    chat_client, frontend, _ = start_client(server.port, nick="Bob")
    await frontend.expect(r"!!! the nickname 'Bob' is taken")
    assert chat_client.state.nick is None
    assert "Bob" not in plain(chat_client.state.toolbar())
    frontend.type("alice")
    await frontend.expect(r"Welcome, alice!")
    assert " alice | 2 online " in plain(chat_client.state.toolbar())


async def test_exit_leaves_with_status_0(
    server: ChatServer, client: ClientFactory, start_client: Starter
) -> None:
    """/exit tells the server, which says goodbye; the client ends with status 0."""
    bob = await client("bob")
    _, frontend, task = start_client(server.port, nick="alice")
    await frontend.expect("Welcome, alice")
    frontend.type("/exit")
    assert await finished(task) == 0
    await frontend.expect(r"\*\*\* Goodbye!")
    await bob.expect(r"alice left \(quit\)")


async def test_ctrl_d_leaves_with_status_0(server: ChatServer, start_client: Starter) -> None:
    """End of input (Ctrl-D, Ctrl-C) leaves cleanly too."""
    _, frontend, task = start_client(server.port, nick="alice")
    await frontend.expect("Welcome, alice")
    frontend.press_ctrl_d()
    assert await finished(task) == 0


async def test_leaving_while_asked_for_a_nickname(
    server: ChatServer, start_client: Starter
) -> None:
    """Ctrl-D at the nickname question leaves with status 0."""
    _, frontend, task = start_client(server.port)
    await frontend.expect("Choose a nickname")
    frontend.press_ctrl_d()
    assert await finished(task) == 0


async def lose_the_server(
    settings: ServerSettings, start_client: Starter
) -> tuple[ScriptedFrontend, int]:
    """Start a server and a client as alice, close the server; the front end and exit status."""
    chat_server = ChatServer(settings)
    await chat_server.start()
    _, frontend, task = start_client(chat_server.port, nick="alice")
    await frontend.expect("Welcome, alice")
    await chat_server.close()
    return frontend, await finished(task)


async def test_server_going_away_exits_non_zero(
    settings: ServerSettings, start_client: Starter
) -> None:
    """Without --reconnect, the client says the server went away and ends with status 1."""
    frontend, status = await lose_the_server(settings, start_client)
    assert status == 1
    await frontend.expect(r"\*\*\* the server is shutting down")
    await frontend.expect(r"!!! the connection to 127\.0\.0\.1:\d+ was closed; exiting")


async def test_leaving_because_the_server_closed_mentions_reconnect(
    settings: ServerSettings, start_client: Starter
) -> None:
    """A client that exits because its server went away says, last, that --reconnect exists."""
    frontend, status = await lose_the_server(settings, start_client)
    assert status == 1
    assert "--reconnect waits for the server and comes back" in frontend.shown[-1]


async def test_unreachable_server_exits_non_zero(
    settings: ServerSettings, start_client: Starter
) -> None:
    """A server that is not there is reported, with status 1."""
    chat_server = ChatServer(settings)
    await chat_server.start()
    port = chat_server.port
    await chat_server.close()
    _, frontend, task = start_client(port, nick="alice")
    assert await finished(task) == 1
    await frontend.expect(
        r"!!! cannot connect to 127\.0\.0\.1:\d+: connection refused "
        r"\(is the server running, on that port\?\); exiting$"
    )


async def test_reconnects_and_re_registers(settings: ServerSettings, start_client: Starter) -> None:
    """With --reconnect, a restarted server gets the client back under the same nickname."""
    first = ChatServer(settings)
    await first.start()
    port = first.port
    chat_client, frontend, _ = start_client(
        port, nick="alice", reconnect=True, reconnect_delay=0.05, reconnect_max_delay=0.2
    )
    await frontend.expect("Welcome, alice")
    frontend.type("/nick alicia")
    await frontend.expect("now known as alicia")
    await first.close()
    await frontend.expect(r"reconnecting in \d")
    second = ChatServer(ServerSettings(host="127.0.0.1", port=port))
    await second.start()
    try:
        await frontend.expect(r"Welcome, alicia! 1 user online: alicia")
        assert chat_client.state.link is Link.CONNECTED
        assert chat_client.backoff.attempts == 0
    finally:
        await second.close()


async def test_a_reconnection_joins_the_rooms_again_before_typed_lines(
    settings: ServerSettings, start_client: Starter
) -> None:
    """Back after a loss, the client joins its rooms again, makes the current one current
    again, and only then sends what was typed meanwhile (meant for that room)."""
    away = ChatServer(settings)
    await away.start()
    port = away.port
    chat_client, frontend, _ = start_client(
        port, nick="alice", reconnect=True, reconnect_delay=0.05
    )
    await frontend.expect("Welcome, alice")
    frontend.type("/join #ops", "/join #dev")
    await frontend.expect(r"you are now talking in #dev")
    await away.close()
    await frontend.expect("reconnecting in")
    frontend.type("/topic for dev")
    back = ChatServer(ServerSettings(host="127.0.0.1", port=port))
    await back.start()
    try:
        await frontend.expect(r"joining #ops, #dev again")
        await frontend.expect(r"you are now talking in #dev")
        # The topic, typed while away, is set in #dev, current again by then.
        await frontend.expect(r"\] \*\*\* alice set the topic: for dev$")
        assert chat_client.state.rooms == ["#lobby", "#ops", "#dev"]
        assert chat_client.state.prompt() == "alice #dev> "
        dev = chat_client.state.room("#dev")
        assert dev is not None
        assert dev.topic == "for dev"
    finally:
        await back.close()


async def test_lines_typed_while_reconnecting_wait_for_the_connection(
    settings: ServerSettings, start_client: Starter
) -> None:
    """A line typed while the server is away is sent once the client is back."""
    away = ChatServer(settings)
    await away.start()
    port = away.port
    _, frontend, _ = start_client(port, nick="alice", reconnect=True, reconnect_delay=0.05)
    await frontend.expect("Welcome, alice")
    await away.close()
    await frontend.expect("reconnecting in")
    frontend.type("sent later")
    back = ChatServer(ServerSettings(host="127.0.0.1", port=port))
    await back.start()
    try:
        await frontend.expect(r"Welcome, alice")
        await frontend.expect(r"<alice> sent later$")
    finally:
        await back.close()


async def test_client_sanitises_what_the_server_sends(start_client: Starter) -> None:
    """Escape sequences, controls and bidi overrides from a server never reach the screen."""
    hostile: list[dict[str, object]] = [
        {"type": "message", "nick": "m\x1b[31mallory", "text": "\x1b]0;pwned\x07title\u202eX"},
        {"type": "notice", "text": "clip\x1b]52;c;aGk=\x07board\x07\x08"},
        {"type": "action", "nick": "mallory", "text": "\x9b2Jclears\rscreen"},
        {"type": "join", "nick": "the-end"},
    ]
    async with hostile_server(hostile) as port:
        _, frontend, _ = start_client(port, nick="alice")
        await frontend.expect("Welcome, alice")
        frontend.type("go")
        await frontend.expect("the-end joined")
    for line in frontend.shown:
        assert line.isprintable(), repr(line)
    assert any(line.endswith("<mallory> titleX") for line in frontend.shown)


class BehindFrontend(ScriptedFrontend):
    """A front end whose screen is behind until the test lets it catch up."""

    def __init__(self) -> None:
        super().__init__()
        self.behind = asyncio.Event()
        self.caught_up = asyncio.Event()

    async def wait_for_room(self) -> None:
        self.behind.set()
        await self.caught_up.wait()


async def test_no_more_is_read_while_the_screen_is_behind() -> None:
    """The receiving side reads the next event only once the front end has room for it,
    so a flood waits in the network, not in the client's memory."""
    joins: list[dict[str, object]] = [{"type": "join", "nick": nick} for nick in "abc"]
    async with hostile_server(joins) as port:
        frontend = BehindFrontend()
        settings = ClientSettings(host="127.0.0.1", port=port, nick="alice")
        running = asyncio.create_task(ChatClient(settings, frontend, ChatState("h")).run())
        try:
            await frontend.expect("Welcome, alice")
            frontend.type("go")
            async with asyncio.timeout(5):
                await frontend.behind.wait()
            assert frontend.shown[-1].endswith("*** a joined")
            frontend.caught_up.set()
            await frontend.expect(r"\*\*\* c joined$")
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


async def test_events_with_wrong_field_types_are_skipped(start_client: Starter) -> None:
    """A server that sends a number for a nickname or null for a text cannot crash the
    client: those events are skipped, and the next good one is shown."""
    broken: list[dict[str, object]] = [
        {"type": "message", "nick": 5, "text": "number for a nick"},
        {"type": "message", "nick": "mallory", "text": None},
        {"type": "users", "users": ["a", 3]},
        {"type": "join", "nick": "the-end"},
    ]
    async with hostile_server(broken) as port:
        _, frontend, task = start_client(port, nick="alice")
        await frontend.expect("Welcome, alice")
        frontend.type("go")
        await frontend.expect("the-end joined")
        assert not task.done()
    assert not any("number for a nick" in line for line in frontend.shown)


async def test_a_pasted_block_is_sent_line_by_line(
    server: ChatServer, client: ClientFactory, start_client: Starter
) -> None:
    """Several lines pasted at once go out, and are shown, as separate lines."""
    bob = await client("bob")
    _, frontend, _ = start_client(server.port, nick="alice")
    await bob.expect("alice joined")
    frontend.type("first pasted\nsecond pasted")
    await bob.expect(r"<alice> first pasted$")
    await bob.expect(r"<alice> second pasted$")
    await frontend.expect(r"<alice> second pasted$")


def test_outgoing_lines() -> None:
    """What is sent and shown for chat, /me, //escapes, commands and blank lines."""
    wire, shown = outgoing("hi", "alice")
    assert wire == "hi"
    assert shown is not None
    assert plain(shown.lines[0]).endswith("<alice> hi")
    wire, shown = outgoing("//etc/passwd", "alice")
    assert wire == "//etc/passwd"
    assert shown is not None
    assert plain(shown.lines[0]).endswith("<alice> /etc/passwd")
    assert outgoing("/users", "alice") == ("/users", None)
    assert outgoing("   ", "alice") == (None, None)
    wire, shown = outgoing("/me waves", "alice")
    assert wire == "/me waves"
    assert shown is not None
    assert plain(shown.lines[0]).endswith("* alice waves")


def test_a_line_said_in_another_room_is_shown_marked_with_it() -> None:
    """`/msg #room text` (not echoed by the server) is shown as sent, marked with its room
    unless it is current; for a room the user is not in, nothing is shown."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", ("alice",), room="#lobby"))
    state.apply(Join(2, TS, "alice", "#dev"))
    wire, shown = outgoing("/msg #dev hello dev", "alice", state)
    assert wire == "/msg #dev hello dev"
    assert shown is not None
    assert plain(shown.lines[0]).endswith("] #dev <alice> hello dev")
    _, shown = outgoing("/msg #Lobby here", "alice", state)
    assert shown is not None
    assert plain(shown.lines[0]).endswith("] <alice> here")
    assert outgoing("/msg #elsewhere hi", "alice", state) == ("/msg #elsewhere hi", None)
    assert outgoing("/msg bob hi", "alice", state) == ("/msg bob hi", None)


async def test_a_crafted_line_or_value_cannot_crash_the_client(start_client: Starter) -> None:
    """Deep nesting, NaN, a time in the year 0, bad ids and a huge user list are skipped,
    never drawn, and the client goes on."""
    crafted: list[dict[str, object] | str] = [
        "[" * 100_000,
        '{"type":"join","id":NaN,"ts":"2026-01-01T00:00:00Z","nick":"nan-id"}',
        {"type": "message", "ts": "0001-01-01T00:00:00+14:00", "nick": "m", "text": "year 0"},
        {"type": "join", "id": -1, "nick": "negative-id"},
        {"type": "join", "id": True, "nick": "bool-id"},
        {"type": "users", "users": [f"u{number}" for number in range(10_001)]},
        {"type": "join", "nick": "the-end"},
    ]
    async with hostile_server(crafted) as port:
        chat_client, frontend, task = start_client(port, nick="alice")
        await frontend.expect("Welcome, alice")
        frontend.type("go")
        await frontend.expect("the-end joined")
        assert not task.done()
    assert not any(word in line for line in frontend.shown for word in ("year 0", "-id", "u9"))
    assert chat_client.state.users == ["alice", "the-end"]


async def test_a_line_holding_separators_stays_one_message(
    server: ChatServer, client: ClientFactory, start_client: Starter
) -> None:
    """U+2028, \\x0b and \\r inside a piped line do not split it: "/exit" there is text."""
    bob = await client("bob")
    _, frontend, task = start_client(server.port, nick="alice", interactive=False)
    await bob.expect("alice joined")
    frontend.type("a\u2028/exit", "b\x0b/exit", "c\r/exit", "crlf\r", "after")
    await bob.expect(r"<alice> a/exit$")
    await bob.expect(r"<alice> b/exit$")
    await bob.expect(r"<alice> c/exit$")
    await bob.expect(r"<alice> crlf$")
    await bob.expect(r"<alice> after$")
    assert not task.done()


def test_typed_lines_split_at_newlines_only() -> None:
    """A paste splits at \\n alone; a trailing \\r goes, other separators stay."""
    assert typed_lines("one\r\ntwo\u2028three\x0bfour\rfive") == [
        "one",
        "two\u2028three\x0bfour\rfive",
    ]


def test_fallback_nicknames_fit_the_length_limit() -> None:
    """Fallbacks are nick_, nick__, nick2 …, each cut to fit 32 characters."""
    assert fallback_nicks("alice", 4) == ["alice_", "alice__", "alice2", "alice3"]
    assert all(len(nick) == 32 for nick in fallback_nicks("x" * 32))
    assert len(set(fallback_nicks("x" * 32))) == 10


async def test_after_a_reconnect_typed_lines_never_become_a_nickname(
    settings: ServerSettings, start_client: Starter
) -> None:
    """The server still holds the nickname after a reconnect: the client picks alice_,
    says so, and the lines typed meanwhile are sent as chat."""
    first = ChatServer(settings)
    await first.start()
    port = first.port
    chat_client, frontend, _ = start_client(port, nick="alice", reconnect=True, reconnect_delay=1.0)
    await frontend.expect("Welcome, alice")
    await first.close()
    await frontend.expect("reconnecting in")
    frontend.type("meet me at 5 with the launch codes", "hello")
    async with ChatServer(ServerSettings(host="127.0.0.1", port=port)) as second:
        ghost = await LineClient.connect(second.port)
        try:
            await ghost.register("alice")  # the old connection, as the server still sees it
            await ghost.expect(r"\*\*\* alice_ joined$")
            await ghost.expect(r"<alice_> meet me at 5 with the launch codes$")
            await ghost.expect(r"<alice_> hello$")
        finally:
            await ghost.close()
    await frontend.expect(r"trying the nickname alice_ instead")
    await frontend.expect(r"alice is taken, so you are alice_ for now; /nick alice takes it back")
    assert not any("known as" in line for line in frontend.shown)
    assert chat_client.state.nick == "alice_"


async def test_a_line_typed_before_the_nickname_question_stays_chat(
    server: ChatServer, client: ClientFactory, start_client: Starter
) -> None:
    """At a terminal, --nick taken asks again; a line typed before the question is sent as
    chat once registered, and only the line typed after it is the nickname."""
    bob = await client("bob")
    chat_client, frontend, _ = start_client(server.port, nick="bob")
    frontend.type("hi all")
    await frontend.expect(r"Choose another nickname:")
    frontend.type("alice")
    await bob.expect(r"\*\*\* alice joined$")
    await bob.expect(r"<alice> hi all$")
    assert chat_client.state.nick == "alice"


async def test_piped_taken_nickname_falls_back_by_itself(
    server: ChatServer, client: ClientFactory, start_client: Starter
) -> None:
    """From a pipe, a taken --nick is replaced by bob_; the script's lines stay chat."""
    bob = await client("bob")
    _, frontend, _ = start_client(server.port, nick="bob", interactive=False)
    frontend.type("hello")
    await bob.expect(r"\*\*\* bob_ joined$")
    await bob.expect(r"<bob_> hello$")


async def test_piped_refused_nickname_ends_the_connection(
    server: ChatServer, start_client: Starter
) -> None:
    """From a pipe, an invalid --nick is reported and ends the run: no line is tried as one."""
    _, frontend, task = start_client(server.port, nick="not valid!", interactive=False)
    frontend.type("a chat line")
    assert await finished(task) == 1
    await frontend.expect(r"!!! the server refused the nickname not valid!; exiting")
    assert not any("a chat line" in line for line in frontend.shown)


@pytest.mark.parametrize(
    "setting",
    [
        {"port": 70000},
        {"reconnect_delay": float("nan")},
        {"reconnect_max_delay": float("inf")},
        {"connect_timeout": -1.0},
    ],
    ids=str,
)
def test_client_settings_refuse_values_that_cannot_work(setting: dict[str, float]) -> None:
    """A port past 65535 or a delay that is NaN, infinite or negative is a usage error."""
    with pytest.raises(ValueError, match="must be"):
        ClientSettings(**setting)  # type: ignore[arg-type]


async def test_a_server_that_never_welcomes_is_given_up_on(start_client: Starter) -> None:
    """A server that never answers the nickname is left after --connect-timeout, status 1."""
    async with hostile_server([], welcome=False) as port:
        _, frontend, task = start_client(port, nick="alice", connect_timeout=0.2)
        assert await finished(task) == 1
    await frontend.expect(r"!!! 127\.0\.0\.1:\d+ did not answer in time; exiting")
