"""The two renderings of every event, and the JSON round trip."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tcpchat.core.errors import RemoteProtocolError
from tcpchat.core.events import (
    EVENT_TYPES,
    Action,
    AIAnswer,
    AIDelta,
    AwayReply,
    BanInfo,
    BanList,
    CurrentRoom,
    Error,
    Event,
    Join,
    Kick,
    Leave,
    Message,
    ModeChange,
    NickChange,
    Notice,
    Part,
    PrivateMessage,
    RoomInfo,
    RoomList,
    SearchFailed,
    SearchStarted,
    Shutdown,
    Topic,
    UserList,
    Welcome,
    Whois,
)
from tcpchat.core.render import (
    FORMATS,
    Rendering,
    SystemEvent,
    encode,
    parse_json_event,
    source_lines,
    system_lines,
    text_lines,
    timestamp,
    to_json,
    users_in,
    users_online,
    welcome_line,
)

TS = datetime(2026, 11, 26, 14, 3, 22, 123456, tzinfo=UTC)

SAMPLES: list[tuple[Event, list[str]]] = [
    (Message(1, TS, "alice", "hello"), ["[14:03:22] <alice> hello"]),
    (Action(2, TS, "alice", "waves"), ["[14:03:22] * alice waves"]),
    (
        PrivateMessage(3, TS, "alice", "bob", "psst"),
        ["[14:03:22] [private] alice -> bob: psst"],
    ),
    (Join(4, TS, "bob"), ["[14:03:22] *** bob joined"]),
    (Leave(5, TS, "bob", "quit"), ["[14:03:22] *** bob left (quit)"]),
    (NickChange(6, TS, "bob", "robert"), ["[14:03:22] *** bob is now known as robert"]),
    (
        Welcome(7, TS, "alice", ("alice", "bob")),
        [
            "[14:03:22] *** Welcome, alice! 2 users online: alice, bob",
            "[14:03:22] *** Type a message and press Enter to chat; /help lists the commands.",
        ],
    ),
    (UserList(8, TS, ("alice",)), ["[14:03:22] *** 1 user online: alice"]),
    (Notice(9, TS, "one\ntwo"), ["[14:03:22] *** one", "[14:03:22] *** two"]),
    (Error(10, TS, "unknown_command", "no such thing"), ["[14:03:22] !!! no such thing"]),
    (
        SearchStarted(11, TS, "alice", 1, "why is the sky blue?"),
        ["[14:03:22] *** alice asked the AI: why is the sky blue?"],
    ),
    (AIDelta(12, TS, 1, "Rayl"), []),
    (
        AIAnswer(
            13,
            TS,
            "alice",
            1,
            "Rayleigh scattering.\nShort waves scatter more.",
            ("https://example.org/sky",),
        ),
        [
            "[14:03:22] <AI> Rayleigh scattering.",
            "[14:03:22] <AI> Short waves scatter more.",
            "[14:03:22] <AI> Sources:",
            "[14:03:22] <AI> [1] https://example.org/sky",
        ],
    ),
    (SearchFailed(15, TS, "alice", 1), ["[14:03:22] *** the AI could not answer alice's question"]),
    (Part(16, TS, "bob", "#dev", ""), ["[14:03:22] *** bob left the room"]),
    (Part(17, TS, "bob", "#dev", "lunch"), ["[14:03:22] *** bob left the room (lunch)"]),
    (
        Topic(18, TS, "#dev", "alice", "ship it", changed=True),
        ["[14:03:22] *** alice set the topic: ship it"],
    ),
    (Topic(19, TS, "#dev", "alice", "", changed=True), ["[14:03:22] *** alice cleared the topic"]),
    (
        Topic(20, TS, "#dev", "alice", "ship it", changed=False),
        ["[14:03:22] *** topic of #dev: ship it (set by alice)"],
    ),
    (Topic(21, TS, "#dev", "", "", changed=False), ["[14:03:22] *** #dev has no topic"]),
    (CurrentRoom(22, TS, "#dev"), ["[14:03:22] *** you are now talking in #dev"]),
    (CurrentRoom(23, TS, None), ["[14:03:22] *** you are in no room; /join #room to talk"]),
    (
        RoomList(24, TS, (RoomInfo("#dev", 3, "ship it"), RoomInfo("#lobby", 1, ""))),
        [
            "[14:03:22] *** 2 rooms:",
            "[14:03:22] ***   #dev (3 users): ship it",
            "[14:03:22] ***   #lobby (1 user)",
        ],
    ),
    (
        Whois(25, TS, "alice", ("#lobby", "#dev"), 7380, 5, "lunch"),
        ["[14:03:22] *** alice: in #lobby, #dev; connected 2h 3m; idle 5s; away: lunch"],
    ),
    (
        Whois(26, TS, "bob", (), 59, 125, None),
        ["[14:03:22] *** bob: in no room; connected 59s; idle 2m 5s"],
    ),
    (AwayReply(27, TS, "bob", "lunch"), ["[14:03:22] *** bob is away: lunch"]),
    (
        UserList(28, TS, ("alice", "bob"), "#dev", ("bob",)),
        ["[14:03:22] *** 2 users in #dev: alice, bob (away)"],
    ),
    (
        Shutdown(14, TS, "the server is shutting down"),
        ["[14:03:22] *** the server is shutting down"],
    ),
    (
        UserList(29, TS, ("alice", "bob"), "#dev", ("bob",), operators=("alice",)),
        ["[14:03:22] *** 2 users in #dev: @alice, bob (away)"],
    ),
    (
        Whois(30, TS, "alice", ("#lobby", "#dev"), 5, 5, None, True, ("#lobby", "#dev")),
        ["[14:03:22] *** alice: in @#lobby, @#dev; connected 5s; idle 5s; server operator"],
    ),
    (
        Kick(31, TS, "alice", "bob", "#dev", "spam"),
        ["[14:03:22] *** alice kicked bob out of #dev (spam)"],
    ),
    (Kick(32, TS, "alice", "bob", "#dev", ""), ["[14:03:22] *** alice kicked bob out of #dev"]),
    (
        ModeChange(33, TS, "alice", "#dev", "op", "bob"),
        ["[14:03:22] *** alice made bob an operator of #dev"],
    ),
    (
        ModeChange(34, TS, "alice", "#dev", "deop", "bob"),
        ["[14:03:22] *** alice removed bob as an operator of #dev"],
    ),
    (
        ModeChange(35, TS, "alice", "#dev", "mute", "bob", 600, "calm down"),
        ["[14:03:22] *** alice muted bob in #dev for 10m 0s (calm down)"],
    ),
    (
        ModeChange(36, TS, "alice", "#dev", "unmute", "bob"),
        ["[14:03:22] *** alice unmuted bob in #dev"],
    ),
    (
        ModeChange(37, TS, "alice", "#dev", "slow", seconds=30),
        ["[14:03:22] *** alice set slow mode in #dev: one line per 30s"],
    ),
    (
        ModeChange(38, TS, "alice", "#dev", "slow"),
        ["[14:03:22] *** alice turned slow mode off in #dev"],
    ),
    (
        ModeChange(39, TS, "alice", "#dev", "ban", "bob", 0, "spam"),
        ["[14:03:22] *** alice banned bob from #dev for good (spam)"],
    ),
    (
        ModeChange(40, TS, "root", "", "ban", "10.0.0.0/8", 7200),
        ["[14:03:22] *** root banned 10.0.0.0/8 from the server for 2h 0m"],
    ),
    (
        ModeChange(41, TS, "alice", "#dev", "unban", "bob"),
        ["[14:03:22] *** alice lifted the ban on bob from #dev"],
    ),
    (
        BanList(
            42,
            TS,
            "#dev",
            (
                BanInfo("bob", "#dev", "alice", "spam", 3599),
                BanInfo("10.0.0.0/8", "", "root", "", None),
            ),
        ),
        [
            "[14:03:22] *** 2 bans in #dev:",
            "[14:03:22] ***   bob from #dev, by alice, 59m 59s left: spam",
            "[14:03:22] ***   10.0.0.0/8 from the server, by root, for good",
        ],
    ),
    (BanList(43, TS, "#dev", ()), ["[14:03:22] *** no bans in #dev"]),
]


def test_every_event_type_has_a_sample() -> None:
    """The samples below cover every event type."""
    assert {type(event) for event, _ in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize(("event", "lines"), SAMPLES, ids=lambda value: type(value).__name__)
def test_text_rendering(event: Event, lines: list[str]) -> None:
    """Each event has its readable text lines, stamped with the time."""
    assert text_lines(event, UTC) == lines


def test_timestamp_is_the_time_in_brackets() -> None:
    """The stamp before each line is the time of day, in the given time zone."""
    assert timestamp(TS, UTC) == "[14:03:22] "


def test_users_online_counts_and_names() -> None:
    """Who is online is a count, singular or plural, then the names."""
    assert users_online(["alice"]) == "1 user online: alice"
    assert users_online(["alice", "bob"]) == "2 users online: alice, bob"
    assert users_online(iter(["a", "b", "c"])) == "3 users online: a, b, c"


def test_welcome_line_greets_and_says_who_is_online() -> None:
    """The welcome greets the user by name, then says who is online."""
    assert welcome_line("bob", ("alice", "bob")) == "Welcome, bob! 2 users online: alice, bob"


def test_source_lines_number_the_sources() -> None:
    """Sources are listed under a heading, numbered from 1; no sources, no lines."""
    assert source_lines(("https://a.example", "https://b.example")) == [
        "Sources:",
        "[1] https://a.example",
        "[2] https://b.example",
    ]
    assert source_lines(()) == []


@pytest.mark.parametrize(
    ("event", "lines"),
    [
        (Join(1, TS, "bob"), ["BOB joined"]),
        (Leave(1, TS, "bob", "quit"), ["BOB left (QUIT)"]),
        (NickChange(1, TS, "bob", "rob"), ["BOB is now known as ROB"]),
        (UserList(1, TS, ("al", "bob")), ["2 users online: AL, BOB"]),
        (Notice(1, TS, "one\ntwo"), ["ONE", "TWO"]),
        (SearchStarted(1, TS, "bob", 1, "why?"), ["BOB asked the AI: WHY?"]),
        (Shutdown(1, TS, "bye"), ["BYE"]),
    ],
    ids=lambda value: type(value).__name__,
)
def test_system_lines_clean_every_text(event: SystemEvent, lines: list[str]) -> None:
    """System lines are worded without time or mark, each carried text passed through clean."""
    assert system_lines(event, str.upper) == lines


@pytest.mark.parametrize(("event", "lines"), SAMPLES, ids=lambda value: type(value).__name__)
def test_json_round_trip(event: Event, lines: list[str]) -> None:
    """Every event survives JSON rendering and parsing unchanged."""
    data = encode(event, Rendering.JSON)
    assert data.endswith(b"\n")
    assert data.count(b"\n") == 1
    parsed = parse_json_event(data)
    assert parsed == _ms(event)


def _ms(event: Event) -> Event:
    """``event`` with its timestamp cut to the milliseconds the JSON carries."""
    return replace(event, ts=event.ts.replace(microsecond=event.ts.microsecond // 1000 * 1000))


def test_json_fields() -> None:
    """A JSON event carries type, id, an ISO 8601 UTC time and its own fields."""
    document = json.loads(encode(Message(42, TS, "alice", "héllo", "#dev"), Rendering.JSON))
    assert document == {
        "type": "message",
        "id": 42,
        "ts": "2026-11-26T14:03:22.123Z",
        "nick": "alice",
        "text": "héllo",
        "room": "#dev",
    }


def test_json_user_lists_are_arrays() -> None:
    """Tuples of nicknames become JSON arrays."""
    assert to_json(UserList(1, TS, ("a", "b")))["users"] == ["a", "b"]


def test_text_encoding_ends_every_line() -> None:
    """The text rendering ends each line with \\n; an event without text gives no bytes."""
    assert encode(Notice(1, TS, "a\nb"), Rendering.TEXT).count(b"\n") == 2
    assert encode(AIDelta(2, TS, 1, "x"), Rendering.TEXT) == b""


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[]",
        '{"type": "nope"}',
        '{"type": "message", "id": 1}',
        '{"id": 1}',
        '{"type":"message","id":1,"ts":"2026-11-26T14:03:22.000Z","nick":5,"text":"x"}',
        '{"type":"message","id":1,"ts":"2026-11-26T14:03:22.000Z","nick":"a","text":null}',
        '{"type":"message","id":true,"ts":"2026-11-26T14:03:22.000Z","nick":"a","text":"x"}',
        '{"type":"message","id":1,"ts":7,"nick":"a","text":"x"}',
        '{"type":"users","id":1,"ts":"2026-11-26T14:03:22.000Z","users":["a",3]}',
        '{"type":"users","id":1,"ts":"2026-11-26T14:03:22.000Z","users":"abc"}',
        '{"type":"message","id":1,"ts":"2026-11-26T14:03:22.000Z","nick":"a","text":"x","room":5}',
        '{"type":"join","id":1,"ts":"2026-11-26T14:03:22.000Z","nick":"a","room":"#'
        + "x" * 33
        + '"}',
        '{"type":"current","id":1,"ts":"2026-11-26T14:03:22.000Z","room":""}',
        '{"type":"topic","id":1,"ts":"2026-11-26T14:03:22.000Z","room":"#a","nick":"",'
        '"text":"","changed":"yes"}',
        '{"type":"rooms","id":1,"ts":"2026-11-26T14:03:22.000Z","rooms":[{"name":"#a"}]}',
        '{"type":"rooms","id":1,"ts":"2026-11-26T14:03:22.000Z","rooms":["#a"]}',
        '{"type":"whois","id":1,"ts":"2026-11-26T14:03:22.000Z","nick":"a","rooms":[],'
        '"connected":-1,"idle":0,"away":null}',
        '{"type":"users","id":1,"ts":"2026-11-26T14:03:22.000Z","users":["a"],"away":[7]}',
    ],
)
def test_parse_json_event_rejects_garbage(line: str) -> None:
    """Anything but a known, complete event is a RemoteProtocolError."""
    with pytest.raises(RemoteProtocolError):
        parse_json_event(line)


def test_parse_json_event_ignores_unknown_fields() -> None:
    """A newer server's extra fields do not break an older client."""
    line = '{"type":"join","id":3,"ts":"2026-11-26T14:03:22.000Z","nick":"bob","away":false}'
    assert parse_json_event(line) == Join(3, TS.replace(microsecond=0), "bob")


