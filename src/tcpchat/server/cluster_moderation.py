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
- ``mute:NICK_KEY``: a mute by nickname, with its Unix expiry ("" for good); a
  nick change moves it, so that the mute follows the member to its new name;
- ``slow``: slow mode's seconds (absent: off);
- ``at``: the id of the last event that changed the hash.

The append script writes the hash in the same step as the event that changes
it (:class:`ModesWrite`: a few changes an event), so the hash is exactly
the room's state after its event ``at``. A node that starts reading a room
loads the hash once its first event there is appended, and reads the stream
from that event on: the changes it reads with an id up to ``at`` are already in
what it loaded and are not applied again (:class:`ClusterModeration`), the later
ones are applied as they come, so nothing is lost or applied twice. The creator's
join carries a mark in its stream entry, so that every node knows its creator is
its operator.

Until a room's moderation is loaded, the lines a member says there (messages, an
IRC ``NOTICE``, ``/me``, a ``/search`` question) cannot be judged: they are held
(:class:`LineHold`), with every later event of that member behind them, and judged
in order once it is loaded, each then sent or refused as a single server would.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tcpchat.core.errors import Banned, ModerationError
from tcpchat.core.events import (
    Action,
    AIAnswer,
    AIDelta,
    Event,
    EventClock,
    Join,
    Kick,
    Leave,
    Message,
    ModeChange,
    NickChange,
    Part,
    SearchFailed,
    SearchStarted,
)
from tcpchat.core.hub import Hub, Peer, Room
from tcpchat.core.moderation import Moderation
from tcpchat.core.nicks import nick_key
from tcpchat.server.cluster_view import ClusterRoom
from tcpchat.server.moderation import act_on_read, apply_mode_change

log = logging.getLogger("tcpchat.moderation")

#: The fields of a room's modes hash (the module's docstring says what each holds).
OPERATOR = "op:"
MUTE = "mute:"
SLOW = "slow"
AT = "at"

#: The events a room's moderation judges before they are said (``check_speak``): a
#: message (an IRC channel ``NOTICE`` too, a kind of message), an action, a /search
#: question. Held while the room's moderation is not loaded on this node.
SAID = (Message, Action, SearchStarted)
#: The events of a /search's answer, which follow its question.
_ANSWERS = (AIDelta, AIAnswer, SearchFailed)
#: What one member may have held at once, while rooms it joined load their moderation on
#: its node: the lines it said there and its events behind them (one Redis round trip's
#: worth of typing, and then some). Past it, what it says is refused with HOLD_FULL.
MAX_HELD_LINES = 100
#: Events and replies held for one member, at most: past that a reply is not held.
MAX_HELD = 1_000
HOLD_FULL = (
    "too many lines at once while this server loads the room's moderation from the "
    "others; this was not sent"
)


@dataclass(frozen=True, slots=True)
class ModesChange:
    """One change to a room's modes hash: ``action`` is ``set`` (``field`` takes
    ``value``), ``del`` (``field`` goes) or ``move`` (``field``, if there, is renamed
    ``value``, keeping what it holds)."""

    action: str
    field: str
    value: str = ""


