"""How the client draws events: pure functions, tested with plain calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tcpchat.core.events import (
    Action,
    AIAnswer,
    AIDelta,
    CurrentRoom,
    Error,
    Event,
    Found,
    HistoryEnd,
    Hit,
    Join,
    Leave,
    Message,
    NickChange,
    Notice,
    Part,
    PrivateMessage,
    RoomInfo,
    RoomList,
    SearchStarted,
    Seen,
    Shutdown,
    Topic,
    UserList,
    Welcome,
    Whois,
)
from tcpchat.core.render import text_lines
from tcpchat.tui.display import (
    NICK_COLOURS,
    Shown,
    client_help,
    error_line,
    in_room,
    mentions,
    nick_colour,
    nick_style,
    own_action,
    own_message,
    plain,
    render_event,
    system_line,
)
from tests.support.samples import SAMPLES

TS = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)
TZ = timezone(timedelta(hours=2))  # shown as 14:30:05


def text_of(shown: Shown) -> list[str]:
    return [plain(line) for line in shown.lines]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (Message(1, TS, "bob", "hi"), ["[14:30:05] <bob> hi"]),
        (Action(1, TS, "bob", "waves"), ["[14:30:05] * bob waves"]),
        (PrivateMessage(1, TS, "bob", "alice", "psst"), ["[14:30:05] [private] from bob: psst"]),
        (PrivateMessage(1, TS, "alice", "bob", "hey"), ["[14:30:05] [private] to bob: hey"]),
        (Join(1, TS, "bob"), ["[14:30:05] *** bob joined"]),
        (Leave(1, TS, "bob", "quit"), ["[14:30:05] *** bob left (quit)"]),
        (NickChange(1, TS, "bob", "rob"), ["[14:30:05] *** bob is now known as rob"]),
        (UserList(1, TS, ("alice", "bob")), ["[14:30:05] *** 2 users online: alice, bob"]),
        (Notice(1, TS, "one\ntwo"), ["[14:30:05] *** one", "[14:30:05] *** two"]),
        (Error(1, TS, "nick_taken", "taken"), ["[14:30:05] !!! taken"]),
        (SearchStarted(1, TS, "bob", 7, "why?"), ["[14:30:05] *** bob asked the AI: why?"]),
        (AIDelta(1, TS, 7, "par"), []),
        (
            AIAnswer(1, TS, "bob", 7, "because", ("https://a.example",)),
            [
                "[14:30:05] <AI> because",
                "[14:30:05] <AI> Sources:",
                "[14:30:05] <AI> [1] https://a.example",
            ],
        ),
        (Shutdown(1, TS, "bye all"), ["[14:30:05] *** bye all"]),
    ],
)
def test_each_event_type_has_its_line(event: Event, expected: list[str]) -> None:
    """Every event type is drawn as its documented line, in the given time zone."""
    assert text_of(render_event(event, "alice", TZ)) == expected


@pytest.mark.parametrize(
    "event",
    [
        Message(1, TS, "bob", "hi alice"),
        Action(1, TS, "bob", "waves"),
        Join(1, TS, "bob"),
        Leave(1, TS, "bob", "quit"),
        NickChange(1, TS, "bob", "rob"),
        UserList(1, TS, ("alice",)),
        Notice(1, TS, "one\ntwo"),
        Error(1, TS, "nick_taken", "taken\nagain"),
        SearchStarted(1, TS, "bob", 7, "why?"),
        AIAnswer(1, TS, "bob", 7, "because\nso", ("https://a.example", "https://b.example")),
        Shutdown(1, TS, "bye all"),
    ],
    ids=lambda event: type(event).__name__,
)
def test_words_are_those_of_the_text_rendering(event: Event) -> None:
    """Apart from private messages and the welcome hint, the client says what nc users read."""
    assert text_of(render_event(event, "alice", TZ)) == text_lines(event, TZ)


def test_welcome_names_the_user_and_who_is_online() -> None:
    """The welcome says who you are and who else is there."""
    lines = text_of(render_event(Welcome(1, TS, "alice", ("alice", "bob")), "alice", TZ))
    assert lines[0] == "[14:30:05] *** Welcome, alice! 2 users online: alice, bob"


def test_timestamps_follow_the_local_time_zone() -> None:
    """Without a time zone, times are shown in the machine's local time."""
    line = text_of(render_event(Message(1, TS, "bob", "hi")))[0]
    assert line.startswith(TS.astimezone().strftime("[%H:%M:%S]"))


