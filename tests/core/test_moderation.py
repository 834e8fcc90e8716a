"""Moderation's rules with no sockets: durations, bans, mutes, slow mode, operators, expiry."""

from __future__ import annotations

import ipaddress

import pytest

from tcpchat.core.errors import Banned, CommandError, Muted, SlowMode
from tcpchat.core.hub import Room as HubRoom
from tcpchat.core.moderation import Ban, Moderation, parse_duration, parse_network
from tcpchat.core.session import Session
from tests.support.fakes import Room


class Clock:
    """Unix time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class RecordingKeeper:
    """A BanKeeper that records what it is told."""

    def __init__(self) -> None:
        self.saved_bans: list[Ban] = []
        self.removed_bans: list[Ban] = []

    def saved(self, ban: Ban) -> None:
        self.saved_bans.append(ban)

    def removed(self, ban: Ban) -> None:
        self.removed_bans.append(ban)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def chat(clock: Clock) -> Room:
    """A room of fake connections whose moderation runs on ``clock``."""
    return Room(moderation=Moderation("sesame", now=clock, default_room="#lobby"))


def alice_and_bob_in_dev(chat: Room) -> tuple[Session, Session, HubRoom]:
    """alice makes #dev (she is its operator), and bob joins it."""
    alice, bob = chat.join("alice"), chat.join("bob")
    alice.receive_line(b"/join #dev")
    bob.receive_line(b"/join #dev")
    assert alice.room is not None
    return alice, bob, alice.room


def moderation_of(chat: Room) -> Moderation:
    assert chat.moderation is not None
    return chat.moderation


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("7d", 604800), ("5M", 300)]
)
def test_durations_in_their_four_units(text: str, seconds: int) -> None:
    """30s, 10m, 2h and 7d are seconds, minutes, hours and days."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["spam", "30", "m", "1.5h", "-1m", "10 m"])
def test_what_is_not_a_duration_is_none(text: str) -> None:
    """A word that is not a duration is the start of a reason, not an error."""
    assert parse_duration(text) is None


@pytest.mark.parametrize("text", ["0s", "367d"])
def test_a_duration_of_nothing_or_past_a_year_is_refused(text: str) -> None:
    """0s and more than 366 days are refused, with the bounds."""
    with pytest.raises(CommandError, match="366d"):
        parse_duration(text)


def test_networks_addresses_and_nicknames_are_told_apart() -> None:
    """An address is a network of one; a CIDR a network; a nickname neither."""
    assert parse_network("10.1.2.3") == ipaddress.ip_network("10.1.2.3/32")
    assert parse_network("10.1.2.3/8") == ipaddress.ip_network("10.0.0.0/8")
    assert parse_network("2001:db8::/32") == ipaddress.ip_network("2001:db8::/32")
    assert parse_network("::ffff:127.0.0.5") == ipaddress.ip_network("127.0.0.5/32")
    assert parse_network("bob") is None
    assert parse_network("1234") is None


async def test_a_room_ban_matches_the_nickname_key_and_its_lookalikes(chat: Room) -> None:
    """A ban of ape keeps out APE and the all-Cyrillic аре, not apex."""
    moderation = moderation_of(chat)
    alice = chat.join("alice")
    alice.receive_line(b"/join #dev")
    assert alice.room is not None
    moderation.ban_nick(alice.room, "ape", "alice", "", None)
    for nick in ("ape", "APE", "\u0430\u0440\u0435"):
        with pytest.raises(Banned, match="banned from #dev for good"):
            moderation.check_join(nick, "#DEV")
    moderation.check_join("apex", "#dev")


async def test_a_ban_with_a_duration_expires_when_the_clock_passes_it(
    chat: Room, clock: Clock
) -> None:
    """A 10m ban holds at 9m59s and is gone (and the keeper told) at 10m."""
    keeper = RecordingKeeper()
    moderation = moderation_of(chat)
    moderation.keeper = keeper
    alice = chat.join("alice")
    alice.receive_line(b"/join #dev")
    assert alice.room is not None
    moderation.ban_nick(alice.room, "bob", "alice", "spam", 600)
    clock.now += 599
    with pytest.raises(Banned, match="for 1s: spam"):
        moderation.check_join("bob", "#dev")
    clock.now += 1
    moderation.check_join("bob", "#dev")
    assert [ban.target for ban in keeper.saved_bans] == ["bob"]
    assert [ban.target for ban in keeper.removed_bans] == ["bob"]


async def test_a_server_ban_covers_its_network_until_it_expires(chat: Room, clock: Clock) -> None:
    """A 1h ban of 127.0.0.0/29 covers 127.0.0.5, not 127.0.0.9, and lapses after the hour."""
    moderation = moderation_of(chat)
    moderation.ban_network(ipaddress.ip_network("127.0.0.0/29"), "root", "flood", 3600)
    ban = moderation.address_ban("127.0.0.5")
    assert ban is not None
    assert ban.refusal(clock.now) == ("your address is banned from this server for 1h 0m: flood")
    assert moderation.address_ban("::ffff:127.0.0.5") is ban
    assert moderation.address_ban("127.0.0.9") is None
    clock.now += 3600
    assert moderation.address_ban("127.0.0.5") is None
    assert moderation.bans("") == []


async def test_the_sweep_drops_expired_bans_and_mutes(chat: Room, clock: Clock) -> None:
    """A sweep after expiry forgets the bans and mutes whose time is up, and says which."""
    moderation = moderation_of(chat)
    _, bob, dev = alice_and_bob_in_dev(chat)
    moderation.ban_network(ipaddress.ip_network("10.0.0.0/8"), "root", "", 30)
    moderation.ban_nick(dev, "mallory", "alice", "", None)
    moderation.mute(dev, "bob", bob.peer, 30)
    clock.now += 30
    expired = moderation.sweep()
    assert [ban.target for ban in expired] == ["10.0.0.0/8"]
    assert [ban.target for ban in moderation.bans(dev.key)] == ["mallory"]
    assert not moderation.is_muted(bob.peer, dev)


async def test_a_muted_member_may_speak_again_when_the_mute_ends(chat: Room, clock: Clock) -> None:
    """A 1m mute refuses lines for a minute, with the time left, then lets them through."""
    moderation = moderation_of(chat)
    _, bob, dev = alice_and_bob_in_dev(chat)
    moderation.mute(dev, "bob", bob.peer, 60)
    with pytest.raises(Muted, match="muted in #dev for 1m 0s"):
        moderation.check_speak(bob.peer, dev)
    clock.now += 60
    moderation.check_speak(bob.peer, dev)


async def test_a_mute_follows_a_nick_change(chat: Room) -> None:
    """Muted bob stays muted as robert."""
    moderation = moderation_of(chat)
    _, bob, dev = alice_and_bob_in_dev(chat)
    moderation.mute(dev, "bob", bob.peer, None)
    bob.receive_line(b"/nick robert")
    with pytest.raises(Muted):
        moderation.check_speak(bob.peer, dev)


async def test_slow_mode_allows_one_line_per_period(chat: Room, clock: Clock) -> None:
    """In 30s slow mode a second line 10s later is refused with 20s left; 30s later it goes."""
    moderation = moderation_of(chat)
    _, bob, dev = alice_and_bob_in_dev(chat)
    moderation.set_slow(dev, 30)
    moderation.check_speak(bob.peer, dev)
    clock.now += 10
    with pytest.raises(SlowMode, match="wait 20s"):
        moderation.check_speak(bob.peer, dev)
    clock.now += 20
    moderation.check_speak(bob.peer, dev)


async def test_slow_mode_read_again_from_redis_still_counts_the_last_line(
    chat: Room, clock: Clock
) -> None:
    """A node of a cluster reads a room's moderation again (back from an outage): bob, who
    spoke 10s ago in 30s slow mode, still waits 20s."""
    moderation = moderation_of(chat)
    alice, bob, dev = alice_and_bob_in_dev(chat)
    moderation.set_slow(dev, 30)
    moderation.check_speak(bob.peer, dev)
    clock.now += 10
    moderation.restore(dev, operators=[alice.peer], mutes={}, slow=30)
    with pytest.raises(SlowMode, match="wait 20s"):
        moderation.check_speak(bob.peer, dev)


async def test_operators_are_not_held_back_by_slow_mode(chat: Room) -> None:
    """The room's operator may say two lines in a row in slow mode."""
    moderation = moderation_of(chat)
    alice = chat.join("alice")
    alice.receive_line(b"/join #dev")
    assert alice.room is not None
    moderation.set_slow(alice.room, 30)
    moderation.check_speak(alice.peer, alice.room)
    moderation.check_speak(alice.peer, alice.room)


