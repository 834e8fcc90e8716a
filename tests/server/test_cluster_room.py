"""A room of the cluster as one node holds it, with plain calls: its members here, those
still joining, and everyone else's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tcpchat.core.events import Event, Join, Kick, Leave, NickChange, Part
from tcpchat.core.hub import Peer
from tcpchat.server.cluster_view import ClusterRoom, Presence, comings_owed
from tcpchat.server.redis_hub import RedisHub, RoomEvent
from tests.support.fakes import FakeTransport

TS = datetime(2026, 12, 2, tzinfo=UTC)


def joining(nick: str, room: ClusterRoom) -> Peer:
    """A member of this node whose join is on its way to Redis."""
    peer = Peer(FakeTransport())
    peer.nick = nick
    room.add(nick, peer)
    room.wait_for_join(nick, 0)
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


def owed(told: set[str], *before: Event, here: tuple[str, ...] = ("ann",)) -> list[Event]:
    """What ann, answered with ``told``, is owed of ``before`` in #dev."""
    return comings_owed(frozenset(told), before, set(here), "#dev")


def test_a_joiner_is_owed_the_comings_and_goings_its_answer_did_not_show() -> None:
    """ann was answered with carol and dave: ben came in and dave left after that answer,
    before her join; carol's join and erin's join and part were older, and agree with it."""
    before = (
        Join(1, TS, "carol", "#dev"),
        Join(2, TS, "erin", "#dev"),
        Part(3, TS, "erin", "#dev", "bye"),
        Join(4, TS, "Ben", "#dev"),
        Leave(5, TS, "dave", "quit"),
    )
    assert owed({"ann", "carol", "dave"}, *before) == [before[3], before[4]]
    assert owed({"ann", "ben", "carol"}, *before) == []  # her answer knew it all


def test_a_nick_change_is_told_as_a_change_a_join_or_a_part() -> None:
    """A change whose two names both disagree with the answer is told as it is; where only
    one does, as a join of the new name or a part of the old one."""
    change = NickChange(7, TS, "ben", "benji")
    assert owed({"ann", "ben"}, change) == [change]
    assert owed({"ann"}, change) == [Join(7, TS, "benji", "#dev")]
    assert owed({"ann", "ben", "benji"}, change) == [Part(7, TS, "ben", "#dev", "")]
    parted = Part(8, TS, "benji", "#dev", "")
    assert owed({"ann", "ben"}, change, parted) == [Part(7, TS, "ben", "#dev", "")]


def test_a_kick_is_a_going() -> None:
    kick = Kick(9, TS, "carol", "ben", "#dev", "spam")
    assert owed({"ann", "ben"}, kick) == [kick]
    assert owed({"ann"}, Join(8, TS, "ben", "#dev"), kick) == []


def test_the_members_of_the_node_itself_are_never_owed() -> None:
    """The node knew its own members as it answered: ann's own join, and amy's (of this
    node), are not told again."""
    before = (Join(1, TS, "amy", "#dev"), Join(2, TS, "ann", "#dev"))
    assert owed({"ann"}, *before, here=("ann", "amy")) == []


def test_a_joiner_renamed_before_its_join_is_back_is_owed_under_its_new_nick() -> None:
    """ann, answered before the node read #dev, renames to anna; the node starts reading
    the room, and ben's join before hers is owed to anna."""
    room = ClusterRoom("#dev")
    ann = Peer(FakeTransport())
    ann.nick = "ann"
    room.add("ann", ann)
    room.wait_for_join("ann", 5, frozenset())
    ann.nick = "anna"
    room.renamed("ann", ann)
    ben = Join(3, TS, "ben", "#dev")
    assert room.owe([ben], {"anna"}) == [(ann, ben)]
    assert not room.welcomed
    assert room.owe([ben], {"anna"}) == []  # told once
    assert room.answered == {"anna": 5}


