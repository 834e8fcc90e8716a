"""The hub's interface, and the sending side of one connection, with no I/O.

A *hub* is a broadcast backend: who is on the server, which rooms there are
and who is in each, and getting events to them. Sessions and commands talk to
it only through :class:`Hub` (register a nickname, join and part rooms,
publish to a room, send to one, look up), so the backend behind it can be the
in-process one (:mod:`tcpchat.server.local_hub`) or, later, one that spans
several servers. A :class:`Peer` is what the hub knows of one connection: its
transport, its rendering, its rooms and the bytes it is owed; a :class:`Room`
is one room: its name, its topic and its members. The transport is any object
with the four methods of :class:`Transport` (an asyncio transport, or a test's
fake), so this module needs no asyncio.
"""

from __future__ import annotations

import bisect
from typing import Protocol

from tcpchat.core.events import Event, Join, Leave, Part
from tcpchat.core.nicks import nick_key
from tcpchat.core.render import Rendering
from tcpchat.core.rooms import RoomRules, room_key

#: Default bound on one member's unsent bytes before it is disconnected.
DEFAULT_MAX_QUEUE_BYTES = 1024 * 1024

QUEUE_EXCEEDED = "send queue exceeded"

#: The comings and goings that a big room keeps to whom they are about.
COMINGS_AND_GOINGS = (Join, Part, Leave)


class Transport(Protocol):
    """What a hub needs of a connection's transport (asyncio's ``WriteTransport`` has it)."""

    def write(self, data: bytes) -> None:
        """Queue ``data`` to be sent without waiting."""

    def is_closing(self) -> bool:
        """Whether the connection is closing or closed."""

    def abort(self) -> None:
        """Close the connection at once, dropping what is unsent."""

    def get_write_buffer_size(self) -> int:
        """Bytes queued and not yet handed to the kernel."""


class Settles(Protocol):
    """A hub that can move what its room log owes a peer into the peer's own bytes."""

    def settle(self, peer: Peer) -> None:
        """Make what ``peer`` is owed so far its own, rendered as it is now."""


class Peer:
    """The sending side of one connection: its transport, rendering, rooms and pending bytes.

    ``nick`` is set while the peer is registered on the server; ``rooms`` are the
    rooms it is in, in the order it joined them. ``drop_reason`` is set when the
    hub cut the peer off, so the connection can say why it ended. ``pending``
    holds bytes owed to this peer alone; what it is owed from its rooms since
    ``room_mark`` is still in its hub's room log. ``away`` is its away message
    (None: here); ``connected_at`` and ``active_at`` are monotonic times of its
    connection and of the last line it said, for ``/whois``. ``json_only`` is
    set for a connection whose door frames JSON events (the WebSocket door): it
    cannot switch to text, and its events are written as WebSocket frames
    (``Rendering.WEBSOCKET``). ``flood_delays`` counts the lines flood control held
    back (for ``/metrics``). ``user`` and ``realname`` are what an IRC client
    gave in ``USER`` ("": a native connection, which gives neither), for IRC's
    ``WHO`` and ``WHOIS``.
    """

    __slots__ = (
        "_format",
        "_hub",
        "_json_only",
        "_rendering",
        "active_at",
        "address",
        "away",
        "connected_at",
        "drop_reason",
        "flood_delays",
        "nick",
        "pending",
        "realname",
        "room_mark",
        "rooms",
        "transport",
        "user",
    )

    def __init__(self, transport: Transport, address: str = "?", now: float = 0.0) -> None:
        self.transport = transport
        self.address = address
        self._format = Rendering.TEXT  # what the connection chose
        self._rendering = Rendering.TEXT  # what it gets: TEXT_ROOMS when in several rooms
        self.nick: str | None = None
        self.rooms: dict[Room, None] = {}
        self.pending: list[bytes] = []
        self.drop_reason: str | None = None
        self.room_mark = 0  # the first entry of the room log this peer is owed
        self._hub: Settles | None = None  # set while registered
        self.away: str | None = None
        self.connected_at = self.active_at = now
        self._json_only = False
        self.flood_delays = 0
        self.user = ""
        self.realname = ""

    @property
    def rendering(self) -> Rendering:
        """The rendering this connection chose: TEXT or JSON (``/format``)."""
        return self._format

    @rendering.setter
    def rendering(self, rendering: Rendering) -> None:
        # What the room owes the peer so far is rendered as it was published.
        if self._hub is not None and rendering is not self._format:
            self._hub.settle(self)
        self._format = rendering
        self.rooms_changed()

    @property
    def json_only(self) -> bool:
        """Whether the door frames JSON events: the connection gets ``WEBSOCKET``, for good."""
        return self._json_only

    @json_only.setter
    def json_only(self, framed: bool) -> None:
        if self._hub is not None and framed is not self._json_only:
            self._hub.settle(self)
        self._json_only = framed
        self.rooms_changed()

    @property
    def wire_rendering(self) -> Rendering:
        """How events are written to it now: its choice, with rooms named when in several,
        and JSON as frames for a WebSocket."""
        return self._rendering

    def rooms_changed(self) -> None:
        """Choose the text with room names while in several rooms (the hub settled first)."""
        if self._json_only:
            self._rendering = Rendering.WEBSOCKET
            return
        several = self._format is Rendering.TEXT and len(self.rooms) > 1
        self._rendering = Rendering.TEXT_ROOMS if several else self._format

    def __repr__(self) -> str:
        return f"<Peer {self.nick or '(unregistered)'} from {self.address}>"


