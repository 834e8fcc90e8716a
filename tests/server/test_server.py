"""End-to-end behaviour of the multi-client server over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from tcpchat.config import ServerSettings
from tcpchat.core.pacing import FlushGate
from tcpchat.server.chat import ChatServer
from tests.conftest import ClientFactory
from tests.support.fakes import next_pass
from tests.support.helpers import LineClient

TIME = r"\[\d\d:\d\d:\d\d\]"


async def test_greeting_asks_for_a_nickname(server: ChatServer) -> None:
    """A new connection is greeted and asked for a nickname before anything else."""
    raw = await LineClient.connect(server.port)
    try:
        await raw.expect(rf"^{TIME} \*\*\* Welcome to tcpchat\. Choose a nickname")
    finally:
        await raw.close()


async def test_message_is_relayed_with_timestamp_and_nick(client: ClientFactory) -> None:
    """A chat line reaches the others as `[HH:MM:SS] <nick> text`."""
    alice = await client("alice")
    bob = await client("bob")
    await alice.expect(r"\*\*\* bob joined")
    await alice.send("hello bob")
    await bob.expect(rf"^{TIME} <alice> hello bob$")


async def test_json_rendering_carries_the_same_message(client: ClientFactory) -> None:
    """A JSON-rendering client gets the message as one JSON object per line."""
    alice = await client("alice")
    bob = await client("bob", json_mode=True)
    await alice.send("hello in json")
    message = await bob.expect_json("message")
    assert (message["nick"], message["text"]) == ("alice", "hello in json")
    assert message["ts"].endswith("Z")
    assert isinstance(message["id"], int)


async def test_sender_gets_no_echo(client: ClientFactory) -> None:
    """The sender does not get its own message back; the next thing it sees is others'."""
    alice = await client("alice")
    bob = await client("bob")
    await alice.expect("bob joined")
    await alice.send("mine")
    await bob.expect("<alice> mine")
    await bob.send("yours")
    line = await alice.read_line()
    assert line is not None
    assert line.endswith("<bob> yours")


async def test_others_see_a_join_only_after_registration(client: ClientFactory) -> None:
    """'NAME joined' comes when the nickname is accepted, not at connect."""
    alice = await client("alice")
    newcomer = await client()
    await newcomer.send("Alice")
    await newcomer.expect(r"!!! the nickname 'Alice' is taken")
    await newcomer.expect("Choose a nickname")
    await newcomer.send("bad nick!")
    await newcomer.expect(r"!!! a nickname may hold only")
    await newcomer.send("carol")
    await newcomer.expect(r"\*\*\* Welcome, carol!")
    line = await alice.read_line()
    assert line is not None
    assert line.endswith("*** carol joined")


async def test_lookalike_and_reserved_lookalike_nicks_are_refused(client: ClientFactory) -> None:
    """b၀b (a Myanmar zero) cannot pose as bob, nor Greek ΑΙ as the AI."""
    await client("bob")
    newcomer = await client()
    await newcomer.send("b\u1040b")
    await newcomer.expect(r"!!! a nickname may not mix scripts \(Latin and Myanmar\)")
    await newcomer.send("\u0391\u0399")
    await newcomer.expect(r"!!! the nickname '\u0391\u0399' looks like a reserved name")
    await newcomer.send("\u0431\u043e\u0431")
    await newcomer.expect(r"\*\*\* Welcome, \u0431\u043e\u0431!")


async def test_taken_nick_in_json_rendering(client: ClientFactory) -> None:
    """The JSON rendering reports a taken nickname with a machine-readable code."""
    await client("alice")
    other = await client()
    await other.send("/format json", "ALICE")
    error = await other.expect_json("error")
    assert error["code"] == "nick_taken"
    await other.send("bob")
    welcome = await other.expect_json("welcome")
    assert welcome["nick"] == "bob"
    assert welcome["users"] == ["alice", "bob"]


