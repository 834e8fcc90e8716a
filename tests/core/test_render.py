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
    Event,
    Found,
    Hit,
    Join,
    Leave,
    Message,
    NickChange,
    Notice,
    Part,
    PrivateMessage,
    SearchStarted,
    Shutdown,
    Topic,
    UserList,
    Welcome,
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
from tests.support.samples import EARLIER, SAMPLES, TS


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


def test_a_replayed_line_from_before_today_shows_its_date() -> None:
    """A history line of another day reads [YYYY-MM-DD HH:MM:SS]; of today, just the time."""
    old = Message(1, TS, "alice", "hello", "#dev", history=True)
    assert text_lines(old, UTC) == ["[2026-11-26 14:03:22] <alice> hello"]
    now = datetime.now(UTC)
    today = Message(2, now, "alice", "hello", "#dev", history=True)
    assert text_lines(today, UTC) == [f"{timestamp(now, UTC)}<alice> hello"]


def test_only_replayed_lines_carry_history_in_json() -> None:
    """ "history": true marks a replayed line; a live line has no such field at all."""
    live = to_json(Message(1, TS, "alice", "hello", "#dev"))
    replayed = to_json(Message(1, TS, "alice", "hello", "#dev", history=True))
    assert "history" not in live
    assert replayed == {**live, "history": True}
    assert parse_json_event(json.dumps(replayed)) == _ms(
        Message(1, TS, "alice", "hello", "#dev", history=True)
    )


def test_find_hits_are_json_objects_with_their_own_times() -> None:
    """/find's hits travel as objects: id, ts (ISO 8601 UTC), kind, nick, text."""
    found = Found(1, TS, "#dev", "deploy", (Hit(3, EARLIER, "message", "bob", "deploy"),))
    assert to_json(found)["hits"] == [
        {
            "id": 3,
            "ts": "2026-11-24T09:30:05.000Z",
            "kind": "message",
            "nick": "bob",
            "text": "deploy",
        }
    ]


@pytest.mark.parametrize(
    "hits",
    [
        '[{"id": 1, "ts": "2026-11-24T09:30:05Z", "kind": "message", "nick": 3, "text": "x"}]',
        '[{"id": -1, "ts": "2026-11-24T09:30:05Z", "kind": "message", "nick": "b", "text": "x"}]',
        '[{"id": 1, "ts": "yesterday", "kind": "message", "nick": "b", "text": "x"}]',
        '["deploy"]',
    ],
)
def test_a_find_answer_with_a_bad_hit_is_refused(hits: str) -> None:
    """A hit with a wrong field is not a tcpchat event: the client is never handed it."""
    line = (
        '{"type": "find", "id": 1, "ts": "2026-11-26T14:03:22Z", "room": "#dev", "words": "x", '
        f'"hits": {hits}}}'
    )
    with pytest.raises(RemoteProtocolError):
        parse_json_event(line)


def test_a_list_of_a_small_room_says_nothing_of_members() -> None:
    """Below --quiet-joins-above, welcome and users JSON are as they were: no members field."""
    assert "members" not in to_json(Welcome(7, TS, "alice", ("alice",)))
    assert "members" not in to_json(UserList(8, TS, ("alice",), "#dev"))


def test_a_big_rooms_welcome_carries_its_count_in_json() -> None:
    """A big room's welcome: no names, members the count; it reads back the same."""
    welcome = Welcome(7, TS, "alice", (), 4096, "#lobby", 10_000)
    document = to_json(welcome)
    assert (document["users"], document["members"]) == ([], 10_000)
    parsed = parse_json_event(json.dumps(document))
    assert isinstance(parsed, Welcome)
    assert (parsed.users, parsed.members) == ((), 10_000)
