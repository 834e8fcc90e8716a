"""The broadcast hub: who is in the room, and getting events to them.

A broadcast never waits on a peer. Publishing to the room costs the same
whatever the room's size: the event is appended to the pass's *room log*, and
once per event-loop pass (``loop.call_soon``) the hub encodes the log once per
rendering, joins it once, and hands the same bytes object to every member's
transport in one ``write()``. Only members who sent something in that pass (and
so must not get their own line back) or who were also sent something of their
own get bytes assembled for them. Deliveries to a member stay in the order in
which they were made. The transport's write buffer is then that member's
outbound queue, and a member whose queue grows past ``max_queue_bytes`` is cut
off rather than allowed to hold anyone else up.

Connection code talks to the hub only through the :class:`~tcpchat.core.hub.Hub`
interface (publish to the room, send to one, join, leave, look up), so another
backend (Redis across machines, say) can stand beside :class:`LocalHub`.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Callable

from tcpchat.core.errors import NickTaken
from tcpchat.core.events import Event
from tcpchat.core.hub import DEFAULT_MAX_QUEUE_BYTES, QUEUE_EXCEEDED, Peer
from tcpchat.core.nicks import nick_key, nick_skeleton
from tcpchat.core.render import Rendering, encode

log = logging.getLogger(__name__)


def _check_free(nick: str, holder: Peer | None, asker: Peer) -> None:
    """Raise :class:`NickTaken` if ``holder``, someone else, has ``nick`` or a lookalike."""
    if holder is None or holder is asker:
        return
    if holder.nick is not None and nick_key(holder.nick) != nick_key(nick):
        raise NickTaken(f"the nickname {nick!r} looks like {holder.nick!r}'s; choose another")
    raise NickTaken(f"the nickname {nick!r} is taken; choose another")


class LocalHub:
    """The in-process hub: members of one server, fanned out in this event loop."""

    def __init__(
        self,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        on_drop: Callable[[Peer, str], None] | None = None,
    ) -> None:
        self.max_queue_bytes = max_queue_bytes
        self._on_drop = on_drop
        self._members: dict[str, Peer] = {}  # nick_key -> peer, for lookups by name
        self._lookalikes: dict[str, Peer] = {}  # nick_skeleton -> peer, for uniqueness
        # The members' nick keys in order, and the sorted nicknames made from them on
        # demand: every welcome lists the room, so a burst of N joins stays O(N²) in
        # copying rather than re-normalising and sorting every nickname each time.
        self._sorted_keys: list[str] = []
        self._sorted_nicks: tuple[str, ...] | None = ()
        self._dirty: list[Peer] = []  # peers with pending bytes, in first-touched order
        self._flush_scheduled = False
        # This pass's room log: the events published, whom each leaves out, and
        # their encodings per rendering, made on demand.
        self._room_events: list[Event] = []
        self._room_excluded: list[Peer | None] = []
        self._room_encoded: tuple[list[bytes], list[bytes]] = ([], [])
        self._room_senders: set[Peer] = set()  # peers left out of something this pass

    def __len__(self) -> int:
        return len(self._members)

    # -- membership --------------------------------------------------------

    def join(self, peer: Peer, nick: str) -> None:
        key, skeleton = nick_key(nick), nick_skeleton(nick)
        _check_free(nick, self._lookalikes.get(skeleton), peer)
        self._members[key] = peer
        self._lookalikes[skeleton] = peer
        self._add_key(key)
        peer.nick = nick
        peer.room_mark = len(self._room_events)  # owed only what is published from now on
        peer._hub = self

    def rename(self, peer: Peer, nick: str) -> None:
        assert peer.nick is not None, "only members can be renamed"
        old_key, new_key = nick_key(peer.nick), nick_key(nick)
        new_skeleton = nick_skeleton(nick)
        _check_free(nick, self._lookalikes.get(new_skeleton), peer)
        del self._members[old_key]
        del self._lookalikes[nick_skeleton(peer.nick)]
        self._remove_key(old_key)
        self._members[new_key] = peer
        self._lookalikes[new_skeleton] = peer
        self._add_key(new_key)
        peer.nick = nick

    def leave(self, peer: Peer) -> bool:
        if peer.nick is None:
            return False
        if self._members.get(nick_key(peer.nick)) is peer:
            self.settle(peer)  # it is still owed what was published while it was a member
            del self._members[nick_key(peer.nick)]
            del self._lookalikes[nick_skeleton(peer.nick)]
            self._remove_key(nick_key(peer.nick))
            peer._hub = None
            return True
        return False

    def find(self, nick: str) -> Peer | None:
        return self._members.get(nick_key(nick))

    def nicks(self) -> tuple[str, ...]:
        if self._sorted_nicks is None:
            members = self._members
            self._sorted_nicks = tuple(members[key].nick or "" for key in self._sorted_keys)
        return self._sorted_nicks

    def _add_key(self, key: str) -> None:
        bisect.insort(self._sorted_keys, key)
        self._sorted_nicks = None

    def _remove_key(self, key: str) -> None:
        index = bisect.bisect_left(self._sorted_keys, key)
        if index < len(self._sorted_keys) and self._sorted_keys[index] == key:
            del self._sorted_keys[index]
        self._sorted_nicks = None

    def members(self) -> list[Peer]:
        return list(self._members.values())

    # -- delivery ----------------------------------------------------------

    def publish(self, event: Event, *, exclude: Peer | None = None) -> None:
        # O(1) whatever the room's size: the fan-out happens once per pass, in _flush_all.
        self._room_events.append(event)
        self._room_excluded.append(exclude)
        if exclude is not None:
            self._room_senders.add(exclude)
        self._schedule_flush()

    def send(self, peer: Peer, event: Event) -> None:
        self.settle(peer)  # what the room published before this comes first
        data = encode(event, peer.rendering)
        if not data:
            return
        if not peer.pending:
            self._dirty.append(peer)
        peer.pending.append(data)
        self._schedule_flush()

    def flush(self, peer: Peer) -> None:
        self.settle(peer)
        if peer.pending:
            self._write(peer)

    def settle(self, peer: Peer) -> None:
        """Move what the room log owes ``peer`` so far into its own pending bytes."""
        if peer._hub is not self:
            return  # not a member: the room owes it nothing
        end = len(self._room_events)
        start = peer.room_mark
        if start >= end:
            return
        peer.room_mark = end
        if peer.drop_reason is not None:
            return
        encoded = self._encoded(peer.rendering, end)
        excluded = self._room_excluded
        owed = [encoded[i] for i in range(start, end) if excluded[i] is not peer and encoded[i]]
        if owed:
            if not peer.pending:
                self._dirty.append(peer)
            peer.pending.extend(owed)

    def _encoded(self, rendering: Rendering, end: int) -> list[bytes]:
        """The room log's first ``end`` events in ``rendering``, each encoded once."""
        encoded = self._room_encoded[rendering]
        events = self._room_events
        while len(encoded) < end:
            encoded.append(encode(events[len(encoded)], rendering))
        return encoded

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled and (self._dirty or self._room_events):
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_all)

    def _flush_all(self) -> None:
        """Write what each member got in this loop pass, one ``write()`` per member."""
        self._flush_scheduled = False
        if self._room_events:
            self._flush_room()
        dirty, self._dirty = self._dirty, []
        for peer in dirty:
            if peer.pending:
                self._write(peer)

    def _flush_room(self) -> None:
        """Fan the pass's room log out: the same joined bytes to everyone who sent nothing."""
        end = len(self._room_events)
        senders = self._room_senders
        limit = self.max_queue_bytes
        shared: list[bytes | None] = [None, None]  # the whole log, joined, per rendering
        # The hot loop of the server: one iteration per member per pass, kept lean.
        for peer in list(self._members.values()):
            if peer.pending or peer.room_mark or peer in senders:
                self.settle(peer)  # bytes of its own, or a part of the log: assemble them
                peer.room_mark = 0
                continue
            data = shared[peer._rendering]
            if data is None:
                data = shared[peer._rendering] = b"".join(self._encoded(peer._rendering, end))
            transport = peer.transport
            if not data or peer.drop_reason is not None or transport.is_closing():
                continue
            transport.write(data)
            if transport.get_write_buffer_size() > limit:
                self.drop(peer, QUEUE_EXCEEDED)
        self._room_events = []
        self._room_excluded = []
        self._room_encoded = ([], [])
        self._room_senders = set()

    def _write(self, peer: Peer) -> None:
        pending = peer.pending
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        self._write_bytes(peer, data)

    def _write_bytes(self, peer: Peer, data: bytes) -> None:
        transport = peer.transport
        if transport.is_closing():
            return
        transport.write(data)
        if transport.get_write_buffer_size() > self.max_queue_bytes:
            self.drop(peer, QUEUE_EXCEEDED)

    def drop(self, peer: Peer, reason: str) -> None:
        """Cut ``peer`` off at once by aborting its connection.

        The connection's own clean-up then takes it out of the room and tells
        the others, with ``reason``.
        """
        if peer.drop_reason is not None:
            return
        peer.drop_reason = reason
        peer.pending.clear()
        peer.transport.abort()
        if self._on_drop is not None:
            self._on_drop(peer, reason)