def test_welcome_tells_json_clients_the_line_limit() -> None:
    """The JSON welcome carries the server's max_line_bytes; the text welcome is unchanged."""
    welcome = Welcome(7, TS, "alice", ("alice",), 512)
    assert to_json(welcome)["max_line_bytes"] == 512
    assert encode(welcome, Rendering.TEXT) == encode(
        Welcome(7, TS, "alice", ("alice",)), Rendering.TEXT
    )


def test_a_welcome_without_the_line_limit_means_the_default() -> None:
    """An older server's welcome, without max_line_bytes, reads as the default 4096."""
    line = '{"type":"welcome","id":1,"ts":"2026-11-26T14:03:22.000Z","nick":"a","users":["a"]}'
    welcome = parse_json_event(line)
    assert isinstance(welcome, Welcome)
    assert welcome.max_line_bytes == 4096


ROOM_LINES: list[tuple[Event, list[str]]] = [
    (Message(1, TS, "alice", "hello", "#dev"), ["[14:03:22] #dev <alice> hello"]),
    (Action(2, TS, "alice", "waves", "#dev"), ["[14:03:22] #dev * alice waves"]),
    (Join(3, TS, "bob", "#dev"), ["[14:03:22] #dev *** bob joined"]),
    (Part(4, TS, "bob", "#dev", ""), ["[14:03:22] #dev *** bob left the room"]),
    (
        Topic(5, TS, "#dev", "bob", "x", changed=True),
        ["[14:03:22] #dev *** bob set the topic: x"],
    ),
    (
        SearchStarted(6, TS, "bob", 1, "why?", "#dev"),
        ["[14:03:22] #dev *** bob asked the AI: why?"],
    ),
    (
        AIAnswer(7, TS, "bob", 1, "one\ntwo", (), "#dev"),
        ["[14:03:22] #dev <AI> one", "[14:03:22] #dev <AI> two"],
    ),
]


