"""What one node of a cluster knows of the others: their users, and who is in which room.

A node of a cluster (:mod:`tcpchat.server.redis_hub`) keeps its own members in
its :class:`~tcpchat.server.local_hub.LocalHub`, as a single server does, and a
mirror of everyone else's: a :class:`RemotePeer` per user on another node,
built from the presence records the nodes write to Redis. Rooms are
:class:`ClusterRoom` objects, whose member lists, counts and away lists are the
whole cluster's, so that ``/users``, ``/rooms``, ``/whois`` and ``/msg`` need no
round trip to Redis: commands stay synchronous, as the core wants them.

Nothing here does I/O; the Redis hub feeds it what it reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass

from tcpchat.core.events import Event, Join, Kick, Leave, NickChange, Part
from tcpchat.core.hub import Peer, Room
from tcpchat.core.nicks import nick_key
from tcpchat.core.rooms import MAX_AWAY_CHARS
from tcpchat.irc.registration import clean_realname, clean_user


class NoTransport:
    """The transport of a user on another node: nothing is ever written to it here."""

    def write(self, data: bytes) -> None:
        """Nothing: a remote user's events go through Redis, never through this."""

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        """Nothing: a remote user's connection belongs to its own node."""

    def get_write_buffer_size(self) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class Presence:
    """One user as its node describes it to the cluster (a value of a presence hash).

    ``connected`` and ``active`` are Unix times: monotonic clocks differ between
    machines, so the record carries wall-clock times and each node turns them
    back into its own monotonic ones for ``/whois``.
    """

    nick: str
    rooms: tuple[str, ...]
    away: str | None
    connected: float
    active: float
    server_operator: bool = False
    #: An IRC member's user name and real name (for WHOIS and WHO); "" for others.
    user: str = ""
    realname: str = ""

    def encode(self) -> str:
        # What most members lack rides in a sixth field, an object, only when there is
        # any: a reader takes the keys it knows and passes over the others.
        more: dict[str, object] = {}
        if self.server_operator:
            more["oper"] = True
        if self.user:
            more["user"] = self.user
        if self.realname:
            more["realname"] = self.realname
        return json.dumps(
            [
                self.nick,
                list(self.rooms),
                self.away,
                self.connected,
                self.active,
                *([more] if more else []),
            ],
            ensure_ascii=False,
        )

    @classmethod
    def decode(cls, text: str) -> Presence:
        """The record ``encode`` wrote; ValueError for anything else."""
        try:
            nick, rooms, away, connected, active, *more = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a presence record: {exc}") from None
        extra = more[0] if len(more) == 1 else {}
        if not (
            isinstance(nick, str)
            and isinstance(rooms, list)
            and all(isinstance(room, str) for room in rooms)
            and (away is None or isinstance(away, str))
            and isinstance(connected, int | float)
            and isinstance(active, int | float)
            and len(more) <= 1
            and isinstance(extra, dict)
        ):
            raise ValueError("not a presence record: a field of the wrong type")
        away = away[:MAX_AWAY_CHARS] if away else away
        user, realname = extra.get("user"), extra.get("realname")
        return cls(
            nick,
            tuple(rooms),
            away,
            connected,
            active,
            server_operator=extra.get("oper") is True,
            # Kept as the IRC listener keeps them: an IRC line cannot carry anything else.
            user=clean_user(user) if isinstance(user, str) else "",
            realname=clean_realname(realname) if isinstance(realname, str) else "",
        )


def presence_of(
    peer: Peer,
    monotonic_now: float,
    wall_now: float | None = None,
    *,
    server_operator: bool = False,
) -> Presence:
    """How ``peer``, a member of this node, is described to the others."""
    wall = time.time() if wall_now is None else wall_now
    return Presence(
        peer.nick or "",
        tuple(room.name for room in peer.rooms),
        peer.away,
        wall - (monotonic_now - peer.connected_at),
        wall - (monotonic_now - peer.active_at),
        server_operator,
        peer.user,
        peer.realname,
    )


class RemotePeer(Peer):
    """A user connected to another node, as this node mirrors it.

    It is never registered in this node's hub and never written to: a ``/msg``
    to it goes to its node's inbox. ``rooms`` are the :class:`ClusterRoom` objects
    that show it as a member (for ``/whois``); ``listed``, those its presence lists.
    """

    __slots__ = ("listed", "node")

    def __init__(self, node: str, nick: str) -> None:
        super().__init__(NoTransport(), f"node {node}")
        self.node = node
        self.nick = nick
        self.listed: dict[Room, None] = {}

    def describe(self, presence: Presence, monotonic_now: float, wall_now: float) -> None:
        """Take the nickname, away message, names and times of ``presence`` (not the
        rooms)."""
        self.nick = presence.nick
        self.away = presence.away
        self.user = presence.user
        self.realname = presence.realname
        self.connected_at = monotonic_now - max(wall_now - presence.connected, 0.0)
        self.active_at = monotonic_now - max(wall_now - presence.active, 0.0)