async def test_every_command_over_the_wire(client: ClientFactory) -> None:
    """Each command answers its sender, or the room, as documented."""
    alice = await client("alice")
    bob = await client("bob")
    await alice.expect("bob joined")

    await alice.send("/help")
    await alice.expect(r"\*\*\*   /msg NICK TEXT")
    await alice.send("/users")
    await alice.expect(rf"^{TIME} \*\*\* 2 users online: alice, bob$")
    await alice.send("/me waves")
    await bob.expect(rf"^{TIME} \* alice waves$")
    await alice.send("/msg bob psst")
    await bob.expect(rf"^{TIME} \[private\] alice -> bob: psst$")
    await alice.expect(r"\[private\] alice -> bob: psst$")
    await alice.send("/search anything")
    await alice.expect("!!! search is not available")
    await alice.send("/nick alicia")
    await bob.expect(r"\*\*\* alice is now known as alicia$")
    await alice.expect(r"\*\*\* alice is now known as alicia$")
    await alice.send("/exit")
    await alice.expect(r"\*\*\* Goodbye!")
    await alice.expect_eof()
    await bob.expect(r"\*\*\* alicia left \(quit\)$")


async def test_unknown_command_is_an_error_to_the_sender_only(client: ClientFactory) -> None:
    """An unknown command answers its sender with a pointer to /help; others see nothing."""
    alice = await client("alice")
    bob = await client("bob")
    await alice.expect("bob joined")
    await alice.send("/frobnicate now")
    await alice.expect(r"!!! unknown command /frobnicate; type /help")
    await alice.send("after")
    line = await bob.read_line()
    assert line is not None
    assert line.endswith("<alice> after")


async def test_eof_is_announced_once(client: ClientFactory) -> None:
    """A client that just closes its socket is announced as gone, once."""
    alice = await client("alice")
    bob = await client("bob")
    await alice.expect("bob joined")
    await bob.close()
    await alice.expect(r"\*\*\* bob left \(connection closed\)$")
    await alice.send("/users")
    line = await alice.read_line()
    assert line is not None
    assert line.endswith("*** 1 user online: alice")


async def test_reset_mid_line_is_announced_and_the_partial_line_dropped(
    server: ChatServer, client: ClientFactory
) -> None:
    """A connection reset halfway through a line leaves no message behind."""
    alice = await client("alice")
    bob = await client("bob")
    await alice.expect("bob joined")
    await bob.send_bytes(b"this line never ends")
    sock = bob.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    bob.writer.transport.abort()  # RST instead of FIN
    await alice.expect(r"\*\*\* bob left \(connection (lost|closed)\)$")
    assert "never ends" not in "\n".join(alice.seen)
    assert server.hub.nicks() == ("alice",)


async def test_nickname_is_free_again_at_once(client: ClientFactory) -> None:
    """A nickname freed by a departure can be taken straight away."""
    first = await client("alice")
    await first.send("/quit")
    await first.expect_eof()
    again = await client("alice")
    await again.send("/users")
    await again.expect(r"\*\*\* 1 user online: alice$")


async def test_server_reports_zero_members_after_everyone_leaves(
    server: ChatServer, client: ClientFactory
) -> None:
    """Members who leave are gone from the hub: no ghosts."""
    alice = await client("alice")
    await alice.send("/quit")
    await alice.expect_eof()
    assert len(server.hub) == 0