def test_a_joiner_is_told_what_this_node_did_after_its_answer() -> None:
    """ann was answered once event 10 was made here, amy once event 20 was: a coming made
    here as event 15 is news to ann alone, one made as 25 to both (but its own author);
    another node's is news to both, as far as this node can tell."""
    room = ClusterRoom("#dev")
    ann, amy = Peer(FakeTransport()), Peer(FakeTransport())
    for nick, peer, answered in (("ann", ann, 10), ("amy", amy, 20)):
        peer.nick = nick
        room.add(nick, peer)
        room.wait_for_join(nick, answered)
    assert room.not_shown(15, None) == [ann]
    assert room.not_shown(25, None) == [ann, amy]
    assert room.not_shown(25, amy) == [ann]
    assert room.not_shown(None, None) == [ann, amy]
    room.joined("ann")
    assert room.not_shown(25, None) == [amy]
    assert room.answered == {"amy": 20}


def test_a_kick_made_here_is_news_to_every_joiner() -> None:
    """This node's kick takes its target out only as it is read back: a joiner answered
    after the kick was made still listed the target, and is told the kick."""
    room = ClusterRoom("#dev")
    ann = Peer(FakeTransport())
    ann.nick = "ann"
    room.add("ann", ann)
    room.wait_for_join("ann", 20)
    kick = RoomEvent(Kick(15, TS, "carol", "ben", "#dev", ""), "#dev", None, None, 1)
    part = RoomEvent(Part(15, TS, "dave", "#dev", ""), "#dev", None, None, 2)
    assert RedisHub._not_shown(room, kick) == [ann]
    assert RedisHub._not_shown(room, part) == []


def test_a_joiner_is_in_once_its_latest_join_is_back() -> None:
    """alice joins, parts and joins again, her joins on their way: her first join coming
    back does not make her a member; the one she waits for (sequence 7) does, under the
    nickname she has since taken, news for it kept with it till then."""
    room = ClusterRoom("#dev")
    alice = joining("alice", room)
    assert room.join_seqs == {"alice": None}  # not sent yet
    assert not room.latest_join("alice", 3)
    room.join_ids["alice"], room.join_seqs["alice"] = 12, 7
    room.early_news["alice"] = [Join(11, TS, "bob", "#dev")]
    assert not room.latest_join("alice", 3)  # her first join, parted since
    alice.nick = "alicia"
    room.renamed("alice", alice)
    assert room.latest_join("alicia", 7)
    assert room.join_ids == {"alicia": 12}
    assert list(room.early_news) == ["alicia"]
    assert room.joined("alicia") is alice
    assert not room.join_seqs
    assert not room.join_ids
    assert not room.early_news
    assert room.latest_join("alicia", 3)  # (waiting for none: any join is its latest)


def test_a_presence_record_says_a_server_operator_and_irc_names_and_reads_back() -> None:
    """A server operator's record, or an IRC member's, has a sixth field: an object with
    ``oper``, ``user`` and ``realname``, each only when there is one; a record without it
    reads as a member with none. Keys a reader does not know are passed over; names an
    IRC line cannot carry are cleaned as the IRC listener cleans them; anything but an
    object there is not a presence record."""
    operator = Presence("root", ("#dev",), None, 1.0, 2.0, server_operator=True)
    assert operator.encode() == '["root", ["#dev"], null, 1.0, 2.0, {"oper": true}]'
    assert Presence.decode(operator.encode()) == operator
    irc = Presence("ben", ("#dev",), None, 1.0, 2.0, user="bjb", realname="Ben J. Bell")
    assert irc.encode() == (
        '["ben", ["#dev"], null, 1.0, 2.0, {"user": "bjb", "realname": "Ben J. Bell"}]'
    )
    assert Presence.decode(irc.encode()) == irc
    member = Presence("ann", (), "lunch", 1.0, 2.0)
    assert member.encode() == '["ann", [], "lunch", 1.0, 2.0]'
    assert Presence.decode(member.encode()) == member
    later = (
        '["ann", [], null, 1, 2, {"oper": 1, "user": "a b@c", "realname": "A\\r\\nQUIT", "x": 3}]'
    )
    assert Presence.decode(later) == Presence("ann", (), None, 1, 2, False, "abc", "AQUIT")
    bad_records = ("true", "false", "1", "{}, 1", '"bjb"')
    for bad in (f'["root", [], null, 1, 2, {more}]' for more in bad_records):
        with pytest.raises(ValueError, match="not a presence record"):
            Presence.decode(bad)


