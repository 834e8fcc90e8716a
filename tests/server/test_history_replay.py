"""Room history across restarts: replay on joining, topics that survive, ids that never repeat."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tcpchat.config import ServerSettings
from tcpchat.core.events import Join, Message, utc_now
from tcpchat.core.hub import Peer
from tcpchat.core.render import Rendering
from tcpchat.core.rooms import RoomRules
from tcpchat.server import history
from tcpchat.server.history import RoomHistory
from tests.support.fakes import FakeTransport
from tests.support.faults import wait_until
from tests.support.helpers import LineClient
from tests.support.history import history_server, history_settings, stored_texts


async def join(port: int, nick: str, *, json_mode: bool = False) -> LineClient:
    client = await LineClient.connect(port)
    await client.expect("Choose a nickname")
    await client.register(nick, json_mode=json_mode)
    return client


async def json_events_until(client: LineClient, kind: str) -> list[dict[str, Any]]:
    """Every JSON event read from now up to and including the first of type ``kind``."""
    events: list[dict[str, Any]] = []
    while True:
        line = await client.read_line()
        assert line is not None, f"EOF before {kind}; saw {client.seen}"
        if not line.startswith("{"):
            continue
        event: dict[str, Any] = json.loads(line)
        events.append(event)
        if event["type"] == kind:
            return events


async def test_a_restarted_server_replays_the_last_lines_with_their_ids_and_times(
    tmp_path: Path,
) -> None:
    """After a restart, registering replays the room's last lines as they were, then the end."""
    db = tmp_path / "tcpchat.db"
    async with history_server(db) as server:
        alice = await join(server.port, "alice", json_mode=True)
        for n in range(3):
            await alice.send(f"line {n}")
        await alice.send("/users")  # answered after the lines: they were published
        await alice.expect_json("users")
        await alice.close()
    async with history_server(db) as server:
        bob = await LineClient.connect(server.port)
        await bob.expect("Choose a nickname")
        await bob.send("/format json")
        await bob.expect_json("notice")
        await bob.send("bob")
        events = await json_events_until(bob, "history_end")
        await bob.close()
    welcome, *replayed, end = events
    assert welcome["type"] == "welcome"
    assert [(e["type"], e["nick"], e["text"], e["history"]) for e in replayed] == [
        ("message", "alice", f"line {n}", True) for n in range(3)
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", e["ts"]) for e in replayed)
    assert [e["id"] for e in replayed] == sorted(e["id"] for e in replayed)
    assert end == {**end, "type": "history_end", "room": "#lobby", "count": 3, "more": False}
    assert welcome["id"] > replayed[-1]["id"]  # the new server's ids start above them


async def test_text_users_see_the_replay_and_the_end_marker(tmp_path: Path) -> None:
    """On nc, a joiner reads the last lines, then *** end of history; /history for more."""
    async with history_server(tmp_path / "tcpchat.db", history_on_join=2) as server:
        alice = await join(server.port, "alice")
        await alice.send("one", "two", "three")
        bob = await join(server.port, "bob")
        await alice.expect(r"\*\*\* bob joined")
        await bob.send("/join #lobby")  # nothing: already in it
        lines = [await bob.read_line() for _ in range(3)]
        await alice.close()
        await bob.close()
    assert [re.sub(r"^\[[\d:]+\] ", "", line or "") for line in lines] == [
        "<alice> two",
        "<alice> three",
        "*** end of history; /history for more",
    ]


async def test_replay_comes_before_any_live_line_and_repeats_none() -> None:
    """A line said in the same pass as a join, after it, reaches the joiner live, after the
    replay; one said before it is replayed, and neither comes twice."""
    rooms = RoomHistory(history_settings(Path("unused.db")), RoomRules())
    hub = rooms.hub(1 << 20, None)
    speaker, joiner = Peer(FakeTransport()), Peer(FakeTransport())
    hub.register(speaker, "alice")
    hub.register(joiner, "bob")
    room = hub.join_room(speaker, "#lobby")
    hub.publish(Message(1, utc_now(), "alice", "before", room.name), room=room, exclude=speaker)
    hub.join_room(joiner, "#lobby")
    hub.publish(Join(2, utc_now(), "bob", room.name), room=room, exclude=joiner)
    hub.publish(Message(3, utc_now(), "alice", "after", room.name), room=room, exclude=speaker)
    hub._flush_all()
    seen = _text_of(joiner)
    assert [line.split("] ", 1)[1] for line in seen] == [
        "<alice> before",
        "*** end of history; nothing older is kept",
        "<alice> after",
    ]


def _text_of(peer: Peer) -> list[str]:
    transport = peer.transport
    assert isinstance(transport, FakeTransport)
    assert peer.wire_rendering is Rendering.TEXT
    return transport.written.decode().splitlines()


async def test_ids_never_repeat_after_a_restart_even_for_unstored_events(tmp_path: Path) -> None:
    """Joins and private messages are not stored, yet a restart's ids start above theirs."""
    db = tmp_path / "tcpchat.db"
    async with history_server(db) as server:
        alice = await join(server.port, "alice", json_mode=True)
        await alice.send("/join #quiet", "/msg alice note to self")
        private = await alice.expect_json("private")
        await alice.close()
    assert "note to self" not in await stored_texts(db)  # only her leaving #lobby and #quiet
    async with history_server(db) as server:
        bob = await join(server.port, "bob", json_mode=True)
        await bob.send("/msg bob hello again")
        again = await bob.expect_json("private")
        await bob.close()
    assert again["id"] > private["id"]


async def test_the_clock_reserves_ids_ahead_while_it_runs(tmp_path: Path, monkeypatch: Any) -> None:
    """Past half a block, the next block is reserved in the file, a block past the last id
    handed out, while chat goes on: a crash then loses no id."""
    monkeypatch.setattr(history, "RESERVE_BLOCK", 10)
    async with history_server(tmp_path / "tcpchat.db") as server:
        assert server.history is not None
        assert server.history.historian is not None
        store = server.history.historian.store
        alice = await join(server.port, "alice", json_mode=True)
        for n in range(30):
            await alice.send(f"/msg alice {n}")
        last = await alice.expect_json("private")
        while last["text"] != "29":
            last = await alice.expect_json("private")
        await wait_until(lambda: store.highest_id() >= last["id"] + 5)
        reserved = await store.run_in_writer(  # type: ignore[attr-defined]
            lambda db: db.execute("SELECT value FROM meta WHERE key = 'reserved_id'").fetchone()[0]
        )
        assert reserved >= last["id"] + 5
        await alice.close()


async def test_a_rooms_topic_survives_a_restart(tmp_path: Path) -> None:
    """A topic set in a room that then empties is there again after a restart."""
    db = tmp_path / "tcpchat.db"
    async with history_server(db) as server:
        alice = await join(server.port, "alice")
        await alice.send("/join #dev", "/topic ship it on friday")
        await alice.expect(r"alice set the topic: ship it on friday")
        await alice.close()
    async with history_server(db) as server:
        bob = await join(server.port, "bob")
        await bob.send("/join #dev")
        await bob.expect(r"\*\*\* topic of #dev: ship it on friday \(set by alice\)$")
        await bob.close()


async def test_an_emptied_room_keeps_its_topic_without_a_restart(tmp_path: Path) -> None:
    """A room that empties and is joined again has its topic back."""
    async with history_server(tmp_path / "tcpchat.db") as server:
        alice = await join(server.port, "alice")
        await alice.send("/join #dev", "/topic bugs only", "/part #dev")
        await alice.expect(r"you are now talking in #lobby")
        assert server.hub.room("#dev") is None
        await alice.send("/join #dev")
        await alice.expect(r"\*\*\* topic of #dev: bugs only \(set by alice\)$")
        await alice.close()


async def test_private_messages_are_never_stored(tmp_path: Path) -> None:
    """A /msg reaches its recipient and leaves nothing in the file; a room line does."""
    db = tmp_path / "tcpchat.db"
    async with history_server(db) as server:
        alice, bob = await join(server.port, "alice"), await join(server.port, "bob")
        await alice.send("/msg bob the secret is 42", "in the open")
        await bob.expect(r"the secret is 42")
        await bob.expect(r"<alice> in the open")
        await alice.close()
        await bob.close()
    texts = await stored_texts(db)
    assert "in the open" in texts
    assert not any("secret" in text for text in texts)


async def test_no_history_keeps_no_file(tmp_path: Path) -> None:
    """--no-history: chat works, and no database is created."""
    db = tmp_path / "tcpchat.db"
    async with history_server(db, history=False) as server:
        assert server.history is None
        alice = await join(server.port, "alice")
        await alice.send("hello", "/history")
        await alice.expect(r"!!! this server keeps no history$")
        await alice.close()
    assert files_in(tmp_path) == []


def files_in(folder: Path) -> list[Path]:
    return list(folder.iterdir())


async def test_a_room_loaded_on_its_first_join_replays_to_the_next_joiners(
    tmp_path: Path,
) -> None:
    """A room whose lines were not loaded at start (past --max-rooms) is loaded as it is
    made: its first joiner is shown no old line out of order, the next one all of them."""
    db = tmp_path / "tcpchat.db"
    settings = ServerSettings(host="127.0.0.1", port=0, max_rooms=2)
    async with history_server(db, settings=settings) as server:
        alice = await join(server.port, "alice")
        await alice.send("/join #dev", "/topic old plans", "dev line", "/part #dev")
        await alice.send("/join #ops", "ops line", "/part #ops", "lobby line")
        await alice.expect(r"<alice> lobby line|you are now talking in #lobby")
        await alice.close()
    async with history_server(db, settings=settings) as server:  # loads #lobby and #ops
        assert server.history is not None
        assert server.history.rings == 2
        bob = await join(server.port, "bob")
        await bob.send("/join #dev", "/users")
        first = await lines_until(bob, r"users? in #dev")
        await wait_until(lambda: server.history is not None and not server.history.loading)
        carol = await join(server.port, "carol")
        await carol.send("/join #dev")
        second = await lines_until(carol, r"you are now talking in #dev")
        await bob.close()
        await carol.close()
    assert not any("dev line" in line for line in first)  # still loading: nothing replayed
    assert any(line.endswith("<alice> dev line") for line in second)
    assert any(line.endswith("topic of #dev: old plans (set by alice)") for line in second)


async def lines_until(client: LineClient, pattern: str) -> list[str]:
    lines: list[str] = []
    while True:
        line = await client.read_line()
        assert line is not None, f"EOF before {pattern!r}; saw {client.seen}"
        lines.append(line)
        if re.search(pattern, line):
            return lines