class Room:
    """One room: its name (as first written), its topic, its creator and its members.

    A hub keeps its rooms' members up to date (:meth:`add`, :meth:`remove`,
    :meth:`renamed`); everyone else reads them. ``members`` maps each member's
    nickname key to its peer. ``creator`` is the nickname that made the room,
    for the moderation to come.
    """

    __slots__ = ("_nicks", "_sorted_keys", "creator", "key", "members", "name", "topic", "topic_by")

    def __init__(self, name: str, creator: str = "") -> None:
        self.name = name
        self.key = room_key(name)
        self.creator = creator
        self.topic = ""
        self.topic_by = ""  # who set the topic ("" if nobody has)
        self.members: dict[str, Peer] = {}
        # The members' nick keys in order, and the sorted nicknames made from them on
        # demand: every join lists the room, so a burst of N joins stays O(N²) in
        # copying rather than re-normalising and sorting every nickname each time.
        self._sorted_keys: list[str] = []
        self._nicks: tuple[str, ...] | None = ()

    def __len__(self) -> int:
        return len(self.members)

    def __repr__(self) -> str:
        return f"<Room {self.name} of {len(self.members)}>"

    def nicks(self) -> tuple[str, ...]:
        """The members' nicknames, sorted as nicknames compare."""
        if self._nicks is None:
            members = self.members
            self._nicks = tuple(members[key].nick or "" for key in self._sorted_keys)
        return self._nicks

    def names_for(self, viewer: Peer) -> tuple[str, ...]:
        """The nicknames ``viewer`` is answered with (its join's names, a member list):
        :meth:`nicks`. (In a cluster, the room as its one order has it for ``viewer``.)"""
        return self.nicks()

    def everyone(self) -> dict[str, Peer]:
        """Every member by nickname key: ``members`` here; in a cluster, those of every node
        (what a command naming a member, such as ``/kick``, looks in)."""
        return dict(self.members)

    def has_member(self, key: str) -> bool:
        """Whether the member of nickname key ``key`` is in the room (in a cluster: on any
        node)."""
        return key in self.members

    def away(self) -> tuple[str, ...]:
        """The nicknames of the members who are away, sorted."""
        members = self.members
        return tuple(members[key].nick or "" for key in self._sorted_keys if members[key].away)

    def add(self, key: str, peer: Peer) -> None:
        self.members[key] = peer
        bisect.insort(self._sorted_keys, key)
        self._nicks = None

    def remove(self, key: str) -> None:
        del self.members[key]
        index = bisect.bisect_left(self._sorted_keys, key)
        if index < len(self._sorted_keys) and self._sorted_keys[index] == key:
            del self._sorted_keys[index]
        self._nicks = None

    def renamed(self, old_key: str, peer: Peer) -> None:
        """``peer``, a member known as ``old_key``, has a new nickname."""
        self.remove(old_key)
        self.add(nick_key(peer.nick or ""), peer)