def test_system_lines_are_styled_apart_from_chat() -> None:
    """Join, leave and nick changes use the system style; chat lines do not."""
    for event in (Join(1, TS, "bob"), Leave(1, TS, "bob", "quit"), NickChange(1, TS, "a", "b")):
        styles = [style for style, _ in render_event(event, "alice").lines[0]]
        assert "class:system" in styles
    chat_styles = [style for style, _ in render_event(Message(1, TS, "bob", "x")).lines[0]]
    assert "class:system" not in chat_styles


def test_nick_colour_is_stable_and_shared_by_equal_nicks() -> None:
    """A nickname always gets the same colour, whatever its case."""
    assert nick_colour("Bob") == nick_colour("bob") == nick_colour("bob")
    assert nick_colour("bob") in NICK_COLOURS
    assert len({nick_colour(f"user{n}") for n in range(50)}) > 3


def test_mentions_match_whole_words_only() -> None:
    """A mention is the nickname as a word, in any case; not part of a longer word."""
    assert mentions("hey Alice, look", "alice")
    assert mentions("alice: hi", "alice")
    assert not mentions("malice aforethought", "alice")
    assert not mentions("alice_2 is here", "alice")
    assert not mentions("anything", None)


def test_mention_is_highlighted_and_rings_the_bell() -> None:
    """A message that names the user is highlighted and alerts; others do not."""
    mentioned = render_event(Message(1, TS, "bob", "alice: look"), "alice")
    assert mentioned.alert
    assert any("class:mention" in style for style, _ in mentioned.lines[0])
    assert not render_event(Message(1, TS, "bob", "hello all"), "alice").alert


def test_private_message_from_someone_else_rings_the_bell() -> None:
    """An incoming private message alerts; the sender's own copy does not."""
    assert render_event(PrivateMessage(1, TS, "bob", "alice", "x"), "alice").alert
    assert not render_event(PrivateMessage(1, TS, "alice", "bob", "x"), "alice").alert


def test_action_and_private_are_marked() -> None:
    """/me lines are drawn with '*', private ones with '[private]'."""
    assert text_of(render_event(Action(1, TS, "bob", "waves"), None, TZ))[0].endswith("* bob waves")
    assert "[private]" in text_of(render_event(PrivateMessage(1, TS, "bob", "al", "x"), "al"))[0]


@pytest.mark.parametrize(
    "hostile",
    [
        "\x1b]0;owned\x07",  # OSC: window title
        "\x1b]52;c;Y2xpcGJvYXJk\x07",  # OSC 52: clipboard
        "\x1b[2J\x1b[H",  # clear screen, cursor home
        "\u202e",  # right-to-left override
        "\x07\x08\r",  # bell, backspace, carriage return
        "\x9b31m",  # C1 CSI
    ],
)
def test_remote_text_is_sanitised(hostile: str) -> None:
    """No escape sequence, control or bidi override from the network is drawn."""
    events: list[Event] = [
        Message(1, TS, "bob", f"a{hostile}b"),
        Action(1, TS, "bob", f"a{hostile}b"),
        Notice(1, TS, f"a{hostile}b"),
        AIAnswer(1, TS, "bob", 1, f"a{hostile}b", (f"https://x{hostile}",)),
    ]
    for event in events:
        drawn = plain(render_event(event, "alice").fragments())
        assert "\x1b" not in drawn
        assert "\u202e" not in drawn
        assert all(char == "\n" or char.isprintable() for char in drawn)


