"""In-memory stand-ins for sockets, for tests of the core that need none."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from tcpchat.core.conversation import SearchService
from tcpchat.core.events import EventClock
from tcpchat.core.hub import Peer
from tcpchat.core.moderation import Moderation
from tcpchat.core.rooms import RoomRules
from tcpchat.core.session import Session
from tcpchat.server.local_hub import LocalHub


class FakeTransport:
    """Records what the hub writes (all of it, and each write() apart, to count them);
    reports a write buffer size the test chooses."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.writes: list[bytes] = []
        self.buffer_size = 0
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written += data
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.aborted

    def get_write_buffer_size(self) -> int:
        return self.buffer_size

    def abort(self) -> None:
        self.aborted = True


class Room:
    """A hub and sessions wired to fake transports: a chat room driven by plain calls."""

    def __init__(
        self,
        search: SearchService | None = None,
        moderation: Moderation | None = None,
        rules: RoomRules | None = None,
    ) -> None:
        self.rules = rules or RoomRules()
        self.hub = LocalHub(rules=self.rules)
        self.clock = EventClock()
        self.search = search
        self.moderation = moderation
        self.sessions: dict[str, Session] = {}

    def connect(self, name: str, *, json_mode: bool = True, address: str = "") -> Session:
        """A new connection (from ``address``, ``host:port``, if given), greeted, optionally
        switched to JSON, not yet registered."""
        transport = FakeTransport()
        peer = Peer(cast(asyncio.WriteTransport, transport), address or f"test:{name}")
        session = Session(
            peer,
            self.hub,
            self.clock,
            search=self.search,
            moderation=self.moderation,
            rules=self.rules,
        )
        session.greet()
        if json_mode:
            session.receive_line(b"/format json")
        self.sessions[name] = session
        self.events(session)  # the greeting is not what tests look at
        return session

    def join(self, nick: str, *, address: str = "") -> Session:
        session = self.connect(nick, address=address)
        session.receive_line(nick.encode())
        assert session.registered
        self.events(session)
        return session

    def events(self, session: Session) -> list[dict[str, Any]]:
        """The JSON events written to ``session`` since the last call."""
        self.hub.flush(session.peer)
        transport = cast(FakeTransport, session.peer.transport)
        data = bytes(transport.written)
        transport.written.clear()
        return [json.loads(line) for line in data.splitlines() if line.startswith(b"{")]

    def types(self, session: Session) -> list[str]:
        return [event["type"] for event in self.events(session)]


def writes(peer: Peer) -> list[bytes]:
    """What the hub wrote to ``peer``'s fake transport, write by write."""
    return cast(FakeTransport, peer.transport).writes


async def next_pass() -> None:
    """Wait until the callbacks scheduled so far (the hub's flush) have run."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_soon(done.set_result, None)
    await done