async def test_the_creator_of_a_room_is_its_operator_until_it_leaves(chat: Room) -> None:
    """Alice makes #dev and operates it; after /part and /join she does not."""
    moderation = moderation_of(chat)
    alice, bob = chat.join("alice"), chat.join("bob")
    alice.receive_line(b"/join #dev")
    bob.receive_line(b"/join #dev")
    dev = alice.room
    assert dev is not None
    assert moderation.operators(dev) == ("alice",)
    alice.receive_line(b"/part #dev")
    alice.receive_line(b"/join #dev")
    assert not moderation.is_operator(alice.peer, dev)
    assert moderation.operators(dev) == ()


async def test_the_default_room_has_no_creator_operator(chat: Room) -> None:
    """The first member of #lobby does not operate it: it is the server's room."""
    alice = chat.join("alice")
    assert alice.room is not None
    assert not moderation_of(chat).is_operator(alice.peer, alice.room)


async def test_a_server_operator_operates_every_room(chat: Room) -> None:
    """After /oper, alice operates #lobby and a room bob made."""
    moderation = moderation_of(chat)
    alice, bob = chat.join("alice"), chat.join("bob")
    bob.receive_line(b"/join #dev")
    alice.receive_line(b"/oper sesame")
    alice.receive_line(b"/join #dev")
    assert alice.room is not None
    assert bob.room is alice.room
    assert moderation.is_operator(alice.peer, alice.room)
    assert moderation.operators(alice.room) == ("alice", "bob")


async def test_loaded_bans_hold_and_the_expired_ones_go_at_the_sweep(
    chat: Room, clock: Clock
) -> None:
    """Bans a store kept apply at once; those already past are dropped by the first sweep."""
    moderation = moderation_of(chat)
    kept = Ban("", "10.0.0.0/8", "", "10.0.0.0/8", "root", "", clock.now - 10)
    lapsed = Ban("", "10.9.9.9", "", "10.9.9.9", "root", "", clock.now - 10, clock.now - 1)
    moderation.load([kept, lapsed])
    assert moderation.address_ban("10.1.1.1") == kept
    assert [ban.target for ban in moderation.sweep()] == ["10.9.9.9"]
