"""Moderation in a running server: bans kept in the history store, and acted upon.

The rules are :mod:`tcpchat.core.moderation`'s, with no I/O. A
:class:`BanRecorder` is what a :class:`~tcpchat.server.chat.ChatServer` adds:

- at start-up it loads the bans its history store kept (``Store.bans``);
- it is the :class:`~tcpchat.core.moderation.BanKeeper` of the server's
  :class:`~tcpchat.core.moderation.Moderation`: each ban made or lifted is
  written to the store at once, in a task it keeps (bans are rare, and a
  command never waits), and a new server ban closes the connections it covers;
- a task sweeps expired bans and mutes every :data:`SWEEP_INTERVAL` seconds
  (they are dropped lazily when checked, too).

On a node of a cluster, :func:`act_on_read` applies what other nodes' operators
did to a room (kicks, operators, mutes, slow mode) as it comes off the room's
stream, so that a member is moderated on its own node, where it speaks.

Trouble with the store never reaches the chat: the ban holds in memory and
the failure is logged, naming the ban.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Protocol

from tcpchat.core.conversation import Conversation
from tcpchat.core.errors import HistoryUnavailable
from tcpchat.core.events import Event, EventClock, Join, Kick, Leave, ModeChange, NickChange, Part
from tcpchat.core.hub import Hub, Room
from tcpchat.core.modcommands import put_out
from tcpchat.core.moderation import Ban, Moderation, audit
from tcpchat.core.nicks import nick_key
from tcpchat.store.base import Store

log = logging.getLogger("tcpchat.moderation")

#: Seconds between two sweeps of expired bans and mutes, and of emptied rooms' state.
SWEEP_INTERVAL = 30.0
#: Seconds before a catch-up of the bans (BanRecorder.catch_up) that could not read them
#: tries again.
CATCH_UP_RETRY = 5.0
#: Error code of a connection closed or refused because its address is banned.
BANNED = "banned"


def host_of(address: str) -> str:
    """The host of an address as ``format_address`` writes it (``h:p``, ``[h]:p``)."""
    if address.startswith("["):
        return address[1 : address.find("]")]
    return address.rpartition(":")[0] or address


class OpenConversation(Conversation, Protocol):
    """A connection's conversation, from any front door, and whether it has ended."""

    finished: str | None


class BanNews(Protocol):
    """Where a node of a cluster tells the other nodes of a ban made or lifted on it
    (:class:`~tcpchat.server.redis_hub.RedisHub`); they act on it at once."""

    def share_ban(self, ban: Ban, *, lifted: bool) -> None: ...