def test_markup_in_remote_text_is_shown_literally() -> None:
    """Text that looks like HTML or ANSI markup is plain text, never parsed."""
    shown = render_event(Message(1, TS, "bob", "<b>bold</b> &amp; <style fg='red'>x</style>"))
    assert plain(shown.lines[0]).endswith("<b>bold</b> &amp; <style fg='red'>x</style>")


def test_own_lines_are_shown_as_sent() -> None:
    """The user's own message and action are drawn like everyone's, without alerting."""
    assert text_of(own_message("alice", "hi alice", TS, TZ)) == ["[14:30:05] <alice> hi alice"]
    assert not own_message("alice", "hi alice", TS, TZ).alert
    assert text_of(own_action("alice", "waves", TS, TZ)) == ["[14:30:05] * alice waves"]


def test_local_lines() -> None:
    """The client's own system and error lines are sanitised and marked."""
    assert text_of(system_line("lost\x1b[2J", TS, TZ)) == ["[14:30:05] *** lost"]
    assert text_of(error_line("cannot", TS, TZ)) == ["[14:30:05] !!! cannot"]


def test_client_help_lists_what_the_client_accepts_and_its_keys() -> None:
    """The client's /help leaves out /format and names Tab, Up/Down, Ctrl-C and Ctrl-D."""
    help_text = "\n".join(text_of(client_help(ts=TS, tz=TZ)))
    assert "/format" not in help_text
    for wanted in ("/users", "/msg NICK TEXT", "/search", "/exit", "//text"):
        assert wanted in help_text
    for key in ("Tab", "Ctrl-N / Ctrl-P", "Up / Down", "Ctrl-C", "Ctrl-D"):
        assert f"***   {key}" in help_text


def test_client_help_in_a_pipe_and_in_a_1to1_chat() -> None:
    """Piped mode's /help has no keys; the 1:1 chat's offers only /help and /exit."""
    assert "Keys:" not in "\n".join(text_of(client_help(keys=False, ts=TS, tz=TZ)))
    direct = "\n".join(text_of(client_help(direct=True, ts=TS, tz=TZ)))
    assert "/exit" in direct
    assert "/msg" not in direct
    assert "nickname" not in direct
    assert "Ctrl-N" not in direct


ROOM_KINDS = {"part", "topic", "current", "rooms", "whois", "away"}


@pytest.mark.parametrize(
    ("event", "lines"),
    [sample for sample in SAMPLES if sample[0].kind in ROOM_KINDS],
    ids=lambda value: type(value).__name__,
)
def test_room_events_are_drawn_in_the_words_of_the_text_rendering(
    event: Event, lines: list[str]
) -> None:
    """Parts, topics, the current room, /rooms, /whois and away replies draw as the server
    words them."""
    shown = render_event(event, "alice", UTC)
    assert [plain(line) for line in shown.lines] == lines


@pytest.mark.parametrize(
    "event",
    [
        Message(1, TS, "bob", "hi", "#dev"),
        Action(1, TS, "bob", "waves", "#dev"),
        Join(1, TS, "bob", "#dev"),
        Part(1, TS, "bob", "#dev", "later"),
        Topic(1, TS, "#dev", "bob", "release", changed=True),
        SearchStarted(1, TS, "bob", 7, "why?", "#dev"),
        AIAnswer(1, TS, "bob", 7, "because\nso", ("https://a.example",), "#dev"),
    ],
    ids=lambda event: type(event).__name__,
)
def test_a_line_from_another_room_is_marked_as_the_text_rendering_marks_it(event: Event) -> None:
    """With a room mark, every line names the room after the time, as nc users in several
    rooms read it: `[14:30:05] #dev <bob> hi`."""
    shown = render_event(event, "alice", TZ, room_mark="#dev")
    assert text_of(shown) == text_lines(event, TZ, rooms=True)
    assert all(line[1] == ("class:room", "#dev ") for line in shown.lines)


