"""A cluster node back from being counted dead takes the bans as the store keeps them
(``BanRecorder.catch_up``), by plain calls."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tcpchat.core.errors import HistoryUnavailable
from tcpchat.core.hub import Room
from tcpchat.core.moderation import Ban, Moderation
from tcpchat.server import moderation as moderation_module
from tcpchat.server.moderation import BanRecorder

NOW = 1_000_000.0


def room_ban(nick: str, *, reason: str = "") -> Ban:
    return Ban("#dev", nick, "#dev", nick, "root", reason, NOW - 60)


class KeptBans:
    """A history store's bans, or none it can read; the bans written to it."""

    def __init__(self, bans: list[Ban] | None) -> None:
        self.kept = bans
        self.saved: list[Ban] = []
        self.away = False  # its writes fail

    async def bans(self) -> list[Ban]:
        if self.kept is None:
            raise HistoryUnavailable("the store is away")
        return list(self.kept)

    async def save_ban(self, ban: Ban) -> None:
        # (Not in what bans() reads: a write still on its way when it was read.)
        if self.away:
            raise HistoryUnavailable("the store is away")
        self.saved.append(ban)

    async def remove_ban(self, ban: Ban) -> None:
        pass


async def recorder_with(held: list[Ban], kept: list[Ban] | None) -> tuple[BanRecorder, Moderation]:
    recorder = BanRecorder(KeptBans(kept), lambda: [])  # type: ignore[arg-type]
    moderation = Moderation(keeper=recorder, now=lambda: NOW)
    recorder._moderation = moderation  # started, without its sweep
    moderation.load(held)
    return recorder, moderation


async def test_bans_made_and_lifted_meanwhile_hold_and_go() -> None:
    stays, lifted, changed = room_ban("ape"), room_ban("bob"), room_ban("cat")
    made, now_changed = room_ban("dog"), room_ban("cat", reason="again")
    recorder, moderation = await recorder_with([stays, lifted, changed], [stays, made, now_changed])
    await recorder.catch_up()
    assert sorted(moderation.every_ban(), key=lambda ban: ban.mask) == [stays, now_changed, made]


async def test_a_store_it_cannot_read_changes_nothing_until_it_can(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store cannot be read: nothing changes here, the node says so once, and tries
    again until it can; then the bans made meanwhile hold, and one made here between two
    tries stays. Closing stops the tries."""
    monkeypatch.setattr(moderation_module, "CATCH_UP_RETRY", 0.01)
    held, made = room_ban("ape"), room_ban("dog")
    recorder, moderation = await recorder_with([held], None)
    store = recorder.store
    assert isinstance(store, KeptBans)
    with caplog.at_level(logging.WARNING):
        recorder.missed(emptied=False)
        await asyncio.sleep(0.05)  # a few tries
    assert moderation.every_ban() == [held]
    assert caplog.text.count("could not be read (the store is away)") == 1
    # Made here between two tries, its write not yet in what the next try reads: it stays.
    here = moderation.ban_nick(Room("#dev"), "cat", "root", "", None)
    store.kept = [held, made]
    await asyncio.sleep(0.05)
    assert sorted(moderation.every_ban(), key=lambda ban: ban.mask) == [held, here, made]
    store.kept = None
    recorder.missed(emptied=False)  # trying again, as the node closes
    await asyncio.wait_for(recorder.aclose(), 1)


async def test_a_ban_made_or_lifted_here_while_the_store_is_read_is_left_as_it_is() -> None:
    """The store's bans read before a ban made here was written, and before one lifted
    here was removed: the catch-up leaves both as they are here now."""
    lifted_here = room_ban("bob")
    recorder, moderation = await recorder_with([lifted_here], [lifted_here])
    store = recorder.store
    assert isinstance(store, KeptBans)
    read = store.bans

    async def read_then_change() -> list[Ban]:
        kept = await read()
        moderation.ban_nick(Room("#dev"), "ape", "root", "", None)
        moderation.unban("#dev", "bob")
        return kept

    store.bans = read_then_change
    await recorder.catch_up()
    assert [ban.mask for ban in moderation.every_ban()] == ["ape"]


async def test_a_ban_the_store_could_not_take_is_kept_and_written_again() -> None:
    """ape's ban, made here while Redis was away, is not in the store: the catch-up keeps
    it and writes it again."""
    recorder, moderation = await recorder_with([], [])
    store = recorder.store
    assert isinstance(store, KeptBans)
    store.away = True
    ban = moderation.ban_nick(Room("#dev"), "ape", "root", "", None)
    await asyncio.wait(list(recorder._writes))
    store.away = False
    await recorder.catch_up()
    await asyncio.wait(list(recorder._writes))
    assert moderation.every_ban() == [ban]
    assert store.saved == [ban]


async def test_an_expired_ban_the_store_still_has_is_not_taken() -> None:
    lapsed = Ban("", "10.9.9.9", "", "10.9.9.9", "root", "", NOW - 60, NOW - 1)
    recorder, moderation = await recorder_with([], [lapsed])
    await recorder.catch_up()
    assert moderation.every_ban() == []


async def test_redis_back_empty_gets_the_live_bans_held_here_written_back() -> None:
    live, lapsed = room_ban("ape"), Ban("#dev", "bob", "#dev", "bob", "root", "", NOW - 60, NOW - 1)
    recorder, moderation = await recorder_with([live, lapsed], [])
    store = recorder.store
    assert isinstance(store, KeptBans)
    recorder.missed(emptied=True)
    await asyncio.wait(list(recorder._writes))
    assert store.saved == [live]
    assert live in moderation.every_ban()