# Flood control would pace each sender at 5 lines a second; this is about delivery.
@pytest.mark.parametrize(
    "settings", [ServerSettings(host="127.0.0.1", port=0, flood_control=False)]
)
async def test_many_clients_receive_everything_once_in_order(client: ClientFactory) -> None:
    """20 clients × 50 messages: each client gets every other client's messages exactly
    once, and all clients see them in the same order."""
    clients = [await client(f"user{n}", json_mode=True) for n in range(20)]
    # Everyone sees every later join; wait until the last join reached everyone.
    for member in clients[:-1]:
        while (await member.expect_json("join"))["nick"] != "user19":
            pass

    async def chatter(index: int, member: LineClient) -> None:
        await member.send(*(f"m{index}-{k}" for k in range(50)))

    async def collect(member: LineClient) -> list[tuple[int, str]]:
        received: list[tuple[int, str]] = []
        while len(received) < 19 * 50:
            event = await member.expect_json("message", timeout=20)
            received.append((event["id"], event["text"]))
        return received

    collectors = [asyncio.create_task(collect(member)) for member in clients]
    await asyncio.gather(*(chatter(i, member) for i, member in enumerate(clients)))
    results = await asyncio.gather(*collectors)

    everything: dict[int, str] = {}
    for index, received in enumerate(results):
        texts = [text for _, text in received]
        expected = {f"m{i}-{k}" for i in range(20) if i != index for k in range(50)}
        assert len(texts) == len(set(texts)) == len(expected)  # exactly once
        assert set(texts) == expected  # nothing lost, no echo
        ids = [event_id for event_id, _ in received]
        assert ids == sorted(ids)  # one order: the server's
        for i in range(20):  # each sender's lines in the order they were sent
            mine = [t for t in texts if t.startswith(f"m{i}-")]
            assert mine == sorted(mine, key=lambda t: int(t.split("-")[1]))
        everything.update(received)
    assert len(everything) == 20 * 50  # an id means the same message to everyone


async def test_a_busy_server_writes_a_burst_to_each_member_in_one_write(
    server: ChatServer, client: ClientFactory
) -> None:
    """While the loop is busy, lines said one loop turn apart reach a member in one write."""
    # Busy from its second pass on, with a window no test machine can miss.
    server.hub.pacer = FlushGate(window=0.5, enter_share=0.0, leave_share=0.0, sample_seconds=1e-9)
    alice, bob = await client("alice"), await client("bob")
    await alice.expect("bob joined")
    await alice.send("first")
    await bob.expect("<alice> first$")
    before = server.hub.writes
    for number in range(5):  # each line read and published in a loop turn of its own
        said = server.hub.messages
        await alice.send(f"burst {number}")
        while server.hub.messages == said:
            await next_pass()
    for number in range(5):
        await bob.expect(f"<alice> burst {number}$")
    assert server.hub.writes - before == 1  # to bob; alice is sent nothing of her own


async def test_http_request_gets_a_plain_answer_and_is_closed(server: ChatServer) -> None:
    """A browser pointed at the port learns this is a chat server."""
    browser = await LineClient.connect(server.port)
    try:
        await browser.send("GET / HTTP/1.1", "Host: localhost", "")
        lines = await browser.expect_eof()
        assert any("This is a tcpchat chat server" in line for line in lines)
    finally:
        await browser.close()


async def test_tls_hello_on_plain_port_is_closed(server: ChatServer) -> None:
    """A TLS ClientHello on the plain-text port is closed without a reply beyond the greeting."""
    tls_client = await LineClient.connect(server.port)
    try:
        await tls_client.send_bytes(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\0" * 32)
        lines = await tls_client.expect_eof()
        assert not any("!!!" in line for line in lines)
    finally:
        await tls_client.close()


@pytest.mark.parametrize("settings", [ServerSettings(host="127.0.0.1", port=0)])
async def test_two_servers_in_one_process_are_independent(settings: ServerSettings) -> None:
    """Servers share no state: the same nickname can be used on both."""
    async with ChatServer(settings) as one, ChatServer(settings) as two:
        a = await LineClient.connect(one.port)
        b = await LineClient.connect(two.port)
        try:
            await a.register("alice")
            await b.register("alice")
            assert one.port != two.port
        finally:
            await a.close()
            await b.close()


async def test_server_close_tells_clients_and_closes_them(server: ChatServer) -> None:
    """Closing the server tells each client why and closes its connection."""
    raw = await LineClient.connect(server.port)
    try:
        await raw.register("alice")
        await server.close()
        lines = await raw.expect_eof()
        assert any("shutting down" in line for line in lines)
    finally:
        await raw.close()