def presence(nick: str, *rooms: str) -> str:
    return Presence(nick, rooms, None, 0.0, 0.0).encode()


def mirror() -> tuple[RedisHub, ClusterRoom]:
    """A node's hub (never connected) that reads #dev, where ann is its member: the stream
    is read up to entry 5."""
    hub = RedisHub("redis://127.0.0.1:1/0", node_timeout=15)
    room = ClusterRoom("#dev")
    ann = Peer(FakeTransport())
    ann.nick = "ann"
    room.add("ann", ann)
    hub._rooms["#dev"] = room
    hub._positions["#dev"] = "5-0"
    return hub, room


def test_a_room_this_node_reads_follows_its_stream_where_presence_lags() -> None:
    """ben, of node B, joins and parts #dev; his presence comes late each time: the room
    shows what the stream told, in its turn, and late presence does not undo it. Once the
    two agree, presence decides for ben again."""
    hub, room = mirror()
    hub._follow(room, Join(6, TS, "ben", "#dev"), None)
    assert room.nicks() == ("ann", "ben")
    hub._apply_presence("B", "ben", presence("ben"))  # from before his join
    assert room.nicks() == ("ann", "ben")
    hub._apply_presence("B", "ben", presence("ben", "#dev"))
    assert hub._remote["ben"].rooms == {room: None}
    hub._follow(room, Part(7, TS, "ben", "#dev", ""), None)
    assert room.nicks() == ("ann",)
    assert "ben" in room.heard  # his presence still puts him in
    hub._apply_presence("B", "ben", presence("ben"))
    assert room.heard == set()
    hub._apply_presence("B", "ben", presence("ben", "#dev"))  # ahead of his next join
    assert room.nicks() == ("ann", "ben")


def test_a_member_of_another_node_renamed_is_renamed_in_a_room_it_alone_is_in() -> None:
    """ben is all #dev holds here, from its stream, its member here gone (its part still
    on its way); his nick change there leaves the room with benji in it, the node's room
    (not a dropped one), listed for /whois."""
    hub, room = mirror()
    room.remove("ann")
    hub._follow(room, Join(6, TS, "ben", "#dev"), None)
    hub._follow(room, NickChange(7, TS, "ben", "benji"), None)
    assert hub._rooms["#dev"] is room
    assert room.nicks() == ("benji",)
    assert hub._unlisted["benji"].rooms == {room: None}
    assert "ben" not in hub._unlisted  # gone from every room: nothing keeps him
    hub._follow(room, Leave(8, TS, "benji", "quit"), None)
    assert "#dev" not in hub._rooms
    assert not hub._unlisted


def test_a_room_this_node_stops_reading_shows_presence_again() -> None:
    """The node's last member leaves #dev: the room shows the other nodes' members as
    their presence lists them, and forgets what its stream told."""
    hub, room = mirror()
    hub._apply_presence("B", "cy", presence("cy", "#dev"))
    hub._follow(room, Join(6, TS, "ben", "#dev"), None)
    hub._follow(room, Part(7, TS, "cy", "#dev", ""), None)
    assert room.nicks() == ("ann", "ben")
    room.remove("ann")
    hub._unwatch_if_empty("#dev")
    assert room.nicks() == ("cy",)
    assert room.heard == set()
    assert not hub._unlisted
