"""The broadcast hub: who is in the room, and getting events to them.

A broadcast never waits on a peer. The hub encodes each event once per
rendering and appends the same bytes to every member's pending list; once per
event-loop pass (``loop.call_soon``) it writes each member's pending bytes to
its transport in one ``write()``. The transport's write buffer is then that
member's outbound queue, and a member whose queue grows past
``max_queue_bytes`` is cut off rather than allowed to hold anyone else up.

Connection code talks to the hub only through the :class:`Hub` interface
(publish to the room, send to one, join, leave, look up), so another backend
(Redis pub/sub across machines, say) could replace :class:`LocalHub`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from tcpchat.errors import NickTaken
from tcpchat.events import Event
from tcpchat.nicks import nick_key
from tcpchat.render import Rendering, encode

log = logging.getLogger(__name__)

#: Default bound on one member's unsent bytes before it is disconnected.
DEFAULT_MAX_QUEUE_BYTES = 1024 * 1024

QUEUE_EXCEEDED = "send queue exceeded"


class Peer:
    """The sending side of one connection: its transport, rendering and pending bytes.

    ``nick`` is set while the peer is a member of the room. ``drop_reason`` is set
    when the hub cut the peer off, so the connection can say why it ended.
    """

    __slots__ = ("address", "drop_reason", "nick", "pending", "rendering", "transport")

    def __init__(self, transport: asyncio.WriteTransport, address: str = "?") -> None:
        self.transport = transport
        self.address = address
        self.rendering = Rendering.TEXT
        self.nick: str | None = None
        self.pending: list[bytes] = []
        self.drop_reason: str | None = None

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


class LocalHub:
    """The in-process hub: members of one server, fanned out in this event loop."""

    def __init__(
        self,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        on_drop: Callable[[Peer, str], None] | None = None,
    ) -> None:
        self.max_queue_bytes = max_queue_bytes
        self._on_drop = on_drop
        self._members: dict[str, Peer] = {}  # nick_key -> peer
        self._dirty: list[Peer] = []  # peers with pending bytes, in first-touched order
        self._flush_scheduled = False

    def __len__(self) -> int:
        return len(self._members)

    # -- membership --------------------------------------------------------

    def join(self, peer: Peer, nick: str) -> None:
        key = nick_key(nick)
        if key in self._members:
            raise NickTaken(f"the nickname {nick!r} is taken; choose another")
        self._members[key] = peer
        peer.nick = nick

    def rename(self, peer: Peer, nick: str) -> None:
        assert peer.nick is not None, "only members can be renamed"
        old_key, new_key = nick_key(peer.nick), nick_key(nick)
        holder = self._members.get(new_key)
        if holder is not None and holder is not peer:
            raise NickTaken(f"the nickname {nick!r} is taken; choose another")
        del self._members[old_key]
        self._members[new_key] = peer
        peer.nick = nick

    def leave(self, peer: Peer) -> bool:
        if peer.nick is None:
            return False
        if self._members.get(nick_key(peer.nick)) is peer:
            del self._members[nick_key(peer.nick)]
            return True
        return False

    def find(self, nick: str) -> Peer | None:
        return self._members.get(nick_key(nick))

    def nicks(self) -> tuple[str, ...]:
        return tuple(sorted((p.nick for p in self._members.values() if p.nick), key=nick_key))

    def members(self) -> list[Peer]:
        return list(self._members.values())

    # -- delivery ----------------------------------------------------------

    def publish(self, event: Event, *, exclude: Peer | None = None) -> None:
        encoded: list[bytes | None] = [None, None]  # one encoding per rendering, made on demand
        dirty = self._dirty
        for peer in self._members.values():
            if peer is exclude:
                continue
            data = encoded[peer.rendering]
            if data is None:
                data = encoded[peer.rendering] = encode(event, peer.rendering)
            if not data:
                continue
            if not peer.pending:
                dirty.append(peer)
            peer.pending.append(data)
        self._schedule_flush()

    def send(self, peer: Peer, event: Event) -> None:
        data = encode(event, peer.rendering)
        if not data:
            return
        if not peer.pending:
            self._dirty.append(peer)
        peer.pending.append(data)
        self._schedule_flush()

    def flush(self, peer: Peer) -> None:
        if peer.pending:
            self._write(peer)

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled and self._dirty:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_all)

    def _flush_all(self) -> None:
        """Write what each member got in this loop pass, one ``write()`` per member."""
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for peer in dirty:
            if peer.pending:
                self._write(peer)

    def _write(self, peer: Peer) -> None:
        pending = peer.pending
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
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