@dataclass(frozen=True, slots=True)
class ModesWrite:
    """What one room event changes in its room's modes hash, in the script that appends it,
    in order. ``made``: the join that made the room, marked in its stream entry so that
    every node makes its creator an operator."""

    changes: tuple[ModesChange, ...]
    made: bool = False

    @classmethod
    def one(cls, action: str, field: str, value: str = "", *, made: bool = False) -> ModesWrite:
        return cls((ModesChange(action, field, value),), made)


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
                return ModesWrite.one("set", field, made=True)  # it made the room
            return ModesWrite.one("del", field)  # a new membership starts without powers
        case Part(nick=nick) | Leave(nick=nick):
            return ModesWrite.one("del", OPERATOR + nick_key(nick))
        case Kick(target=target):
            return ModesWrite.one("del", OPERATOR + nick_key(target))
        case NickChange(old=old, new=new) if nick_key(old) != nick_key(new):
            # A mute follows the member to its new name, as its operator field does.
            old_key, new_key = nick_key(old), nick_key(new)
            return ModesWrite(
                (
                    ModesChange("move", OPERATOR + old_key, OPERATOR + new_key),
                    ModesChange("move", MUTE + old_key, MUTE + new_key),
                )
            )
        case ModeChange(change="op" | "deop" as change, target=target):
            action = "set" if change == "op" else "del"
            return ModesWrite.one(action, OPERATOR + nick_key(target))
        case ModeChange(change="mute", target=target, seconds=seconds, ts=ts):
            expires = f"{ts.timestamp() + seconds:.3f}" if seconds else ""
            return ModesWrite.one("set", MUTE + nick_key(target), expires)
        case ModeChange(change="unmute", target=target):
            return ModesWrite.one("del", MUTE + nick_key(target))
        case ModeChange(change="slow", seconds=seconds):
            if seconds:
                return ModesWrite.one("set", SLOW, str(seconds))
            return ModesWrite.one("del", SLOW)
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
        # Per room key: the id of the last change read and acted on (heard).
        self._heard_at: dict[str, int] = {}
        # Per room key: the nick key of the last /ban read there, until its kick is: the
        # ban itself travels on the presence feed, which may be behind the room.
        self._ban_read: dict[str, str] = {}
        self.hold = LineHold(moderation)

    def loaded_at(self, room_key: str) -> int:
        """The id of the last change in ``room_key``'s hash as this node last loaded it."""
        return self._loaded_at.get(room_key, 0)

    def heard_at(self, room_key: str) -> int:
        """The id of the last change to ``room_key``'s moderation read and acted on."""
        return self._heard_at.get(room_key, 0)

    def forget(self, room_key: str) -> None:
        """This node no longer reads ``room_key``: its marks go (reading it again loads
        the hash anew), so that they stay as many as the rooms it reads."""
        self._loaded_at.pop(room_key, None)
        self._heard_at.pop(room_key, None)
        self._ban_read.pop(room_key, None)

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
        if isinstance(event, ModeChange) and event.change == "ban" and event.room:
            self._ban_read[room.key] = nick_key(event.target)
        if isinstance(event, Kick):
            takes_nothing = self.takes_nothing(event, room)
            self._ban_read.pop(room.key, None)
            if takes_nothing:
                return
        elif event.id <= self.loaded_at(room.key):
            return
        self._heard_at[room.key] = event.id
        if isinstance(event, NickChange):
            self._move_mute(room, event)
        act_on_read(self.moderation, self._hub, self._clock, event, room, here=here, made=made)

    def takes_nothing(self, kick: Kick, room: Room) -> bool:
        """Whether ``kick`` is of a member of this node whose join is not read yet: it
        comes after the kick in the room's stream (another node kicked it by its
        presence), so every node reads it joining after the kick, and it stays in here
        too. Not one banned meanwhile: out of the room here, whatever the others show."""
        key = nick_key(kick.target)
        if self._ban_read.get(room.key) == key:
            return False  # the kick of a /ban
        if not isinstance(room, ClusterRoom) or key not in room.joining:
            return False
        try:
            self.moderation.check_join(kick.target, room.name)
        except Banned:
            return False
        return True

    def _move_mute(self, room: Room, event: NickChange) -> None:
        """A muted member renamed: the mute follows it to its new name, as in the hash."""
        modes = self.moderation.room_modes(room)
        old, new = nick_key(event.old), nick_key(event.new)
        if modes is not None and old != new and old in modes.mutes:
            modes.mutes[new] = modes.mutes.pop(old)


@dataclass(frozen=True, slots=True)
class HeldLine:
    """An event a member published while it had a line held: sent (or refused) in order.

    ``rooms``: its room, or an announcement's rooms (a leaving, a nick change). ``judged``:
    a line said in a room whose moderation was not loaded, judged once it is; the others
    were judged when said, or are not lines.
    """

    event: Event
    rooms: tuple[Room, ...]
    exclude: Peer | None
    judged: bool
    announced: bool = False


@dataclass(frozen=True, slots=True)
class HeldReply:
    """A reply to a member with lines held (an IRC ``PONG``, an error): it goes after them,
    as a single server would have written it after their echoes."""

    reply: Event | bytes


@dataclass(frozen=True, slots=True)
class Verdict:
    """A held event whose turn came: ``refused`` says why it may not be said (None: send it;
    ``dropped``: the answer to a question that was refused, said to no one). A held
    reply's verdict is always: send it."""

    author: Peer
    line: HeldLine | HeldReply
    refused: ModerationError | None = None
    dropped: bool = False