@pytest.mark.parametrize(("event", "lines"), ROOM_LINES, ids=lambda value: type(value).__name__)
def test_text_for_several_rooms_names_the_room_after_the_time(
    event: Event, lines: list[str]
) -> None:
    """A reader in several rooms sees the room of every room line after the time."""
    assert text_lines(event, UTC, rooms=True) == lines
    assert text_lines(event, UTC) == [line.replace("#dev ", "", 1) for line in lines]


@pytest.mark.parametrize(
    "event",
    [
        Leave(1, TS, "bob", "quit"),
        NickChange(2, TS, "bob", "rob"),
        Topic(3, TS, "#dev", "bob", "x", changed=False),
        PrivateMessage(4, TS, "bob", "alice", "psst"),
    ],
    ids=lambda value: type(value).__name__,
)
def test_lines_of_no_room_or_naming_it_already_are_the_same_in_several_rooms(
    event: Event,
) -> None:
    """Leaves, nick changes, private lines and topic answers get no room before them."""
    assert encode(event, Rendering.TEXT_ROOMS) == encode(event, Rendering.TEXT)


def test_the_user_list_of_the_default_room_keeps_the_words_from_before_rooms() -> None:
    """Marked online, a user list says "users online", with away marks only if any."""
    assert users_in("#lobby", ["alice", "bob"], online=True) == "2 users online: alice, bob"
    assert users_in("#lobby", ["al", "bob"], ["bob"], online=True) == (
        "2 users online: al, bob (away)"
    )
    assert users_in("#dev", ["al"]) == "1 user in #dev: al"


def test_a_user_list_tells_programs_its_room_and_who_is_away() -> None:
    """A JSON user list carries its room, the away nicks and whether it is worded "online"."""
    document = to_json(UserList(1, TS, ("a", "b"), "#lobby", ("b",), online=True))
    assert document == {
        "type": "users",
        "id": 1,
        "ts": "2026-11-26T14:03:22.123Z",
        "users": ["a", "b"],
        "room": "#lobby",
        "away": ["b"],
        "online": True,
        "operators": [],
    }


def test_a_connection_may_choose_text_or_json_only() -> None:
    """/format takes text and json; the several-rooms text is the hub's to choose."""
    assert FORMATS == {"text": Rendering.TEXT, "json": Rendering.JSON}