class ClusterRoom(Room):
    """A room of the cluster: ``members`` are this node's, ``remote`` everyone else's.

    ``listed`` are the other nodes' members that their presence puts in the room, and
    ``remote`` those the room shows. While this node does not read the room, it shows
    ``listed``. While it does, a member whose coming or going it has read there since
    (``heard``) is shown as the stream tells, in its turn, and presence is no longer
    followed for it: presence can lag behind the stream, and what a member here is
    answered must agree with what it is told next.

    The hub fans out to ``members`` only. A member of this node that has just
    joined waits in ``joining`` until its join comes back from the room's stream,
    so that it is told nothing said in the room before it came in. The names,
    the count and the away list that commands show are the whole cluster's.

    A joiner was answered with the members the node knew of as it joined:
    ``answered`` keeps when (the last event id the node had made or seen by then),
    so that it is told what this node's members did after that and before its join. A node
    reads a room from its own first event there on: for a member that joined
    before the node read the room, ``welcomed`` keeps the other nodes' members it
    was answered with, until the node knows what came and went after them and
    before its first event (:meth:`owe`). ``join_seqs`` keeps the sequence number of each
    joiner's latest join on its way (None: not sent yet; ``join_ids``: that join's id as
    it was made): what it is told meanwhile follows it, and it is a member once that join
    is back, not an earlier one of its own. What it is to be told before that join is
    sent waits in ``early_news``. A joiner whose join waits behind its own lines held
    for a room's moderation (LineHold: ``holds``) is in ``held_joins`` until that join is
    sent: a member of this node with nothing held, whose own join goes ahead of it, is
    not answered with it (:meth:`names_for`), and ``left_out`` keeps who was answered so,
    to be told the join should it never reach the stream.
    """

    __slots__ = (
        "answered",
        "early_news",
        "heard",
        "held_joins",
        "holds",
        "join_ids",
        "join_seqs",
        "joining",
        "left_out",
        "listed",
        "remote",
        "welcomed",
    )

    def __init__(
        self, name: str, creator: str = "", holds: Callable[[Peer], bool] | None = None
    ) -> None:
        super().__init__(name, creator)
        self.holds = holds
        self.remote: dict[str, RemotePeer] = {}
        self.listed: dict[str, RemotePeer] = {}
        self.heard: set[str] = set()
        self.joining: dict[str, Peer] = {}
        self.answered: dict[str, int] = {}
        self.welcomed: dict[str, frozenset[str]] = {}
        self.join_seqs: dict[str, int | None] = {}
        self.early_news: dict[str, list[Event]] = {}
        self.join_ids: dict[str, int] = {}
        self.held_joins: set[str] = set()
        self.left_out: dict[str, dict[Peer, None]] = {}

    def __len__(self) -> int:
        return len(self.members) + len(self.remote) + len(self.joining)

    def everyone(self) -> dict[str, Peer]:
        """Every member of the room, on any node, by nickname key."""
        if not self.remote and not self.joining:
            return dict(self.members)
        return {**self.remote, **self.joining, **self.members}

    def has_member(self, key: str) -> bool:
        return key in self.members or key in self.remote or key in self.joining

    def nicks(self) -> tuple[str, ...]:
        if not self.remote and not self.joining:
            return super().nicks()
        if self._nicks is None:
            everyone = self.everyone()
            self._nicks = tuple(everyone[key].nick or "" for key in sorted(everyone))
        return self._nicks

    def names_for(self, viewer: Peer) -> tuple[str, ...]:
        """The names, but those of joiners whose join is held (``held_joins``): it reaches
        the stream after ``viewer``'s join, which has nothing to wait behind, and
        ``viewer`` is told it then (in a room that announces joins). A viewer with lines
        held itself is shown everyone: its join, or this answer, waits behind them, and
        which goes first, its lines or the other joiner's, is not known here. A member
        answered so is remembered until it is answered with everyone (``left_out``)."""
        if not self.held_joins:
            return self.nicks()
        own = nick_key(viewer.nick or "")
        if own in self.held_joins or (self.holds is not None and self.holds(viewer)):
            for viewers in self.left_out.values():
                viewers.pop(viewer, None)  # shown them all: nothing more is owed it
            return self.nicks()
        if own in self.members or own in self.joining:  # (not one outside asking)
            for key in self.held_joins:
                self.left_out.setdefault(key, {})[viewer] = None
        everyone = self.everyone()
        return tuple(
            everyone[key].nick or "" for key in sorted(everyone) if key not in self.held_joins
        )

    def away(self) -> tuple[str, ...]:
        everyone = self.everyone()
        return tuple(everyone[key].nick or "" for key in sorted(everyone) if everyone[key].away)

    def add_remote(self, key: str, peer: RemotePeer) -> None:
        self.remote[key] = peer
        self._nicks = None

    def remove_remote(self, key: str) -> None:
        if self.remote.pop(key, None) is not None:
            self._nicks = None

    def wait_for_join(self, key: str, answered: int, told: frozenset[str] | None = None) -> None:
        """The member ``key`` has joined here: it hears the room once its join is back.
        ``answered``: the node's last event id as it was answered; ``told``: the other
        nodes' members it was answered with, the node not reading the room yet."""
        peer = self.members[key]
        self.remove(key)
        self.joining[key] = peer
        self.answered[key] = answered
        self.join_seqs[key] = None
        if told is not None:
            self.welcomed[key] = told
        self._nicks = None

    def not_shown(self, made: int | None, exclude: Peer | None) -> list[Peer]:
        """The members still joining whose answer did not show a coming or going read now:
        every one for another node's (``made`` None: the node's view may not have had it),
        and for one of this node's, made as event ``made``, those answered before it."""
        if made is None:
            return list(self.joining.values())
        return [
            peer
            for key, peer in self.joining.items()
            if self.answered.get(key, 0) < made and peer is not exclude
        ]

    def renamed(self, old_key: str, peer: Peer) -> None:
        """A member of this node has a new nickname: one still joining keeps waiting for
        its join, under its new one."""
        if self.joining.pop(old_key, None) is None:
            super().renamed(old_key, peer)
            return
        key = nick_key(peer.nick or "")
        self.joining[key] = peer
        if old_key in self.answered:
            self.answered[key] = self.answered.pop(old_key)
        if old_key in self.welcomed:
            self.welcomed[key] = self.welcomed.pop(old_key)
        if old_key in self.join_seqs:
            self.join_seqs[key] = self.join_seqs.pop(old_key)
        if old_key in self.early_news:
            self.early_news[key] = self.early_news.pop(old_key)
        if old_key in self.join_ids:
            self.join_ids[key] = self.join_ids.pop(old_key)
        if old_key in self.held_joins:
            self.held_joins.discard(old_key)
            self.held_joins.add(key)
        if old_key in self.left_out:
            self.left_out[key] = self.left_out.pop(old_key)
        self._nicks = None

    def owe(self, before: Iterable[Event], here: Container[str]) -> list[tuple[Peer, Event]]:
        """The node reads the room from now on; ``before`` are the room's events just
        before its first one there, in order. Each member still joining that was answered
        before is owed the comings and goings its answer did not show: to tell it now,
        before anything the node reads of the room."""
        if not self.welcomed:
            return []
        before = list(before)
        owed = [
            (self.joining[key], event)
            for key, told in self.welcomed.items()
            if key in self.joining
            for event in comings_owed(told, before, here, self.name)
        ]
        self.welcomed.clear()
        return owed

    def latest_join(self, key: str, seq: int) -> bool:
        """Whether ``seq`` is the member ``key``'s join it waits for (or it waits for none):
        an earlier join of its own, read back after it parted and joined again, is not."""
        return self.join_seqs.get(key, seq) == seq

    def joined(self, key: str) -> Peer | None:
        """The join of ``key`` is back (or will never be): it hears the room from now on."""
        self.answered.pop(key, None)
        self.welcomed.pop(key, None)
        self.join_seqs.pop(key, None)
        self.early_news.pop(key, None)
        self.join_ids.pop(key, None)
        self.held_joins.discard(key)
        self.left_out.pop(key, None)
        peer = self.joining.pop(key, None)
        if peer is not None:
            self.add(key, peer)
        return peer

    def names_changed(self) -> None:
        """A remote member's nickname or away message changed: list them again."""
        self._nicks = None


