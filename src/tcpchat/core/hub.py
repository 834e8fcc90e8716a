"""The hub's interface, and the sending side of one connection, with no I/O.

A *hub* is a broadcast backend: who is in the chat, and getting events to
them. Sessions and commands talk to it only through :class:`Hub` (publish to
the room, send to one, join, leave, look up), so the backend behind it can be
the in-process one (:mod:`tcpchat.server.chat.local_hub`) or, later, one that spans
several servers. A :class:`Peer` is what the hub knows of one connection: its
transport, its rendering and the bytes it is owed. The transport is any object
with the four methods of :class:`Transport` (an asyncio transport, or a test's
fake), so this module needs no asyncio.
"""

from __future__ import annotations

from typing import Protocol

from tcpchat.core.events import Event
from tcpchat.core.render import Rendering

#: Default bound on one member's unsent bytes before it is disconnected.
DEFAULT_MAX_QUEUE_BYTES = 1024 * 1024

QUEUE_EXCEEDED = "send queue exceeded"


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
    """The sending side of one connection: its transport, rendering and pending bytes.

    ``nick`` is set while the peer is a member of the room. ``drop_reason`` is set
    when the hub cut the peer off, so the connection can say why it ended.
    ``pending`` holds bytes owed to this peer alone; what it is owed from the
    room since ``room_mark`` is still in its hub's room log.
    """

    __slots__ = (
        "_hub",
        "_rendering",
        "address",
        "drop_reason",
        "nick",
        "pending",
        "room_mark",
        "transport",
    )

    def __init__(self, transport: Transport, address: str = "?") -> None:
        self.transport = transport
        self.address = address
        self._rendering = Rendering.TEXT
        self.nick: str | None = None
        self.pending: list[bytes] = []
        self.drop_reason: str | None = None
        self.room_mark = 0  # the first entry of the room log this peer is owed
        self._hub: Settles | None = None  # set while a member

    @property
    def rendering(self) -> Rendering:
        return self._rendering

    @rendering.setter
    def rendering(self, rendering: Rendering) -> None:
        # What the room owes the peer so far is rendered as it was published.
        if self._hub is not None and rendering is not self._rendering:
            self._hub.settle(self)
        self._rendering = rendering

    def __repr__(self) -> str:
        return f"<Peer {self.nick or '(unregistered)'} from {self.address}>"


class Hub(Protocol):
    """What connection code needs from a broadcast backend."""

    def publish(self, event: Event, *, exclude: Peer | None = None) -> None:
        """Deliver ``event`` to every member of the room except ``exclude``."""

    def send(self, peer: Peer, event: Event) -> None:
        """Deliver ``event`` to ``peer`` alone (a member or not)."""

    def join(self, peer: Peer, nick: str) -> None:
        """Make ``peer`` a member as ``nick``; raise :class:`NickTaken` if someone has it."""

    def rename(self, peer: Peer, nick: str) -> None:
        """Change a member's nickname; raise :class:`NickTaken` if someone else has it."""

    def leave(self, peer: Peer) -> bool:
        """Remove ``peer`` from the room; return whether it was a member."""

    def find(self, nick: str) -> Peer | None:
        """The member with nickname ``nick`` (compared as nicknames are), if any."""

    def nicks(self) -> tuple[str, ...]:
        """The members' nicknames, sorted."""

    def flush(self, peer: Peer) -> None:
        """Write ``peer``'s pending bytes now (before closing its connection)."""
