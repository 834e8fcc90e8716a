"""The load generator's rooms mode, against a fake rooms server speaking tcpchat's text lines.

The fake follows the rooms protocol as far as the generator uses it: a
welcome, ``/join #room`` (joined, and made current), ``/part #room`` (the
parter told ``*** NICK left the room``), and plain lines relayed to the other
members of the sender's current room. A leaky fake also hands each line to one
member of another room, which the generator must count as foreign.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from benchmarks.generator import Generator
from benchmarks.stats import Step

from benchmarks import generator
from tests.support.components import needs

pytestmark = needs("gcc")

STAMP = "[12:00:00] "
DEFAULT_ROOM = "#lobby"


@dataclass
class FakeRoomsServer:
    """Rooms by name, each a dict of its members' writers by nick."""

    leak: bool = False
    rooms: dict[str, dict[str, asyncio.StreamWriter]] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nick = ""
        current: str | None = DEFAULT_ROOM
        try:
            writer.write(b"*** Welcome to the fake. Choose a nickname:\n")
            nick = (await reader.readline()).decode().strip()
            self.commands[nick] = []
            self.rooms.setdefault(DEFAULT_ROOM, {})[nick] = writer
            writer.write(f"{STAMP}*** Welcome, {nick}! 1 users online: {nick}\n".encode())
            while raw := await reader.readline():
                line = raw.decode().rstrip("\n")
                if line.startswith("/"):
                    self.commands[nick].append(line)
                    verb, _, room = line.partition(" ")
                    if verb == "/join":
                        self.rooms.setdefault(room, {})[nick] = writer
                        current = room
                        writer.write(f"{STAMP}{room} *** {nick} joined\n".encode())
                    elif verb == "/part":
                        self.rooms.get(room, {}).pop(nick, None)
                        writer.write(f"{STAMP}*** {nick} left the room\n".encode())
                elif current is not None:
                    self.say(current, nick, line)
        except ConnectionError:
            pass  # the generator resets its connections when a step ends: a member gone
        finally:
            for members in self.rooms.values():
                members.pop(nick, None)
            writer.close()

    def say(self, room: str, nick: str, text: str) -> None:
        data = f"{STAMP}<{nick}> {text}\n".encode()
        for member, writer in self.rooms[room].items():
            if member != nick:
                writer.write(data)
        if self.leak:
            # Into another room that still has a member (members leave as a step ends).
            others = [r for r in sorted(self.rooms) if r not in (room, DEFAULT_ROOM)]
            listeners = [w for r in others for w in self.rooms[r].values()]
            if listeners:
                listeners[0].write(data)


@contextlib.asynccontextmanager
async def fake_rooms_server(fake: FakeRoomsServer) -> AsyncIterator[int]:
    """``fake`` listening on 127.0.0.1, port 0; yields the port."""
    server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for members in fake.rooms.values():
            for writer in members.values():
                writer.close()
        await server.wait_closed()


@pytest.fixture(scope="module")
def loadgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The load generator, compiled for this test module."""
    return generator.build(tmp_path_factory.mktemp("loadgen") / "loadgen")


async def run_rooms(loadgen: Path, fake: FakeRoomsServer, clients: int, rooms: int) -> Step:
    """Register ``clients`` in ``rooms`` rooms on ``fake`` and run one short step."""
    async with fake_rooms_server(fake) as port:

        def run() -> Step:
            with Generator(loadgen, port=port, proto="text", clients=clients, rooms=rooms) as gen:
                return gen.step(rate=200, seconds=0.5, drain=0.5, grace=5.0)

        return await asyncio.to_thread(run)


async def test_each_client_joins_its_room_then_leaves_the_default_room(loadgen: Path) -> None:
    """Once welcomed, client k sends ``/join #rNN`` for room k mod R, then ``/part #lobby``."""
    fake = FakeRoomsServer()
    await run_rooms(loadgen, fake, clients=20, rooms=4)
    assert len(fake.commands) == 20
    joined = sorted(commands[0] for commands in fake.commands.values())
    assert joined == sorted(f"/join #r{k % 4:02d}" for k in range(20))
    assert all(commands[1:] == ["/part #lobby"] for commands in fake.commands.values())


async def test_a_member_counts_exactly_its_own_rooms_lines(loadgen: Path) -> None:
    """With 4 rooms of 5, each message is owed to the 4 others of its room, and arrives."""
    step = await run_rooms(loadgen, FakeRoomsServer(), clients=20, rooms=4)
    assert step.sent > 0
    assert step.fanout == 4
    assert step.expected == step.sent * 4
    assert step.received == step.expected
    assert step.foreign == 0
    assert step.under_knee()


async def test_a_line_from_another_room_is_foreign_not_received(loadgen: Path) -> None:
    """A line leaked into another room is counted as foreign, and the step is past the knee."""
    step = await run_rooms(loadgen, FakeRoomsServer(leak=True), clients=20, rooms=4)
    assert step.foreign == step.sent
    assert step.received == step.expected
    assert not step.under_knee()
