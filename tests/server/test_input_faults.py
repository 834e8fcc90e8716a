"""Bad input over real sockets: overlong lines, invalid UTF-8, escapes, lookalikes, strangers."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from tcpchat.server.chat import ChatServer
from tests.conftest import ClientFactory
from tests.support.faults import close_writer, wait_until
from tests.support.helpers import LineClient


def rss_bytes() -> int:
    """This process's resident memory, from /proc."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


async def test_tail_of_an_overlong_line_is_never_a_command(
    server: ChatServer, client: ClientFactory
) -> None:
    """70,000 bytes, a pause, then `/nick admin` on the same line: `admin` must not appear.

    ``StreamReader.readline()`` clears its buffer when a line overflows its limit,
    so a server built on it reads the rest of the line as a new line and runs
    ``/nick admin``. The pause is what exposes that: the tail must arrive after
    the server has read and thrown away the first 70,000 bytes. Rather than
    sleeping and hoping, the test waits on the server's ``received_bytes``
    counter, which says exactly when those bytes have been read.
    """
    alice = await client("alice")
    bob = await client("bob")
    await alice.expect(r"\*\*\* bob joined")
    before = server.received_bytes
    await alice.send_bytes(b"A" * 70_000)
    await wait_until(lambda: server.received_bytes >= before + 70_000)
    await alice.send_bytes(b"/nick admin\n")
    await alice.expect(r"!!! line too long \(the limit is 4096 bytes\); discarded")
    await alice.send("/users")
    online = await alice.expect(r"\*\*\* 2 users online: (.*)$")
    assert online.group(1) == "alice, bob"
    await alice.send("still alice")
    await bob.expect(r"<alice> still alice")
    assert not any("admin" in line for line in alice.seen + bob.seen)
    assert server.hub.find("admin") is None


async def test_overlong_line_gets_exactly_one_error_and_the_next_line_works(
    client: ClientFactory,
) -> None:
    """A line past the limit is discarded whole with one error; the following line is relayed."""
    alice = await client("alice")
    bob = await client("bob")
    await alice.expect(r"\*\*\* bob joined")
    await alice.send_bytes(b"x" * 5000 + b" /nick admin\nafter\n")
    await bob.expect(r"<alice> after$")
    await alice.send("/users")
    await alice.expect(r"online: alice, bob")
    assert sum("line too long" in line for line in alice.seen) == 1
    assert not any("xxxx" in line for line in bob.seen)


async def test_memory_stays_bounded_however_long_the_line(
    server: ChatServer, client: ClientFactory
) -> None:
    """32 MiB without a newline leave the server's memory flat, and it keeps serving."""
    alice = await client("alice")
    bob = await client("bob")
    await alice.expect(r"\*\*\* bob joined")
    chunk = b"B" * (1 << 20)
    before = rss_bytes()
    for _ in range(32):
        await alice.send_bytes(chunk)
    await alice.send_bytes(b"\nhello after the flood\n")
    await bob.expect(r"<alice> hello after the flood$")
    growth = rss_bytes() - before
    assert growth < 16 * (1 << 20), f"memory grew by {growth} bytes"


async def test_invalid_utf8_gets_an_error_and_is_not_relayed(client: ClientFactory) -> None:
    """Not UTF-8: an error to the sender, nothing to the room, and the connection stays."""
    alice = await client("alice")
    bob = await client("bob")
    await alice.expect(r"\*\*\* bob joined")
    await alice.send_bytes(b"caf\xe9 \xff\xfe\n")
    await alice.expect(r"!!! that line was not valid UTF-8; it was not sent")
    await alice.send("valid again")
    line = (await bob.expect(r"<alice> ")).string
    assert line.endswith("<alice> valid again")


