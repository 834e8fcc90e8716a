"""A room of the cluster as one node holds it, with plain calls: its members here, those
still joining, and everyone else's."""

from __future__ import annotations

from tcpchat.core.hub import Peer
from tcpchat.server.cluster_view import ClusterRoom
from tests.support.fakes import FakeTransport


def joining(nick: str, room: ClusterRoom) -> Peer:
    """A member of this node whose join is on its way to Redis."""
    peer = Peer(FakeTransport())
    peer.nick = nick
    room.add(nick, peer)
    room.wait_for_join(nick)
    return peer


def test_a_member_renamed_while_joining_waits_under_its_new_nick() -> None:
    """Its join still on its way, alice becomes alicia: she still waits for her join, as
    alicia, is listed as alicia, and hears the room as alicia once the join is back."""
    room = ClusterRoom("#dev")
    alice = joining("alice", room)
    assert room.nicks() == ("alice",)
    alice.nick = "alicia"
    room.renamed("alice", alice)
    assert room.joining == {"alicia": alice}
    assert not room.members
    assert room.nicks() == ("alicia",)
    assert room.has_member("alicia")
    assert not room.has_member("alice")
    assert room.joined("alicia") is alice
    assert room.members == {"alicia": alice}


def test_a_member_renamed_once_in_is_renamed_among_the_members() -> None:
    room = ClusterRoom("#dev")
    bob = joining("bob", room)
    room.joined("bob")
    bob.nick = "robert"
    room.renamed("bob", bob)
    assert room.members == {"robert": bob}
    assert not room.joining
    assert room.nicks() == ("robert",)
