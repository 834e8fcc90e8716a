"""/history, /find and /seen over real sockets, and what they say when history is down."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tcpchat.store.sqlite import SQLiteStore
from tests.support.helpers import LineClient
from tests.support.history import fill_the_disk, history_server

STAMP = r"^\[[\d:]+\] "


async def join(port: int, nick: str) -> LineClient:
    client = await LineClient.connect(port)
    await client.expect("Choose a nickname")
    await client.register(nick)
    return client


async def lines_until(client: LineClient, pattern: str) -> list[str]:
    """The lines read from now up to and including one matching ``pattern``, without stamps."""
    lines: list[str] = []
    while True:
        line = await client.read_line()
        assert line is not None, f"EOF before {pattern!r}; saw {client.seen}"
        lines.append(re.sub(STAMP, "", line))
        if re.search(pattern, line):
            return lines


async def test_history_pages_back_from_the_oldest_line_shown(tmp_path: Path) -> None:
    """Replay shows the last lines; each /history N the N before those, then says it is all."""
    async with history_server(tmp_path / "tcpchat.db", history_on_join=3) as server:
        alice = await join(server.port, "alice")
        await alice.send(*(f"line {n}" for n in range(1, 9)))
        bob = await join(server.port, "bob")
        replay = await lines_until(bob, r"end of history")
        await bob.send("/history 3")
        page = await lines_until(bob, r"end of history")
        await bob.send("/history 100")
        rest = await lines_until(bob, r"end of history")
        await bob.send("/history")
        none = await lines_until(bob, r"no older history")
        await alice.close()
        await bob.close()
    assert replay[-4:] == ["<alice> line 6", "<alice> line 7", "<alice> line 8", *replay[-1:]]
    assert page == [
        "<alice> line 3",
        "<alice> line 4",
        "<alice> line 5",
        "*** end of history; /history for more",
    ]
    assert rest == ["<alice> line 1", "<alice> line 2", "*** end of history; nothing older is kept"]
    assert none == ["*** no older history in #lobby"]


async def test_history_is_for_the_current_room_only(tmp_path: Path) -> None:
    """/history in #dev pages #dev's lines, never #lobby's."""
    async with history_server(tmp_path / "tcpchat.db", history_on_join=0) as server:
        alice = await join(server.port, "alice")
        await alice.send("lobby line", "/join #dev", "dev line", "/part #dev", "/join #dev")
        await alice.send("/history")
        page = await lines_until(alice, r"end of history|no older history")
        await alice.close()
    assert page[-2:] == ["#dev <alice> dev line", "#dev *** end of history; nothing older is kept"]
    assert not any("lobby line" in line for line in page)


async def test_history_refuses_a_page_past_100(tmp_path: Path) -> None:
    """/history 101 is a usage error, said at once."""
    async with history_server(tmp_path / "tcpchat.db") as history_chat:
        alice = await join(history_chat.port, "alice")
        await alice.send("/history 101")
        await alice.expect(r"!!! usage: /history \[N\], N from 1 to 100$")
        await alice.close()


@pytest.mark.parametrize(
    ("words", "found"),
    [
        ("deploy friday", ["we deploy on friday", "friday: deploy (finally)"]),
        ('"deploy on friday"', ["we deploy on friday"]),
        ('"deploy on', ["we deploy on friday"]),
        ("depl*", ["we deploy on friday", "friday: deploy (finally)", "deployment done"]),
        ("deploy -friday", []),
        ("deploy* -friday", ["deployment done"]),
        ("deploy NEAR friday", []),
        ("(finally", ["friday: deploy (finally)"]),
        ("CAFÉ", ["cafe au lait", "café au lait"]),
    ],
)
async def test_find_takes_what_users_type(tmp_path: Path, words: str, found: list[str]) -> None:
    """Quotes, prefixes, minus, NEAR and parentheses are read as documented, never as errors."""
    async with history_server(tmp_path / "tcpchat.db") as server:
        alice = await join(server.port, "alice")
        await alice.send(
            "we deploy on friday",
            "friday: deploy (finally)",
            "deployment done",
            "cafe au lait",
            "café au lait",
            f"/find {words}",
        )
        answer = await lines_until(alice, r"\*\*\* (no line of|\d+ lines? of) #lobby")
        if answer[-1].startswith("*** no line"):
            hits: list[str] = []
        else:
            count = int(re.search(r"(\d+) lines?", answer[-1]).group(1))  # type: ignore[union-attr]
            hits = [
                re.sub(
                    STAMP + r"\*\*\*   \[[\d :-]+\] <alice> ", "", (await alice.read_line()) or ""
                )
                for _ in range(count)
            ]
        await alice.close()
    assert sorted(hits) == sorted(found)


