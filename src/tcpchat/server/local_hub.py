"""The broadcast hub: who is on the server, in which rooms, and getting events to them.

A broadcast never waits on a peer. Publishing to a room costs the same
whatever the room's size: the event is appended to the pass's *room log* (with
its room), and once per pass (the next loop turn, ``loop.call_soon``; spaced by
the server's :class:`~tcpchat.core.pacing.FlushGate` while its loop is busy) the
hub fans the log out room by room. Each room's events are encoded once per rendering and
joined once, and the same bytes object goes to every member of the room in one
``write()``. A member who sent in the pass gets that same joined buffer cut
around its own events (one copy of at most k + 1 slices for k events of its
own). Only members who were also sent something of their own, whose rooms
changed in the pass, or who heard from two or more rooms in it get bytes
assembled for them event by event, in the one server order. So a member still
gets at most one ``write()`` per pass, however many rooms it is in. The
transport's write buffer is then that member's outbound queue, and a member
whose queue grows past ``max_queue_bytes`` is cut off rather than allowed to
hold anyone else up.

Connection code talks to the hub only through the :class:`~tcpchat.core.hub.Hub`
interface, so another backend (Redis across machines, say) can stand beside
:class:`LocalHub`.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Callable, Collection
from typing import cast

from tcpchat.core.errors import NickTaken, RoomLimit
from tcpchat.core.events import Action, Event, Message
from tcpchat.core.hub import DEFAULT_MAX_QUEUE_BYTES, QUEUE_EXCEEDED, Peer, Room, kept_quiet
from tcpchat.core.nicks import nick_key, nick_skeleton
from tcpchat.core.pacing import FlushGate
from tcpchat.core.render import Encoder, Rendering, encode
from tcpchat.core.rooms import RoomRules, room_key

log = logging.getLogger(__name__)


#: How many renderings there are: the hub keeps each pass's encodings per rendering.
_RENDERINGS = len(Rendering)

#: The events that are something a member said in a room (``messages`` counts them).
_SAID = (Message, Action)


def _per_rendering() -> tuple[list[bytes | None], ...]:
    """One empty list of encodings per rendering."""
    return tuple([] for _ in Rendering)


def _check_free(nick: str, holder: Peer | None, asker: Peer) -> None:
    """Raise :class:`NickTaken` if ``holder``, someone else, has ``nick`` or a lookalike."""
    if holder is None or holder is asker:
        return
    if holder.nick is not None and nick_key(holder.nick) != nick_key(nick):
        raise NickTaken(f"the nickname {nick!r} looks like {holder.nick!r}'s; choose another")
    raise NickTaken(f"the nickname {nick!r} is taken; choose another")


def _without(joined: bytes, ends: list[int], indexes: list[int], left_out: list[int]) -> bytes:
    """``joined`` (the events at ``indexes``, ending at ``ends``) less the events ``left_out``.

    At most one slice more than the events left out is copied, whatever the pass holds.
    ``left_out`` may name events of other rooms (a member that sent to several): those
    are not in ``indexes`` and cost nothing.
    """
    view = memoryview(joined)
    parts: list[memoryview] = []
    start = 0
    for index in left_out:
        where = bisect.bisect_left(indexes, index)
        if where == len(indexes) or indexes[where] != index:
            continue  # an event of another room
        begin = ends[where - 1] if where else 0
        if begin > start:
            parts.append(view[start:begin])
        start = ends[where]
    if not start:
        return joined
    parts.append(view[start:])
    return b"".join(parts)


class LocalHub:
    """The in-process hub: the peers and rooms of one server, fanned out in this event loop.

    ``rules`` gives the default room and the limits on rooms. ``keeps_room`` is
    asked whether a room left empty should stay (with its topic) rather than
    disappear: the default room always stays, and a history store will keep
    the rooms it has history for. ``encode`` writes an event in a rendering:
    the core's text and JSON by default; the server hands in one that writes
    IRC too, so that every IRC member of a room gets the same bytes.
    """

    def __init__(
        self,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        on_drop: Callable[[Peer, str], None] | None = None,
        *,
        rules: RoomRules | None = None,
        keeps_room: Callable[[Room], bool] | None = None,
        encode: Encoder = encode,
    ) -> None:
        self.max_queue_bytes = max_queue_bytes
        self._encode = encode
        self.rules = rules or RoomRules()
        self._on_drop = on_drop
        self._keeps_room = keeps_room
        self._default_key = room_key(self.rules.default_room)
        self._peers: dict[str, Peer] = {}  # nick_key -> peer, for lookups by name
        self._lookalikes: dict[str, Peer] = {}  # nick_skeleton -> peer, for uniqueness
        # Everyone's nick keys in order, and the sorted nicknames made from them on demand.
        self._sorted_keys: list[str] = []
        self._sorted_nicks: tuple[str, ...] | None = ()
        self._rooms: dict[str, Room] = {}  # room_key -> room
        self._dirty: list[Peer] = []  # peers with pending bytes, in first-touched order
        self._flush_scheduled = False
        self._flush_soon: asyncio.Handle | None = None  # the pass, when called for at once
        #: When each pass runs: None, at once (the next loop iteration); a server sets a
        #: gate that spaces passes while its loop is busy (core/pacing.py).
        self.pacer: FlushGate | None = None
        # This pass's room log: the events published, to which room, whom each leaves
        # out, and their encodings per rendering, made on demand.
        self._log_events: list[Event] = []
        self._log_rooms: list[Room] = []
        self._log_excluded: list[Peer | None] = []
        self._log_encoded: tuple[list[bytes | None], ...] = _per_rendering()
        self._log_encoded_through = [0] * _RENDERINGS  # per rendering: how many are made
        self._active: dict[Room, list[int]] = {}  # the rooms published to, and where in the log
        # The peers left out of something this pass, with the log entries they are left out of.
        self._senders: dict[Peer, list[int]] = {}
        self._marked: list[Peer] = []  # peers whose room_mark is not 0, to reset after the pass
        # What the hub has done so far, as plain ints that /metrics reads when it is scraped
        # (server/metrics.py). The fan-out adds to them once per room per pass, never once
        # per delivery, so that counting costs the hot loop nothing it can measure.
        #: Lines and actions said in rooms.
        self.messages = 0
        #: Deliveries: ``write()`` calls to members' transports, and the bytes they wrote.
        self.writes = 0
        self.bytes_out = 0
        #: Members cut off because their send queue passed ``max_queue_bytes``.
        self.dropped_full_queue = 0

    def __len__(self) -> int:
        return len(self._peers)

    # -- nicknames -----------------------------------------------------------

    def register(self, peer: Peer, nick: str) -> None:
        key, skeleton = nick_key(nick), nick_skeleton(nick)
        _check_free(nick, self._lookalikes.get(skeleton), peer)
        self._peers[key] = peer
        self._lookalikes[skeleton] = peer
        self._add_key(key)
        peer.nick = nick
        peer._hub = self

    def rename(self, peer: Peer, nick: str) -> None:
        assert peer.nick is not None, "only registered peers can be renamed"
        old_key, new_key = nick_key(peer.nick), nick_key(nick)
        new_skeleton = nick_skeleton(nick)
        _check_free(nick, self._lookalikes.get(new_skeleton), peer)
        del self._peers[old_key]
        del self._lookalikes[nick_skeleton(peer.nick)]
        self._remove_key(old_key)
        self._peers[new_key] = peer
        self._lookalikes[new_skeleton] = peer
        self._add_key(new_key)
        peer.nick = nick
        for room in peer.rooms:
            room.renamed(old_key, peer)

    def set_away(self, peer: Peer, message: str | None) -> None:
        peer.away = message

    def leave(self, peer: Peer) -> bool:
        if peer.nick is None:
            return False
        key = nick_key(peer.nick)
        if self._peers.get(key) is not peer:
            return False
        self.settle(peer)  # it is still owed what was published while it was a member
        for room in list(peer.rooms):
            self._remove_from(room, key, peer)
        peer.rooms_changed()
        del self._peers[key]
        del self._lookalikes[nick_skeleton(peer.nick)]
        self._remove_key(key)
        peer._hub = None
        return True

    def find(self, nick: str) -> Peer | None:
        return self._peers.get(nick_key(nick))

    def nicks(self) -> tuple[str, ...]:
        if self._sorted_nicks is None:
            peers = self._peers
            self._sorted_nicks = tuple(peers[key].nick or "" for key in self._sorted_keys)
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
        """Everyone registered on the server."""
        return list(self._peers.values())

    # -- rooms -----------------------------------------------------------------

    def join_room(self, peer: Peer, name: str) -> Room:
        assert peer.nick is not None, "only registered peers join rooms"
        key = room_key(name)
        room = self._rooms.get(key)
        if room is not None and room in peer.rooms:
            return room
        most = self.rules.max_rooms_per_member
        if len(peer.rooms) >= most:
            raise RoomLimit(f"you are in {most:,} rooms, the most one may be in; /part one first")
        if room is None:
            if len(self._rooms) >= self.rules.max_rooms:
                raise RoomLimit(
                    f"the server has its {self.rules.max_rooms:,} rooms; join an existing one"
                )
            room = self._rooms[key] = Room(name, creator=peer.nick)
        # What it is owed so far is rendered as it was published (with or without rooms).
        self.settle(peer)
        room.add(nick_key(peer.nick), peer)
        peer.rooms[room] = None
        peer.rooms_changed()
        return room

    def part_room(self, peer: Peer, room: Room) -> None:
        if peer.nick is None or room not in peer.rooms:
            return
        self.settle(peer)
        self._remove_from(room, nick_key(peer.nick), peer)
        peer.rooms_changed()

    def _remove_from(self, room: Room, key: str, peer: Peer) -> None:
        room.remove(key)
        del peer.rooms[room]
        self._drop_if_empty(room)

    def _drop_if_empty(self, room: Room) -> None:
        """Forget ``room`` if no one is in it here, unless it is kept (_keeps)."""
        if not room.members and not self._keeps(room) and self._rooms.get(room.key) is room:
            del self._rooms[room.key]

    def _keeps(self, room: Room) -> bool:
        """Whether ``room``, now empty, stays: the default room does, and what the policy keeps."""
        if room.key == self._default_key:
            return True
        return self._keeps_room is not None and self._keeps_room(room)

    def room(self, name: str) -> Room | None:
        return self._rooms.get(room_key(name))

    def rooms(self) -> list[Room]:
        return sorted(self._rooms.values(), key=lambda room: room.key)

    def set_topic(self, room: Room, text: str, nick: str) -> None:
        room.topic = text
        room.topic_by = nick

    # -- delivery ----------------------------------------------------------

    def publish(self, event: Event, *, room: Room, exclude: Peer | None = None) -> None:
        if kept_quiet(event, room, self.rules):
            # A big room's join, part or quit: its subject alone is told, if it is here.
            subject = room.members.get(nick_key(getattr(event, "nick", "")))
            if subject is not None and subject is not exclude:
                self.settle(subject)
                self._queue(subject, self._encode(event, subject._rendering))
            return
        # O(1) whatever the room's size: the fan-out happens once per pass, in _flush_all.
        index = len(self._log_events)
        if isinstance(event, _SAID):
            self.messages += 1
        self._log_events.append(event)
        self._log_rooms.append(room)
        self._log_excluded.append(exclude)
        if exclude is not None:
            left_out = self._senders.get(exclude)
            if left_out is None:
                self._senders[exclude] = [index]
            else:
                left_out.append(index)
        where = self._active.get(room)
        if where is None:
            self._active[room] = [index]
        else:
            where.append(index)
        self._schedule_flush()

    def announce(self, event: Event, *, about: Peer, exclude: Peer | None = None) -> None:
        # O(co-members), once each however many rooms they share: nick changes and
        # leavings are rare, and IRC tells each co-member once too.
        if about._hub is self and len(about.rooms) == 1:
            # In one room, its members are everyone to tell (``about`` among them): the
            # room log tells them in order at O(1), as the churn of quits needs.
            self.publish(event, room=next(iter(about.rooms)), exclude=exclude)
            return
        recipients: dict[Peer, None] = {about: None} if about._hub is self else {}
        for room in about.rooms:
            if not kept_quiet(event, room, self.rules):
                recipients.update(dict.fromkeys(room.members.values()))
        if exclude is not None:
            recipients.pop(exclude, None)
        encoded: list[bytes | None] = [None] * _RENDERINGS
        for peer in recipients:
            self.settle(peer)  # what its rooms published before this comes first
            data = encoded[peer._rendering]
            if data is None:
                data = encoded[peer._rendering] = self._encode(event, peer._rendering)
            self._queue(peer, data)

    def send(self, peer: Peer, event: Event) -> None:
        self.settle(peer)  # what its rooms published before this comes first
        self._queue(peer, self._encode(event, peer._rendering))

    def send_raw(self, peer: Peer, data: bytes) -> None:
        self.settle(peer)  # what its rooms published before this comes first
        self._queue(peer, data)

    def _queue(self, peer: Peer, data: bytes) -> None:
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
            return  # not registered: its rooms owe it nothing
        end = len(self._log_events)
        start = peer.room_mark
        if start >= end:
            return
        if not start:
            self._marked.append(peer)
        peer.room_mark = end
        mine = self._rooms_heard(peer)
        if peer.drop_reason is not None or not mine:
            return
        rendering = peer._rendering
        excluded = self._log_excluded
        if len(self._active) == 1 and next(iter(self._active)) in mine:
            # The whole log is of one of its rooms (the common case): no room to check.
            encoded = self._encoded_through(rendering, end)
            owed = [
                data
                for index in range(start, end)
                if excluded[index] is not peer and (data := encoded[index])
            ]
        else:
            encoded = self._encodings(rendering)
            events, rooms = self._log_events, self._log_rooms
            owed = []
            for index in range(start, end):
                if rooms[index] in mine and excluded[index] is not peer:
                    data = encoded[index]
                    if data is None:
                        data = encoded[index] = self._encode(events[index], rendering)
                    if data:
                        owed.append(data)
        if owed:
            if not peer.pending:
                self._dirty.append(peer)
            peer.pending.extend(owed)

    def _rooms_heard(self, peer: Peer) -> Collection[Room]:
        """The rooms whose events ``peer`` hears: here, every room it is in (a cluster's
        node leaves out those whose join it has not heard back yet)."""
        return peer.rooms

    def _encodings(self, rendering: Rendering) -> list[bytes | None]:
        """The room log's encodings in ``rendering`` so far (None: not made yet)."""
        encoded = self._log_encoded[rendering]
        missing = len(self._log_events) - len(encoded)
        if missing:
            encoded.extend([None] * missing)
        return encoded

    def _encoded_through(self, rendering: Rendering, end: int) -> list[bytes | None]:
        """The room log's encodings in ``rendering``, every one of the first ``end`` made."""
        encoded = self._encodings(rendering)
        done = self._log_encoded_through[rendering]
        if done < end:
            events = self._log_events
            for index in range(done, end):
                if encoded[index] is None:
                    encoded[index] = self._encode(events[index], rendering)
            self._log_encoded_through[rendering] = end
        return encoded

    def _joined(self, rendering: Rendering, indexes: list[int]) -> bytes:
        """The room log's events at ``indexes``, encoded in ``rendering`` and joined."""
        end = len(self._log_events)
        if len(indexes) == end:  # the whole log: one room was published to
            return b"".join(cast(list[bytes], self._encoded_through(rendering, end)))
        encoded = self._encodings(rendering)
        events = self._log_events
        parts: list[bytes] = []
        for index in indexes:
            data = encoded[index]
            if data is None:
                data = encoded[index] = self._encode(events[index], rendering)
            parts.append(data)
        return b"".join(parts)

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled and (self._dirty or self._log_events):
            self._flush_scheduled = True
            loop = asyncio.get_running_loop()
            pacer = self.pacer
            if pacer is not None and pacer.busy:
                now = loop.time()
                when = pacer.due(now)
                if when > now:
                    # Busy: what arrives until then goes into the same writes.
                    loop.call_at(when, self._flush_all)
                    return
            self._flush_soon = loop.call_soon(self._flush_all)

    def flush_now(self) -> None:
        """On a quiet server, run the pass called for the next turn of the loop now: what
        a reply from elsewhere (Redis) brought the members goes out as its bytes arrived.
        A busy server's pass keeps its place, and gathers what the rest of the turn brings
        (the pacer's to space: core/pacing.py)."""
        handle = self._flush_soon
        if handle is not None and not (self.pacer is not None and self.pacer.busy):
            handle.cancel()
            self._flush_all()

    def _flush_all(self) -> None:
        """Write what each member got in this loop pass, one ``write()`` per member."""
        self._flush_scheduled = False
        self._flush_soon = None
        if self.pacer is not None:
            self.pacer.passed(asyncio.get_running_loop().time())
        if self._log_events:
            self._flush_rooms()
        dirty, self._dirty = self._dirty, []
        for peer in dirty:
            if peer.pending:
                self._write(peer)

    def _flush_rooms(self) -> None:
        """Fan the pass's room log out: each room's joined bytes to its members who sent nothing."""
        senders = self._senders
        active = self._active
        several = len(active) > 1
        limit = self.max_queue_bytes
        writes = written = 0  # added to the hub's counters once, after the pass
        for room, indexes in active.items():
            shared: list[bytes | None] = [None] * _RENDERINGS  # the room's events, per rendering
            # Where each of the room's events ends in ``shared``, per rendering, made for senders.
            ends: list[list[int] | None] = [None] * _RENDERINGS
            # The hot loop of the server: one iteration per member per pass, kept lean.
            for peer in list(room.members.values()):
                if (
                    peer.pending
                    or peer.room_mark
                    or (several and len(peer.rooms) > 1 and self._hears_several(peer))
                ):
                    self.settle(peer)  # bytes of its own, or a part of the log: assemble them
                    continue
                rendering = peer._rendering
                data = shared[rendering]
                if data is None:
                    data = shared[rendering] = self._joined(rendering, indexes)
                left_out = senders.get(peer)
                if left_out is not None:
                    # A sender: the room's joined bytes, cut around its own events.
                    cut = ends[rendering]
                    if cut is None:
                        cut = ends[rendering] = self._ends(rendering, indexes)
                    data = _without(data, cut, indexes, left_out)
                transport = peer.transport
                if not data or peer.drop_reason is not None or transport.is_closing():
                    continue
                transport.write(data)
                writes += 1
                written += len(data)
                if transport.get_write_buffer_size() > limit:
                    self.drop(peer, QUEUE_EXCEEDED)
        self.writes += writes
        self.bytes_out += written
        for peer in self._marked:
            peer.room_mark = 0
        self._log_events = []
        self._log_rooms = []
        self._log_excluded = []
        self._log_encoded = _per_rendering()
        self._log_encoded_through = [0] * _RENDERINGS
        self._active = {}
        self._senders = {}
        self._marked = []

    def _ends(self, rendering: Rendering, indexes: list[int]) -> list[int]:
        """Where each event at ``indexes`` ends in their joined bytes in ``rendering``."""
        encoded = cast(list[bytes], self._encodings(rendering))  # all made by _joined
        ends = []
        end = 0
        for index in indexes:
            end += len(encoded[index])
            ends.append(end)
        return ends

    def _hears_several(self, peer: Peer) -> bool:
        """Whether two or more of ``peer``'s rooms were published to in this pass."""
        active = self._active
        heard = 0
        for room in peer.rooms:
            if room in active:
                heard += 1
                if heard > 1:
                    return True
        return False

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
        self.writes += 1
        self.bytes_out += len(data)
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
        if reason == QUEUE_EXCEEDED:
            self.dropped_full_queue += 1
        peer.pending.clear()
        peer.transport.abort()
        if self._on_drop is not None:
            self._on_drop(peer, reason)