def kept_quiet(event: Event, room: Room, rules: RoomRules) -> bool:
    """Whether ``event``, told in ``room``, reaches only the member it is about.

    A join, part or quit (:data:`COMINGS_AND_GOINGS`) in a room of more than
    ``rules.quiet_joins_above`` members is not announced to the room: a joiner or
    parter still gets its own event, as confirmation. Everything else (messages,
    nick changes, topics, kicks and other moderation) is told to the whole room.
    The room is counted with that member in it, whether the event comes before it
    leaves or after (a cluster's node reads a part once the parter is gone), and in
    a cluster with every node's members.
    """
    if not isinstance(event, COMINGS_AND_GOINGS):
        return False
    return rules.is_quiet(len(room) + (not room.has_member(nick_key(event.nick))))


class Hub(Protocol):
    """What connection code needs from a broadcast backend.

    Nicknames are server-wide: :meth:`register` takes one, :meth:`leave` gives it
    back and takes the peer out of every room. Rooms are joined and parted one by
    one; an event said in a room is published to it, reaching its members only,
    and a nick change or a leaving is announced once to everyone who shares a
    room with that peer. A big room's joins, parts and quits reach only the
    member they are about (:func:`kept_quiet`).
    """

    def register(self, peer: Peer, nick: str) -> None:
        """Put ``peer`` on the server as ``nick``; raise :class:`NickTaken` if someone has it."""

    def rename(self, peer: Peer, nick: str) -> None:
        """Change a peer's nickname; raise :class:`NickTaken` if someone else has it."""

    def set_away(self, peer: Peer, message: str | None) -> None:
        """Mark ``peer`` away with ``message`` (``None``: back), for everyone who asks."""

    def leave(self, peer: Peer) -> bool:
        """Take ``peer`` out of every room and off the server; return whether it was on it."""

    def find(self, nick: str) -> Peer | None:
        """The peer with nickname ``nick`` (compared as nicknames are), if any."""

    def nicks(self) -> tuple[str, ...]:
        """Everyone's nickname on the server, sorted."""

    def join_room(self, peer: Peer, name: str) -> Room:
        """Put ``peer`` in the room ``name`` (a valid name), made if new, and return it.

        Raise :class:`RoomLimit` if the server has all its rooms or ``peer`` is in
        as many as one may be. Joining a room one is in changes nothing.
        """

    def part_room(self, peer: Peer, room: Room) -> None:
        """Take ``peer`` out of ``room``; a room left empty disappears (unless kept)."""

    def room(self, name: str) -> Room | None:
        """The room called ``name`` (compared as nicknames are), if it exists."""

    def rooms(self) -> list[Room]:
        """Every room, sorted by name."""

    def set_topic(self, room: Room, text: str, nick: str) -> None:
        """Make ``text`` the topic of ``room``, set by ``nick`` ("" clears it)."""

    def publish(self, event: Event, *, room: Room, exclude: Peer | None = None) -> None:
        """Deliver ``event`` to every member of ``room`` except ``exclude`` (only to the
        member it is about, if the room keeps it quiet: :func:`kept_quiet`)."""

    def announce(self, event: Event, *, about: Peer, exclude: Peer | None = None) -> None:
        """Deliver ``event`` once to ``about`` and to everyone sharing a room with it,
        except ``exclude`` (a nick change, a leaving); a room that keeps a leaving
        quiet (:func:`kept_quiet`) is not told."""

    def send(self, peer: Peer, event: Event) -> None:
        """Deliver ``event`` to ``peer`` alone (registered or not)."""

    def send_raw(self, peer: Peer, data: bytes) -> None:
        """Deliver ``data``, already in ``peer``'s rendering, to ``peer`` alone, in order.

        For replies that only the front door knows how to word for that one
        connection (an IRC numeric names its recipient).
        """

    def flush(self, peer: Peer) -> None:
        """Write ``peer``'s pending bytes now (before closing its connection)."""