async def test_find_with_nothing_to_look_for_says_so(tmp_path: Path) -> None:
    """/find * has no word to look for: a sentence, not a traceback."""
    async with history_server(tmp_path / "tcpchat.db") as server:
        alice = await join(server.port, "alice")
        await alice.send("/find * -")
        await alice.expect(r"!!! .*nothing to look for|!!! .*word")
        await alice.send("still here")
        await alice.close()


async def test_seen_says_when_and_where_someone_last_spoke_or_left(tmp_path: Path) -> None:
    """/seen names the room and the last line, or the leaving and its reason, after a restart."""
    db = tmp_path / "tcpchat.db"
    async with history_server(db) as server:
        bob = await join(server.port, "bob")
        await bob.send("/join #dev", "see you monday", "/part #dev off to lunch")
        await bob.expect(r"you are now talking in #lobby")
        carol = await join(server.port, "carol")
        await carol.send("/join #dev", "hello")
        await carol.expect(r"you are now talking in #dev")
        await bob.close()
        await carol.close()
    async with history_server(db) as server:
        alice = await join(server.port, "alice")
        await alice.send("/seen BOB", "/seen dave")
        bob_seen = await alice.expect(r"\*\*\* bob was last seen .*$")
        await alice.expect(r"\*\*\* dave has not been seen here$")
        await alice.close()
    assert re.search(
        r"leaving #lobby [\d-]+ [\d:]+ \(\d+s ago\): connection closed$", bob_seen.group(0)
    )


async def test_seen_counts_what_was_said_after_a_part(tmp_path: Path) -> None:
    """A line said after leaving a room is the newer sighting."""
    async with history_server(tmp_path / "tcpchat.db") as server:
        bob = await join(server.port, "bob")
        await bob.send("/join #dev", "/part #dev lunch", "back in the lobby")
        alice = await join(server.port, "alice")
        await alice.send("/seen bob")
        await alice.expect(
            r"\*\*\* bob was last seen in #lobby .* ago\), saying: back in the lobby; online now$"
        )
        await alice.close()
        await bob.close()


async def test_seen_says_what_was_last_done_an_action_or_a_topic(tmp_path: Path) -> None:
    """A /me is shown as one, and a topic as setting it, not as something said."""
    async with history_server(tmp_path / "tcpchat.db") as server:
        bob = await join(server.port, "bob")
        alice = await join(server.port, "alice")
        await bob.send("/me waves")
        await alice.expect(r"\* bob waves$")
        await alice.send("/seen bob")
        await alice.expect(r"\*\*\* bob was last seen in #lobby .* ago\): \* bob waves; online now")
        await bob.send("/topic release friday")
        await alice.expect(r"topic")
        await alice.send("/seen bob")
        await alice.expect(
            r"\*\*\* bob was last seen in #lobby .* ago\), setting the topic: release friday;"
            r" online now$"
        )
        await alice.close()
        await bob.close()


async def test_history_down_answers_history_unavailable_while_chat_goes_on(
    tmp_path: Path,
) -> None:
    """With the disk full, /history, /find and /seen say history is unavailable; lines still
    reach the room."""
    async with history_server(tmp_path / "tcpchat.db") as server:
        assert server.history is not None
        assert server.history.historian is not None
        store = server.history.historian.store
        assert isinstance(store, SQLiteStore)
        alice, bob = await join(server.port, "alice"), await join(server.port, "bob")
        await fill_the_disk(store)
        await alice.send("x" * 2000)  # fills the one page left; the flush fails
        await bob.expect(r"<alice> x+$")
        for _ in range(20):
            await alice.send("y" * 2000)
        while store.available:
            await alice.send("/users")
            await alice.expect(r"\*\*\* 2 users online")
        await alice.send("/history", "/find y", "/seen bob", "still chatting")
        for _ in range(3):
            await alice.expect(r"!!! history is unavailable right now .*; chat goes on$")
        await bob.expect(r"<alice> still chatting$")
        await alice.close()
        await bob.close()
