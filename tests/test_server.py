"""End-to-end behaviour of the multi-client server over real sockets."""

from __future__ import annotations

from tcpchat.server import ChatServer
from tests.conftest import ClientFactory


async def test_message_is_relayed_with_timestamp_and_nick(client: ClientFactory) -> None:
    """A chat line reaches the others as `[HH:MM:SS] <nick> text`."""
    alice = await client("alice")
    bob = await client("bob")
    await alice.expect(r"\*\*\* bob joined")
    await alice.send("hello bob")
    await bob.expect(r"^\[\d\d:\d\d:\d\d\] <alice> hello bob$")


async def test_server_reports_zero_members_after_everyone_leaves(
    server: ChatServer, client: ClientFactory
) -> None:
    """Members who leave are gone from the hub: no ghosts."""
    alice = await client("alice")
    await alice.send("/quit")
    await alice.expect_eof()
    assert len(server.hub) == 0