def test_lines_without_a_room_mark_are_as_before_rooms() -> None:
    """A line of the current room is drawn without its room."""
    assert text_of(render_event(Message(1, TS, "bob", "hi", "#dev"), "alice", TZ)) == [
        "[14:30:05] <bob> hi"
    ]


def test_a_room_mark_keeps_the_mention_alert() -> None:
    """A line from another room that names the user still alerts."""
    assert in_room(render_event(Message(1, TS, "bob", "alice?", "#dev"), "alice"), "#dev").alert


def test_whois_is_drawn_with_the_nick_in_its_colour_and_the_rooms_styled() -> None:
    """/whois reads at a glance: the nickname in its colour, each room in the room style."""
    whois = Whois(1, TS, "bob", ("#lobby", "#dev"), 7380, 5, "lunch")
    line = render_event(whois, "alice", TZ).lines[0]
    assert (
        plain(line) == "[14:30:05] *** bob: in #lobby, #dev; connected 2h 3m; idle 5s; away: lunch"
    )
    assert (nick_style("bob"), "bob") in line
    assert ("class:room", "#lobby") in line
    assert ("class:room", "#dev") in line


def test_rooms_topics_and_the_current_room_style_room_names() -> None:
    """/rooms, a topic and a change of current room show room names in the room style."""
    rooms = RoomList(1, TS, (RoomInfo("#dev", 3, "release"), RoomInfo("#lobby", 1, "")))
    events: list[Event] = [
        rooms,
        Topic(1, TS, "#dev", "bob", "release", changed=False),
        CurrentRoom(1, TS, "#dev"),
    ]
    for event in events:
        shown = render_event(event, "alice", TZ)
        assert text_of(shown) == text_lines(event, TZ)
        assert ("class:room", "#dev") in shown.fragments()


def test_a_replayed_line_is_dimmed_dated_and_rings_no_bell() -> None:
    """History is drawn dimmed, with its date when it is not today's, and never alerts."""
    shown = render_event(Message(1, TS, "bob", "hi alice", history=True), "alice", TZ)
    assert text_of(shown) == ["[2026-03-01 14:30:05] <bob> hi alice"]
    assert not shown.alert
    assert all("class:history" in style for style, _ in shown.lines[0][1:])


def test_the_end_of_history_is_a_separator() -> None:
    """The end marker is a rule around its words, set apart from chat."""
    shown = render_event(HistoryEnd(2, TS, "#dev", 20, True), "alice", TZ)
    assert text_of(shown) == ["[14:30:05] ─── end of history; /history for more ───"]
    assert shown.lines[0][1][0] == "class:history.end"


def test_find_results_read_as_chat_lines_under_a_heading() -> None:
    """/find's hits are drawn one a line, with their day and time and the nick coloured."""
    hit = Hit(3, TS, "message", "bob", "deploy friday")
    shown = render_event(Found(4, TS, "#dev", "deploy", (hit,)), "alice", TZ)
    assert text_of(shown) == [
        "[14:30:05] *** 1 line of #dev matches deploy:",
        "[14:30:05]   [2026-03-01 14:30] <bob> deploy friday",
    ]
    assert (nick_style("bob"), "<bob>") in shown.lines[1]


def test_seen_names_the_nick_in_its_colour() -> None:
    """/seen's answer is a system line with the nick coloured as in chat."""
    seen = Seen(5, TS, "bob", False, TS, "#dev", "said", "bye")
    shown = render_event(seen, "alice", TZ)
    assert text_of(shown) == [
        "[14:30:05] *** bob was last seen in #dev 2026-03-01 14:30 (0s ago), saying: bye"
    ]
    assert (nick_style("bob"), "bob") in shown.lines[0]
