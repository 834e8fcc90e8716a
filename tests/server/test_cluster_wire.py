"""How a cluster node's room events travel through Redis, as plain data (no Redis)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from redis.connection import Connection

from tcpchat.core.events import Event, Message
from tcpchat.core.render import parse_json_event, to_json
from tcpchat.irc.render import ChannelNotice
from tcpchat.server.cluster_wire import (
    client_fields,
    command,
    event_arguments,
    id_number,
    parse_stream_document,
    stream_document,
    with_id,
    xread_entries,
)
from tcpchat.server.redis_hub import ClusterClock
from tests.support.samples import SAMPLES


@pytest.mark.parametrize("event", [event for event, _ in SAMPLES], ids=lambda e: type(e).__name__)
def test_an_event_read_back_takes_its_id_as_replace_would_give_it(event: Event) -> None:
    """Every event type, given the cluster's id, equals dataclasses.replace(event, id=...)."""
    assert with_id(event, 4_242) == dataclasses.replace(event, id=4_242)


def test_an_irc_channel_notice_read_back_takes_its_id_and_stays_a_notice() -> None:
    """A front door's own kind of event (IRC's NOTICE #room) comes back with its id, as the
    same kind: reading it must not stop the node's reader."""
    notice = ChannelNotice(0, SAMPLES[0][0].ts, "bob", "build is green", "#dev")
    assert with_id(notice, 7) == ChannelNotice(7, notice.ts, "bob", "build is green", "#dev")


@pytest.mark.parametrize("event", [event for event, _ in SAMPLES], ids=lambda e: type(e).__name__)
def test_a_stream_document_is_the_json_rendering_with_id_zero(event: Event) -> None:
    """A room stream carries each event as the JSON rendering gives it, with id 0."""
    document = stream_document(event)
    assert json.loads(document) == to_json(dataclasses.replace(event, id=0))


@pytest.mark.parametrize(
    ("nick", "text", "room"),
    [
        ("alice", "hello", "#lobby"),
        ("zoë", 'quote " backslash \\ tab \t end', "#café"),
        ("bob", "emoji 🎉 and \u2028 line separator", ""),
        ("carol", "", "#x"),
    ],
)
def test_a_live_line_is_written_as_the_encoder_writes_it(nick: str, text: str, room: str) -> None:
    """A chat line's document, written directly, is byte for byte the generic encoder's."""
    line = Message(9, SAMPLES[0][0].ts, nick, text, room)
    generic = to_json(dataclasses.replace(line, id=0))
    assert stream_document(line) == json.dumps(generic, ensure_ascii=False, separators=(",", ":"))


def test_a_replayed_line_keeps_its_history_mark_in_the_document() -> None:
    """A line marked as history takes the generic way and keeps the mark."""
    line = Message(9, SAMPLES[0][0].ts, "alice", "old news", "#lobby", history=True)
    assert json.loads(stream_document(line))["history"] is True


@pytest.mark.parametrize(
    "args",
    [
        ("EVALSHA", "f" * 40, 2, "k1", "k2", 0, 1_000_000, ""),
        ("SET", "clé", "värde 🎉", -5),
        ("XADD", b"raw\r\nbytes", "*", "e", "{}"),
    ],
)
def test_a_packed_command_is_what_redis_py_would_send(args: tuple[str | int | bytes, ...]) -> None:
    """RESP of strings (UTF-8), integers and bytes, as redis-py's own packing gives it."""
    packed = Connection().pack_command(*args)  # type: ignore[no-untyped-call]
    assert command(*args) == b"".join(packed)


@pytest.mark.parametrize(
    "more",
    [
        [0],
        [1, "2026-05-01T14:03:22.123Z", "#Dev", "message", "bob", "héllo 🎉", ""],
        ["m", 1, "set", "mute:bob", "1"],
    ],
)
def test_an_events_packed_arguments_are_what_redis_py_would_send(more: list[str | int]) -> None:
    """An event's arguments to the append script, packed in one step, are the same bytes
    as each packed in turn: its slot, sequence number, token, document, then the rest."""
    first: list[str | int] = ["EVALSHA", 3, 1_234_567, "n1:42", '{"text":"déjà vu"}']
    packed = b"".join(Connection().pack_command(*first, *more))  # type: ignore[no-untyped-call]
    head = b"*%d\r\n$7\r\nEVALSHA\r\n" % (len(first) + len(more))
    assert head + event_arguments(3, 1_234_567, "n1:42", '{"text":"déjà vu"}', more) == packed


