"""What the client knows about its chat, kept from events: plain calls, no sockets."""

from __future__ import annotations

from datetime import UTC, datetime

from tcpchat.client.chatstate import (
    MAX_MEMBERS,
    MAX_STREAMING_ANSWERS,
    STREAM_PREVIEW_CHARS,
    ChatState,
    Link,
)
from tcpchat.core.events import (
    AIAnswer,
    AIDelta,
    Join,
    Leave,
    NickChange,
    SearchFailed,
    UserList,
    Welcome,
)
from tcpchat.tui.display import plain

TS = datetime(2026, 3, 1, tzinfo=UTC)


def test_members_follow_joins_leaves_and_renames() -> None:
    """Welcome fills the member list; joins, leaves and nick changes keep it current."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", ("alice", "bob")))
    state.apply(Join(2, TS, "Carol"))
    state.apply(Leave(3, TS, "bob", "quit"))
    state.apply(NickChange(4, TS, "carol", "dave"))
    assert state.users == ["alice", "dave"]
    state.apply(UserList(5, TS, ("x", "y")))
    assert state.users == ["x", "y"]


def test_own_nick_follows_the_servers_nick_event() -> None:
    """The client learns its new nickname from the nick event sent to everyone."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", ("alice",)))
    state.apply(NickChange(2, TS, "ALICE", "alicia"))
    assert state.nick == "alicia"
    assert state.prompt() == "alicia> "


def test_toolbar_shows_server_nick_count_and_link() -> None:
    """The toolbar names the server, the nickname, the count online and the link state."""
    state = ChatState("127.0.0.1:5002")
    state.apply(Welcome(1, TS, "alice", ("alice", "bob")))
    assert plain(state.toolbar()) == " 127.0.0.1:5002 | alice | 2 online | connected "
    state.set_link(Link.WAITING, "attempt 2 in 2.0s")
    assert plain(state.toolbar()).endswith("| reconnecting (attempt 2 in 2.0s) ")


def test_narrow_toolbar_keeps_the_connection_state_last_to_go() -> None:
    """At small widths the server goes first, then the nickname, then the count; the state
    stays, and is cut short only when it alone is too wide."""
    state = ChatState("127.0.0.1:5002")
    state.apply(Welcome(1, TS, "alice", ("alice", "bob")))
    assert plain(state.toolbar(47)) == " 127.0.0.1:5002 | alice | 2 online | connected "
    assert plain(state.toolbar(30)) == " alice | 2 online | connected "
    assert plain(state.toolbar(22)) == " 2 online | connected "
    assert plain(state.toolbar(20)) == " connected "
    state.set_link(Link.WAITING, "attempt 2 in 2.1s")
    assert plain(state.toolbar(30)) == " reconnecting (attempt 2 in … "
    assert plain(state.toolbar(14)) == " reconnectin… "


def test_toolbar_width_counts_wide_characters() -> None:
    """A nickname of wide characters counts two columns each when fitting the toolbar."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "李小龍", ("李小龍",)))
    assert plain(state.toolbar(37)) == " h:1 | 李小龍 | 1 online | connected "
    assert plain(state.toolbar(36)) == " 李小龍 | 1 online | connected "


def test_prompt_asks_for_a_nickname_while_registering() -> None:
    """While the server waits for a nickname, the prompt says so."""
    state = ChatState("h:1")
    state.set_link(Link.REGISTERING)
    assert state.prompt() == "nickname> "


def test_direct_mode_has_no_nicknames_in_the_toolbar() -> None:
    """In a 1:1 chat the toolbar shows the server and the link only."""
    state = ChatState("h:5001", direct=True)
    state.set_link(Link.CONNECTED)
    assert plain(state.toolbar()) == " h:5001 | 1:1 chat | connected "


def test_a_streaming_ai_answer_grows_in_the_toolbar_until_it_is_complete() -> None:
    """Each piece of a streamed answer is added to the toolbar's AI line; the whole answer
    (or its failure) clears it."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", ("alice",)))
    assert "AI" not in plain(state.toolbar())
    state.apply(AIDelta(2, TS, 7, "Rayleigh "))
    assert plain(state.toolbar()).endswith("AI ▸ Rayleigh ")
    state.apply(AIDelta(3, TS, 7, "scattering\n\x1b]0;x\x07of light"))
    assert plain(state.toolbar()).endswith("AI ▸ Rayleigh scattering of light ")
    state.apply(AIAnswer(4, TS, "alice", 7, "Rayleigh scattering of light.", ()))
    assert "AI ▸" not in plain(state.toolbar())
    state.apply(AIDelta(5, TS, 8, "half an answer"))
    state.apply(SearchFailed(6, TS, "alice", 8))
    assert state.streaming is None


def test_the_toolbar_shows_only_the_tail_of_a_long_answer() -> None:
    """A long streaming answer shows its newest words, not a line wider than the screen."""
    state = ChatState("h:1")
    state.apply(AIDelta(1, TS, 1, "word " * 200 + "newest"))
    line = plain(state.toolbar()).split("\n")[-1]
    assert line.strip().endswith("newest")
    assert len(line) <= STREAM_PREVIEW_CHARS + len(" AI ▸  ")


def test_the_streaming_line_fits_a_narrow_toolbar() -> None:
    """In a narrow terminal the AI line keeps as much of the newest text as fits."""
    state = ChatState("h:1")
    state.apply(AIDelta(1, TS, 1, "word " * 20 + "newest"))
    line = plain(state.toolbar(20)).split("\n")[-1]
    assert line == " AI ▸ d word newest "


def test_streaming_answers_are_bounded() -> None:
    """A server that starts answers and never ends them cannot grow the client's memory."""
    state = ChatState("h:1")
    for search_id in range(1, 1001):
        state.apply(AIDelta(search_id, TS, search_id, "x"))
    assert len(state._answers) == MAX_STREAMING_ANSWERS
    assert min(state._answers) == 1001 - MAX_STREAMING_ANSWERS


def test_joins_past_the_member_bound_are_not_kept() -> None:
    """Endless joins of new names stop adding members at the bound."""
    state = ChatState("h:1")
    for number in range(MAX_MEMBERS + 50):
        state.apply(Join(number + 1, TS, f"u{number}"))
    assert len(state.users) == MAX_MEMBERS


def test_a_lost_connection_forgets_members_and_streaming_answers() -> None:
    """After a loss, the toolbar shows no members and no answer that will never end."""
    state = ChatState("h:1")
    state.apply(Welcome(1, TS, "alice", ("alice", "bob")))
    state.apply(AIDelta(2, TS, 7, "half an answer"))
    state.forget_connection()
    assert state.users == []
    assert state.streaming is None