class LineHold:
    """What a node holds of its members' lines while rooms they joined load their moderation.

    A member who says a line in a room whose moderation this node has not loaded yet
    (the first round trip after its join, when nobody else here was in it) cannot be
    judged: the line is held, and every later event of that member with it, in order, so
    that nothing overtakes it. The answer to a held question waits behind its asker.
    Once the room is loaded, :meth:`release` judges each held line in turn against it (as
    a single server would have at once), and hands back what to send and what to refuse.
    """

    def __init__(self, moderation: Moderation, limit: int = MAX_HELD_LINES) -> None:
        self.moderation = moderation
        self.limit = limit
        self._held: dict[Peer, deque[HeldLine | HeldReply]] = {}
        self._questions: dict[int, Peer] = {}  # held /search questions: search id -> asker
        self._refused_questions: set[int] = set()

    def __bool__(self) -> bool:
        """Whether anything is held, or a refused question's answer may still come."""
        return bool(self._held or self._refused_questions)

    def behind(self, author: Peer | None, event: Event) -> Peer | None:
        """The member ``event`` must wait behind (None: it need not wait): its author if it
        has lines held, or the asker of a held question this is the answer to."""
        if isinstance(event, _ANSWERS):
            return self._questions.get(event.search_id)
        return author if author is not None and author in self._held else None

    def holds(self, peer: Peer) -> bool:
        """Whether ``peer`` has lines held: its next event waits behind them."""
        return peer in self._held

    def refused_answer(self, event: Event) -> bool:
        """Whether ``event`` answers a question that was refused: said to no one."""
        if not isinstance(event, _ANSWERS) or event.search_id not in self._refused_questions:
            return False
        if not isinstance(event, AIDelta):
            self._refused_questions.discard(event.search_id)  # the answer's last event
        return True

    def hold(self, author: Peer, line: HeldLine) -> bool:
        """Hold ``line`` behind ``author``'s; False: it has all it may have held."""
        held = self._held.setdefault(author, deque())
        if isinstance(line.event, SAID) and len(held) >= self.limit and _lines(held) >= self.limit:
            return False  # a line; what changes membership (join, part, leaving) is kept
        held.append(line)
        if line.judged and isinstance(line.event, SearchStarted):
            self._questions[line.event.search_id] = author
        return True

    def hold_reply(self, peer: Peer, reply: Event | bytes) -> bool:
        """Hold a reply to ``peer`` behind its held lines; False: it has none (or so many
        held that this one goes now, out of its place, rather than grow the hold)."""
        held = self._held.get(peer)
        if held is None or len(held) >= MAX_HELD:
            return False
        held.append(HeldReply(reply))
        return True

    def take_replies(self, peer: Peer) -> list[Event | bytes]:
        """``peer``'s held replies, taken out to be sent now (it is leaving); its lines stay."""
        held = self._held.get(peer)
        if held is None:
            return []
        replies = [item.reply for item in held if isinstance(item, HeldReply)]
        if replies:
            kept = [item for item in held if isinstance(item, HeldLine)]
            if kept:
                self._held[peer] = deque(kept)
            else:
                del self._held[peer]
        return replies

    def release(self, loading: Callable[[str], bool]) -> list[Verdict]:
        """Each member's held events, in order, up to its first line said in a room still
        ``loading`` (by room key), judged against the moderation loaded meanwhile."""
        verdicts: list[Verdict] = []
        for author in list(self._held):
            held = self._held[author]
            while held and not _waits(held[0], loading):
                verdicts.append(self._judge(author, held.popleft()))
            if not held:
                del self._held[author]
        return verdicts

    def drop_all(self) -> list[tuple[Peer, HeldLine | HeldReply]]:
        """Everything held, forgotten: this node lost Redis, and none of it is sent. Returns
        everything held, in order, answers to questions excepted (said to no one)."""
        dropped = [
            (author, line)
            for author, held in self._held.items()
            for line in held
            if isinstance(line, HeldReply) or not isinstance(line.event, _ANSWERS)
        ]
        self._refused_questions.update(self._questions)
        self._held.clear()
        self._questions.clear()
        return dropped

    def _judge(self, author: Peer, line: HeldLine | HeldReply) -> Verdict:
        if isinstance(line, HeldReply):
            return Verdict(author, line)
        event = line.event
        if isinstance(event, _ANSWERS) and event.search_id in self._refused_questions:
            self.refused_answer(event)
            return Verdict(author, line, dropped=True)
        if not line.judged:
            return Verdict(author, line)
        if isinstance(event, SearchStarted):
            self._questions.pop(event.search_id, None)
        try:
            nick = getattr(event, "nick", None)
            self.moderation.check_speak(author, line.rooms[0], nick=nick)
        except ModerationError as exc:
            if isinstance(event, SearchStarted):
                self._refused_questions.add(event.search_id)
            return Verdict(author, line, refused=exc)
        return Verdict(author, line)


def _waits(item: HeldLine | HeldReply, loading: Callable[[str], bool]) -> bool:
    """Whether ``item`` is a line said in a room still ``loading``: it, and all behind it, wait."""
    return isinstance(item, HeldLine) and item.judged and loading(item.rooms[0].key)


def _lines(held: deque[HeldLine | HeldReply]) -> int:
    """How many of ``held`` are events (its replies count against no limit)."""
    return sum(isinstance(item, HeldLine) for item in held)