def test_an_entry_id_gives_its_event_id() -> None:
    """A room stream's entry id ID-0 is the event's id."""
    assert id_number("12345-0") == 12_345


RESP2_REPLY = [
    ["t:{#a}:events", [["7-0", ["e", "{}", "o", "n1:3", "n", "1"]], ["8-0", ["e", "{}"]]]],
    ["t:presence", [["1700000000000-0", ["node", "n2", "op", "user"]]]],
]
EXPECTED = [
    ("t:{#a}:events", [("7-0", {"e": "{}", "o": "n1:3", "n": "1"}), ("8-0", {"e": "{}"})]),
    ("t:presence", [("1700000000000-0", {"node": "n2", "op": "user"})]),
]


def test_xread_reply_in_resp2_is_read_as_streams_of_entries() -> None:
    """RESP2's list of [stream, entries] gives each stream's entries with their fields."""
    assert list(xread_entries(RESP2_REPLY)) == EXPECTED


def test_xread_reply_in_resp3_is_read_as_streams_of_entries() -> None:
    """RESP3's map of stream to entries reads as RESP2's list does."""
    resp3 = {stream: entries for stream, entries in RESP2_REPLY}
    assert list(xread_entries(resp3)) == EXPECTED


def test_an_empty_xread_reply_has_no_streams() -> None:
    """BLOCK running out gives None: nothing to read."""
    assert list(xread_entries(None)) == []


def test_a_nodes_clock_stamps_whole_milliseconds_one_datetime_each() -> None:
    """A cluster node's times are whole milliseconds, as its room streams carry them (an
    event's time is then the same on every node); the stamps of one millisecond are one
    datetime, whose JSON text is written once."""
    clock = ClusterClock()
    before = datetime.now(UTC).replace(microsecond=0)
    stamps = [clock.stamp() for _ in range(2_000)]
    ids = [event_id for event_id, _ in stamps]
    times = [ts for _, ts in stamps]
    assert ids == list(range(1, 2_001))
    assert all(ts.microsecond % 1_000 == 0 and ts.tzinfo is UTC for ts in times)
    assert before <= times[0] <= times[-1] <= datetime.now(UTC)
    by_value: dict[datetime, datetime] = {}
    for ts in times:
        assert by_value.setdefault(ts, ts) is ts
    assert len(by_value) < len(times)  # 2,000 stamps take less than 2,000 milliseconds


def test_client_info_is_read_field_by_field() -> None:
    """CLIENT INFO's line, as Redis 7 writes it: each name=value a field, an empty value
    kept, the line's end not part of the last one."""
    line = (
        "id=5 addr=127.0.0.1:34324 laddr=127.0.0.1:43557 fd=8 name=tcpchat-a-streams "
        "age=0 idle=0 flags=N db=0 sub=0 psub=0 multi=-1 qbuf=26 user=default "
        "lib-name= lib-ver= resp=3\n"
    )
    fields = client_fields(line)
    assert fields["id"] == "5"
    assert fields["addr"] == "127.0.0.1:34324"
    assert fields["name"] == "tcpchat-a-streams"
    assert fields["lib-name"] == ""
    assert fields["resp"] == "3"


def test_an_irc_channel_notice_travels_as_a_marked_message_and_comes_back_a_notice() -> None:
    """IRC's NOTICE #room goes into the stream as a message's document with a mark: a node
    reads it back as the notice it was, and a reader that knows no mark (the JSON rendering's
    parser) as a plain message, so that native members everywhere read a line."""
    notice = ChannelNotice(
        0, SAMPLES[0][0].ts.replace(microsecond=0), "bob", 'build "7" is green', "#dev"
    )
    document = stream_document(notice)
    assert json.loads(document) == {**to_json(notice.as_message()), "notice": True}
    assert parse_stream_document(document) == notice
    assert type(parse_json_event(document)) is Message
    line = Message(0, notice.ts, "bob", 'a line ends in notice":true}', "#dev")
    assert parse_stream_document(stream_document(line)) == line
