"""The hub's member list: sorted as nicknames compare, unique up to lookalikes."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from tcpchat.core.errors import NickTaken
from tcpchat.core.hub import Peer
from tcpchat.server.local_hub import LocalHub


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
        hub.register(peer(), nick)
    assert hub.nicks() == ("alice", "Bob", "carol", "Zed")


def test_nicks_follow_renames_and_leaves() -> None:
    """A rename moves a member to its new place; a leave removes it."""
    hub = LocalHub()
    alice, bob, carol = peer(), peer(), peer()
    hub.register(alice, "alice")
    hub.register(bob, "bob")
    hub.register(carol, "carol")
    assert hub.nicks() == ("alice", "bob", "carol")
    hub.rename(alice, "dora")
    assert hub.nicks() == ("bob", "carol", "dora")
    hub.leave(carol)
    assert hub.nicks() == ("bob", "dora")
    assert hub.find("carol") is None


CYRILLIC_APE = "\u0430\u0440\u0435"


def test_a_lookalike_of_an_online_nick_is_refused() -> None:
    """All-Cyrillic аре cannot join while Latin ape is online, and is told why."""
    hub = LocalHub()
    hub.register(peer(), "ape")
    with pytest.raises(NickTaken, match="looks like 'ape'"):
        hub.register(peer(), CYRILLIC_APE)


def test_a_rename_to_a_lookalike_is_refused() -> None:
    """A member cannot rename to a lookalike of another member."""
    hub = LocalHub()
    hub.register(peer(), "ape")
    other = peer()
    hub.register(other, "zed")
    with pytest.raises(NickTaken):
        hub.rename(other, CYRILLIC_APE)
    assert hub.nicks() == ("ape", "zed")


def test_a_member_may_rename_to_its_own_lookalike() -> None:
    """Switching one's own nickname to a lookalike of itself is allowed."""
    hub = LocalHub()
    ape = peer()
    hub.register(ape, "ape")
    hub.rename(ape, CYRILLIC_APE)
    assert hub.nicks() == (CYRILLIC_APE,)
    assert hub.find("ape") is None
    assert hub.find(CYRILLIC_APE) is ape


def test_lookups_use_the_typed_name_not_the_lookalike() -> None:
    """/msg finds a member by its own name; a lookalike of it finds no one."""
    hub = LocalHub()
    ape = peer()
    hub.register(ape, "ape")
    assert hub.find("APE") is ape
    assert hub.find(CYRILLIC_APE) is None


def test_a_lookalike_is_free_once_its_holder_leaves() -> None:
    """After ape leaves, аре can join."""
    hub = LocalHub()
    ape = peer()
    hub.register(ape, "ape")
    hub.leave(ape)
    hub.register(peer(), CYRILLIC_APE)
    assert hub.nicks() == (CYRILLIC_APE,)


def test_digits_do_not_make_lookalikes() -> None:
    """b0b may join while bob is online."""
    hub = LocalHub()
    hub.register(peer(), "bob")
    hub.register(peer(), "b0b")
    assert hub.nicks() == ("b0b", "bob")
