"""The hub's member list stays sorted as nicknames compare, through joins, renames and leaves."""

from __future__ import annotations

import asyncio
from typing import cast

from tcpchat.hub import LocalHub, Peer


class SilentTransport:
    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        pass


def peer() -> Peer:
    return Peer(cast(asyncio.WriteTransport, SilentTransport()))


def test_nicks_are_sorted_case_insensitively() -> None:
    """Members are listed in nickname order, whatever the case they chose."""
    hub = LocalHub()
    for nick in ("carol", "Bob", "alice", "Zed"):
        hub.join(peer(), nick)
    assert hub.nicks() == ("alice", "Bob", "carol", "Zed")


def test_nicks_follow_renames_and_leaves() -> None:
    """A rename moves a member to its new place; a leave removes it."""
    hub = LocalHub()
    alice, bob, carol = peer(), peer(), peer()
    hub.join(alice, "alice")
    hub.join(bob, "bob")
    hub.join(carol, "carol")
    assert hub.nicks() == ("alice", "bob", "carol")
    hub.rename(alice, "dora")
    assert hub.nicks() == ("bob", "carol", "dora")
    hub.leave(carol)
    assert hub.nicks() == ("bob", "dora")
    assert hub.find("carol") is None
