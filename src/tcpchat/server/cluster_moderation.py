"""A room's moderation kept in Redis, so that every node of a cluster holds it.

``docs/scaling.md`` lays out the keys.

A node acts on what operators do to a room as it reads the room's stream
(:func:`~tcpchat.server.moderation.act_on_read`). What was done while none of
its members were in the room, it finds in the room's modes hash,
``PREFIX:{ROOM}:modes``:

- ``op:NICK_KEY``: a member who is an operator of the room (it made the room, or
  was ``/op``'d), for that membership only, as on a single server: each join of
  the nickname clears it (the join that made the room sets it), and its part,
  kick or leaving deletes it; a nick change moves it;
- ``mute:NICK_KEY``: a mute by nickname, with its Unix expiry ("" for good);
- ``slow``: slow mode's seconds (absent: off);
- ``at``: the id of the last event that changed the hash.

The append script writes the hash in the same step as the event that changes
it (:class:`ModesWrite`: at most one change an event), so the hash is exactly
the room's state after its event ``at``. A node that starts reading a room
loads the hash once its first event there is appended, and reads the stream
from that event on: the changes it reads with an id up to ``at`` are already in
what it loaded and are not applied again (:class:`ClusterModeration`), the later
ones are applied as they come, so nothing is lost or applied twice. The creator's
join carries a mark in its stream entry, so that every node knows its creator is
its operator.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from tcpchat.core.events import Event, EventClock, Join, Kick, Leave, ModeChange, NickChange, Part
from tcpchat.core.hub import Hub, Peer, Room
from tcpchat.core.moderation import Moderation
from tcpchat.core.nicks import nick_key
from tcpchat.server.moderation import act_on_read, apply_mode_change

log = logging.getLogger("tcpchat.moderation")

#: The fields of a room's modes hash (the module's docstring says what each holds).
OPERATOR = "op:"
MUTE = "mute:"
SLOW = "slow"
AT = "at"


@dataclass(frozen=True, slots=True)
class ModesWrite:
    """What one room event changes in its room's modes hash, in the script that appends it.

    ``action`` is ``set`` (``field`` takes ``value``), ``del`` (``field`` goes) or ``move``
    (``field``, if there, is renamed ``value``, keeping what it holds). ``made``: the join
    that made the room, marked in its stream entry so that every node makes its creator
    an operator.
    """

    action: str
    field: str
    value: str = ""
    made: bool = False


def modes_write(
    moderation: Moderation, event: Event, room: Room | None, author: Peer | None
) -> ModesWrite | None:
    """What ``event``, which this node is sending to ``room``'s stream (``author``: its
    member who caused it, if any), changes in the room's modes hash; None: nothing."""
    match event:
        case Join(nick=nick):
            field = OPERATOR + nick_key(nick)
            if (
                author is not None
                and room is not None
                and moderation.is_room_operator(author, room)
            ):
                return ModesWrite("set", field, made=True)  # it made the room
            return ModesWrite("del", field)  # a new membership starts without powers
        case Part(nick=nick) | Leave(nick=nick):
            return ModesWrite("del", OPERATOR + nick_key(nick))
        case Kick(target=target):
            return ModesWrite("del", OPERATOR + nick_key(target))
        case NickChange(old=old, new=new) if nick_key(old) != nick_key(new):
            return ModesWrite("move", OPERATOR + nick_key(old), OPERATOR + nick_key(new))
        case ModeChange(change="op" | "deop" as change, target=target):
            return ModesWrite("set" if change == "op" else "del", OPERATOR + nick_key(target))
        case ModeChange(change="mute", target=target, seconds=seconds, ts=ts):
            expires = f"{ts.timestamp() + seconds:.3f}" if seconds else ""
            return ModesWrite("set", MUTE + nick_key(target), expires)
        case ModeChange(change="unmute", target=target):
            return ModesWrite("del", MUTE + nick_key(target))
        case ModeChange(change="slow", seconds=seconds):
            return ModesWrite("set", SLOW, str(seconds)) if seconds else ModesWrite("del", SLOW)
    return None


def modes_fields(moderation: Moderation, room: Room) -> dict[str, str]:
    """The modes hash of ``room`` as this node holds it: what a node writes again when
    Redis came back empty (without ``at``: it knows no event that made it)."""
    modes = moderation.room_modes(room)
    if modes is None:
        return {}
    fields = {
        OPERATOR + nick_key(peer.nick): ""
        for peer in modes.operators
        if peer.nick is not None and room in peer.rooms
    }
    now = moderation.now()
    for key, mute in modes.mutes.items():
        if mute.expires is None or mute.expires > now:
            fields[MUTE + key] = "" if mute.expires is None else f"{mute.expires:.3f}"
    if modes.slow:
        fields[SLOW] = str(modes.slow)
    return fields


class ClusterModeration:
    """A node's side of its rooms' moderation in Redis: what each event it sends writes
    (:meth:`write`), the hash loaded as it starts reading a room (:meth:`loaded`), and
    what it reads from the others (:meth:`heard`), each applied once."""

    def __init__(self, moderation: Moderation, hub: Hub, clock: EventClock) -> None:
        self.moderation = moderation
        self._hub = hub
        self._clock = clock
        # Per room key: the id of the last change in the hash as loaded. Changes read with
        # an id up to it are in what was loaded.
        self._loaded_at: dict[str, int] = {}

    def write(self, event: Event, room: Room | None, author: Peer | None) -> ModesWrite | None:
        return modes_write(self.moderation, event, room, author)

    def fields(self, room: Room) -> dict[str, str]:
        return modes_fields(self.moderation, room)

    def loaded(self, room: Room, fields: dict[str, str], pending: Iterable[Event]) -> None:
        """This node starts reading ``room``: ``fields`` is its modes hash, read after this
        node's first event there was appended; ``pending`` are this node's events for the
        room not yet read back (its own changes since then hold on too)."""
        everyone = room.everyone()
        operators: list[Peer] = []
        mutes: dict[str, float | None] = {}
        slow = 0
        at = 0
        for field, value in fields.items():
            try:
                if field.startswith(OPERATOR):
                    peer = everyone.get(field.removeprefix(OPERATOR))
                    if peer is not None:
                        operators.append(peer)
                elif field.startswith(MUTE):
                    mutes[field.removeprefix(MUTE)] = float(value) if value else None
                elif field == SLOW:
                    slow = int(value)
                elif field == AT:
                    at = int(value)
            except ValueError:
                log.warning("the moderation of %s in Redis has a bad %s; ignored", room.name, field)
        now = self.moderation.now()
        live = {key: end for key, end in mutes.items() if end is None or end > now}
        self.moderation.restore(room, operators=operators, mutes=live, slow=slow)
        self._loaded_at[room.key] = at
        for event in pending:
            if isinstance(event, ModeChange):
                apply_mode_change(self.moderation, event, room)

    def heard(self, event: Event, room: Room, *, here: bool, made: bool) -> None:
        """``event`` came off ``room``'s stream (``here``: this node sent it; ``made``: the
        join that made the room). A kick always acts (its member leaves here); a change
        already in the hash as loaded is not applied twice."""
        if not isinstance(event, Kick) and event.id <= self._loaded_at.get(room.key, 0):
            return
        act_on_read(self.moderation, self._hub, self._clock, event, room, here=here, made=made)