class BanRecorder:
    """Keeps a server's bans in its history store and closes connections a new server ban
    covers. ``store`` is the history store, opened and closed by its owner (None: bans
    last until the server stops); ``sessions`` lists the server's open sessions. On a
    node of a cluster, ``nodes`` tells the other nodes of each change, and :meth:`heard`
    takes theirs."""

    def __init__(
        self,
        store: Store | None,
        sessions: Callable[[], Iterable[OpenConversation]],
        *,
        sweep_interval: float = SWEEP_INTERVAL,
    ) -> None:
        self.store = store
        self.nodes: BanNews | None = None
        self._sessions = sessions
        self._sweep_interval = sweep_interval
        self._moderation: Moderation | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._missed = False  # a catch-up is owed (missed)
        self._catching_up: asyncio.Task[None] | None = None
        # While a catch-up reads the store: the bans made, lifted or heard here meanwhile,
        # which its reading may predate (their store writes still on their way).
        self._changed_meanwhile: set[tuple[str, str]] | None = None
        # Bans whose last write to the store failed (Redis away), and that write ("saved"
        # or "removed"): the store is behind here.
        self._unsaved: dict[tuple[str, str], tuple[Ban, str]] = {}

    async def start(self, moderation: Moderation) -> None:
        """Load the kept bans into ``moderation`` (dropping the expired) and start sweeping.

        Raises HistoryUnavailable when the store cannot be read: a server that would
        forget its bans does not start."""
        self._moderation = moderation
        if self.store is not None:
            kept = await self.store.bans()
            moderation.load(kept)
            if kept:
                log.info("loaded %d bans from the history store", len(kept))
            moderation.sweep()  # the expired ones go, and are logged as such
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="moderation sweep")

    async def aclose(self) -> None:
        """Stop sweeping and catching up, and finish writing the bans changed last."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._catching_up is not None:
            # (One of the writes waited for below, which a store that stays unreadable
            # would keep trying.)
            self._catching_up.cancel()
        if self._writes:
            await asyncio.wait(list(self._writes))

    # -- BanKeeper -------------------------------------------------------------------

    def saved(self, ban: Ban) -> None:
        self._changed(ban)
        if self.store is not None:
            self._write(ban, "saved")
        if self.nodes is not None:
            self.nodes.share_ban(ban, lifted=False)
        if ban.server_wide:
            self._close_banned(ban)

    def removed(self, ban: Ban) -> None:
        self._changed(ban)
        if self.store is not None:
            self._write(ban, "removed")
        if self.nodes is not None:
            self.nodes.share_ban(ban, lifted=True)

    def heard(self, ban: Ban, *, lifted: bool) -> None:
        """Another node of the cluster made or lifted ``ban`` (and kept it in the shared
        store): it holds here too, at once; a server ban closes the connections it covers."""
        if self._moderation is None:
            return  # not started: the bans are loaded from the store at start
        self._changed(ban)
        if lifted:
            self._moderation.lifted(ban.room_key, ban.mask)
            return
        self._hold(ban)

    def _hold(self, ban: Ban) -> None:
        assert self._moderation is not None
        self._moderation.load([ban])
        if ban.server_wide:
            self._close_banned(ban)

    def _changed(self, ban: Ban) -> None:
        if self._changed_meanwhile is not None:
            self._changed_meanwhile.add(ban.key)

    def missed(self, *, emptied: bool) -> None:
        """This node of a cluster did not read what the others said of bans for a while.

        Counted dead by the others while Redis kept its data: take the store's bans as
        they are now, in a task of their own (:meth:`catch_up`). Redis back empty
        (``emptied``), the bans hash went with the rest: write back the bans held here,
        as the node registers its members again."""
        if self._moderation is None or self.store is None:
            return  # not started: the bans are loaded from the store at start
        if emptied:
            now = self._moderation.now()
            for ban in self._moderation.every_ban():
                if not ban.expired(now):
                    self._write(ban, "saved")
            return
        self._missed = True
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = self._keep(self.catch_up(), "bans caught up")

    async def catch_up(self) -> None:
        """The bans made meanwhile hold here (a server ban closes the connections it
        covers), and those lifted meanwhile are lifted; again if the node missed more
        while it read, and every CATCH_UP_RETRY seconds until the store can be read."""
        self._missed = True
        tries = 0
        # What changes here from the first try on is newer than what a read finds (its
        # write may still be on its way), across the waits between tries too.
        self._changed_meanwhile = set()
        try:
            while self._missed:
                self._missed = False
                if await self._catch_up_once(told=tries > 0):
                    self._changed_meanwhile = set()  # (for another pass, if more was missed)
                    continue
                tries += 1
                await asyncio.sleep(CATCH_UP_RETRY)
                self._missed = True
        finally:
            self._changed_meanwhile = None
        if tries:
            log.info("the bans made or lifted elsewhere were read after %d tries", tries + 1)

    async def _catch_up_once(self, *, told: bool) -> bool:
        """One catch-up; False if the store's bans could not be read (logged once, unless
        ``told`` already)."""
        assert self._moderation is not None
        assert self.store is not None
        try:
            kept = {ban.key: ban for ban in await self.store.bans()}
        except HistoryUnavailable as exc:
            log.log(
                logging.DEBUG if told else logging.WARNING,
                "the bans made or lifted elsewhere while this node was away could not be "
                "read (%s); trying again every %g s",
                exc.__cause__ or exc,
                CATCH_UP_RETRY,
            )
            return False
        # Newer than what the store says: what changed here since it was read, and what
        # could not be written to it (written again now).
        changed = (self._changed_meanwhile or set()) | set(self._unsaved)
        for ban, done in list(self._unsaved.values()):
            self._write(ban, done)
        now = self._moderation.now()
        lifted_here = made_here = 0
        for ban in self._moderation.every_ban():
            if ban.key not in kept and ban.key not in changed:
                self._moderation.lifted(*ban.key)
                lifted_here += 1
        held = {ban.key: ban for ban in self._moderation.every_ban()}
        for key, ban in kept.items():
            if key not in changed and held.get(key) != ban and not ban.expired(now):
                self._hold(ban)
                made_here += 1
        if lifted_here or made_here:
            log.info(
                "bans made or lifted elsewhere while this node was away: %d now hold "
                "here, %d lifted",
                made_here,
                lifted_here,
            )
        return True

    def _write(self, ban: Ban, done: str) -> None:
        """``ban`` written to the store (``done``: "saved") or taken from it ("removed")."""
        self._keep(self._guarded(ban, done), f"ban {done}")

    def _keep(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """``work`` in a task of its own, which aclose waits for."""
        task = asyncio.create_task(work, name=name)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return task

    async def _guarded(self, ban: Ban, done: str) -> None:
        assert self.store is not None
        try:
            if done == "removed":
                await self.store.remove_ban(ban)
            else:
                await self.store.save_ban(ban)
            self._unsaved.pop(ban.key, None)
        except HistoryUnavailable as exc:
            self._unsaved[ban.key] = (ban, done)
            where = ban.room or "the server"
            log.warning(
                "the ban of %s from %s could not be %s in the history store (%s); "
                "it holds until the server stops",
                ban.target,
                where,
                done,
                exc.__cause__ or exc,
            )

    def _close_banned(self, ban: Ban) -> None:
        """Close the connections from the addresses ``ban`` covers, telling them why."""
        assert self._moderation is not None
        words = ban.refusal(self._moderation.now())
        for session in list(self._sessions()):
            if session.finished is None and ban.matches_address(host_of(session.peer.address)):
                nick = session.peer.nick
                session.error(BANNED, words)
                session.end("banned")
                session.hub.flush(session.peer)
                transport = session.peer.transport
                if isinstance(transport, asyncio.WriteTransport):
                    transport.close()  # after what it was told; its connection task sees EOF
                else:
                    transport.abort()
                audit("disconnect", by=ban.by, target=nick or session.peer.address, room="")

    async def _sweep_forever(self) -> None:
        assert self._moderation is not None
        while True:
            await asyncio.sleep(self._sweep_interval)
            self._moderation.sweep()


def act_on_read(
    moderation: Moderation,
    hub: Hub,
    clock: EventClock,
    event: Event,
    room: Room,
    *,
    here: bool,
    made: bool = False,
) -> None:
    """A node of a cluster read ``event`` off ``room``'s stream (``here``: an event this
    node sent; ``made``: the join that made the room): what it changes in the room's
    moderation holds on this node too.

    - A kick, from any node (``kicks_when_read``): the kicked member, told of it with
      the room, leaves the room here if it is this node's, and its powers there go.
    - From another node, ``op``, ``deop``, ``mute``, ``unmute`` and ``slow`` change this
      node's :class:`~tcpchat.core.moderation.Moderation` as they changed that node's, so
      a muted member of this node is refused here, and one made an operator there may
      act here. (Bans travel on the presence feed: :meth:`BanRecorder.heard`.)
    - From another node, a join starts a membership without powers, but the join that
      made the room makes its creator an operator here too; a nick change keeps an
      operator one.
    """
    if isinstance(event, Kick):
        target = room.everyone().get(nick_key(event.target))
        if target is not None:
            put_out(moderation, hub, clock, target, room)
        else:
            _no_longer_operator(moderation, room, event.target)
        return
    if here:
        return
    if isinstance(event, ModeChange):
        apply_mode_change(moderation, event, room)
    elif isinstance(event, Part | Leave):
        _no_longer_operator(moderation, room, event.nick)
    elif isinstance(event, Join):
        joiner = room.everyone().get(nick_key(event.nick))
        if joiner is not None:
            moderation.joined(joiner, room, created=made)
    elif isinstance(event, NickChange):
        modes = moderation.room_modes(room)
        renamed = room.everyone().get(nick_key(event.new))
        if modes is None or renamed is None:
            return
        old_key = nick_key(event.old)
        # The other node's member, mirrored here under its old name until the change.
        was = next((p for p in modes.operators if nick_key(p.nick or "") == old_key), None)
        if was is not None:
            moderation.deop(room, was)
            moderation.op(room, renamed)


def _no_longer_operator(moderation: Moderation, room: Room, nick: str) -> None:
    """Another node's member ``nick`` went from ``room`` (it is out of the room's list
    already): not its operator any more, as the room's modes hash says. Kept, the entry
    would make whoever takes that nickname next, and renames, an operator here."""
    modes = moderation.room_modes(room)
    key = nick_key(nick)
    if modes is None or room.has_member(key):
        return
    for peer in [peer for peer in modes.operators if nick_key(peer.nick or "") == key]:
        moderation.deop(room, peer)


def apply_mode_change(moderation: Moderation, event: ModeChange, room: Room) -> None:
    """What ``event``, made on another node of a cluster, changes in this node's moderation
    of ``room``. A mute ends when it ends there: at the change's time plus its seconds."""
    peer = room.everyone().get(nick_key(event.target)) if event.target else None
    match event.change:
        case "op" if peer is not None:
            moderation.op(room, peer)
        case "deop" if peer is not None:
            moderation.deop(room, peer)
        case "mute":
            expires = event.ts.timestamp() + event.seconds if event.seconds else None
            moderation.mute_until(room, event.target, peer, expires)
        case "unmute":
            moderation.unmute(room, event.target, peer)
        case "slow":
            moderation.set_slow(room, event.seconds)