def comings_owed(
    told: frozenset[str], before: Iterable[Event], here: Container[str], room: str
) -> list[Event]:
    """What a joiner answered with the other nodes' members ``told`` (nick keys) is owed of
    ``before``, the room's events before its join, in order: each nick whose last coming
    or going there (a kick is a going) disagrees with ``told``, by that event. A nick
    change is told as it is when both its names disagree, else as a join of the new name
    or a part of the old one. ``before`` may reach back past the answer: what the answer
    already showed agrees with it. The nicks of this node's own members (``here``) are
    left out: the answer knew them."""
    last: dict[str, tuple[bool, Event]] = {}  # by nick key: in the room after it, and it
    for event in before:
        match event:
            case Join(nick=nick):
                last[nick_key(nick)] = (True, event)
            case Part(nick=nick) | Leave(nick=nick) | Kick(target=nick):
                last[nick_key(nick)] = (False, event)
            case NickChange(old=old, new=new):
                last[nick_key(old)] = (False, event)
                last[nick_key(new)] = (True, event)
    wrong = {
        key: (inside, event)
        for key, (inside, event) in last.items()
        if key not in here and inside != (key in told)
    }
    owed: dict[int, Event] = {}  # by id: a nick change whose names both disagree, once
    for inside, event in wrong.values():
        if isinstance(event, NickChange):
            other = wrong.get(nick_key(event.old if inside else event.new))
            if other is None or other[1] is not event:
                if inside:
                    event = Join(event.id, event.ts, event.new, room)
                else:
                    event = Part(event.id, event.ts, event.old, room, "")
        owed[event.id] = event
    return [owed[event_id] for event_id in sorted(owed)]