@pytest.mark.parametrize(
    ("sent", "relayed"),
    [
        ("\x1b[2J\x1b[31mred\x1b[0m", "red"),
        ("\x1b]0;pwned\x07title", "title"),
        ("abc\u202edcba", "abcdcba"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("tag\U000e0041s", "tags"),
        ("tab\there", "tab here"),
        ("fake\rline", "fakeline"),
        ("bell\x07\x7f\x85c1", "bellc1"),
        ("e" + "\u0301" * 30, "e" + "\u0301" * 4),
    ],
)
async def test_chat_text_is_sanitised_before_it_is_relayed(
    client: ClientFactory, sent: str, relayed: str
) -> None:
    """Escapes, controls, bidi and invisible characters never reach another terminal."""
    alice = await client("alice")
    bob = await client("bob")
    await alice.expect(r"\*\*\* bob joined")
    await alice.send_bytes(sent.encode() + b"\n")
    line = (await bob.expect(r"<alice> ")).string
    assert line.endswith(f"<alice> {relayed}")


async def test_me_and_private_messages_are_sanitised(client: ClientFactory) -> None:
    """`/me` and `/msg` text goes through the same sanitiser as chat text."""
    alice = await client("alice")
    bob = await client("bob")
    await alice.expect(r"\*\*\* bob joined")
    await alice.send("/me waves\x1b[5m\u202e", "/msg bob psst\x1b[8m\u200b!")
    assert (await bob.expect(r"\* alice ")).string.endswith("* alice waves")
    assert (await bob.expect(r"\[private\]")).string.endswith("[private] alice -> bob: psst!")


async def test_mixed_script_lookalike_of_a_nickname_is_refused(client: ClientFactory) -> None:
    """`bоb` with a Cyrillic о cannot register next to `bob`."""
    await client("bob")
    mallory = await client()
    await mallory.send("b\u043eb")
    await mallory.expect(r"!!! a nickname may not mix scripts \(Cyrillic and Latin\)")


async def test_http_request_gets_a_one_line_answer_and_is_closed(server: ChatServer) -> None:
    """A browser or scanner is told this is a chat server, then the connection closes.

    The greeting has already gone out when the request line arrives (``nc`` users
    must see it at once); the answer after it is one HTTP 400 with a one-line body.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        async with asyncio.timeout(5):
            reply = await reader.read()
        greeting, answer = reply.split(b"\n", 1)
        assert b"Welcome to tcpchat" in greeting
        assert answer.startswith(b"HTTP/1.0 400 Bad Request\r\n")
        body = answer.split(b"\r\n\r\n", 1)[1]
        assert body.count(b"\n") == 1
        assert b"chat server" in body
    finally:
        await close_writer(writer)


async def test_tls_client_hello_on_the_plain_port_is_closed(server: ChatServer) -> None:
    """A TLS client on the plain port gets its connection closed, not a chat greeting."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    async with asyncio.timeout(5):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await asyncio.open_connection("127.0.0.1", server.port, ssl=context)
    await wait_until(lambda: len(server.hub) == 0 and server.admission.total == 0)


async def test_tls_record_bytes_are_not_relayed(server: ChatServer) -> None:
    """Raw handshake bytes on the plain port end the connection before any line is taken."""
    stranger = await LineClient.connect(server.port)
    try:
        await stranger.send_bytes(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\n" * 4)
        lines = await stranger.expect_eof()
        assert not any("not valid UTF-8" in line for line in lines)
    finally:
        await stranger.close()


#: What ``nc`` sends before a line when the user pressed Ctrl-L, an arrow key
#: (normal and application cursor mode), or edited with a stray backspace.
KEY_DEBRIS = ["\x0c", "\x1b[A", "\x1bOA", "\x1b[A\x1b[B\x7f\x08"]


@pytest.mark.parametrize("debris", KEY_DEBRIS)
async def test_a_command_after_control_keys_is_a_command_not_chat(
    client: ClientFactory, debris: str
) -> None:
    """`^L/msg alice secret` is a private message: the room never sees it as chat."""
    alice = await client("alice")
    bob = await client("bob")
    mallory = await client("mallory")
    await bob.expect(r"\*\*\* mallory joined")
    await mallory.send_bytes(f"{debris}/msg alice my password is hunter2\n".encode())
    await alice.expect(r"\[private\] mallory -> alice: my password is hunter2$")
    await mallory.send("after")
    await bob.expect(r"<mallory> after$")
    assert not any("hunter2" in line for line in bob.seen)


async def test_quit_after_a_control_key_leaves(client: ClientFactory) -> None:
    """`^L/quit` quits; it is not posted to the room as `/quit`."""
    alice = await client("alice")
    bob = await client("bob")
    await alice.expect(r"\*\*\* bob joined")
    await bob.send_bytes(b"\x0c/quit\n")
    await bob.expect(r"\*\*\* Goodbye!")
    await alice.expect(r"\*\*\* bob left \(quit\)$")
    assert not any("/quit" in line for line in alice.seen)


async def test_a_nickname_after_an_arrow_key_registers_clean(server: ChatServer) -> None:
    """An arrow key before `/nick alice` (or a bare name) still registers `alice`."""
    newcomer = await LineClient.connect(server.port)
    try:
        await newcomer.expect("Choose a nickname")
        await newcomer.send_bytes(b"\x1b[A/nick alice\n")
        await newcomer.expect(r"\*\*\* Welcome, alice!")
    finally:
        await newcomer.close()
