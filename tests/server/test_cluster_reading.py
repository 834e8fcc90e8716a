"""A cluster node's reading connection (``cluster_reading.ReplyReader``), by plain calls:
replies handed on whole as their bytes arrive, the connection's end reported once, and the
node's XREADs timed by one timer."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from redis.asyncio import Redis
from redis.exceptions import NoPermissionError, OutOfMemoryError, ReadOnlyError, ResponseError

from tcpchat.server import redis_hub
from tcpchat.server.cluster_reading import ErrorReply, ReplyReader
from tcpchat.server.redis_hub import (
    RedisHub,
    _cancel,
    _reply_error,
    answers_woken_reads_whole,
    redis_version,
)
from tests.support.faults import wait_until
from tests.support.redis_connection import StandInTransport, connection_on

#: An XREAD reply in RESP3: a map of one stream to one entry.
XREAD_REPLY = (
    b"%1\r\n$11\r\ntcpchat:ids\r\n*1\r\n*2\r\n$4\r\n12-0\r\n*2\r\n$1\r\ne\r\n$5\r\nhello\r\n"
)


def reader_on(
    transport: StandInTransport,
) -> tuple[ReplyReader, list[Any], list[Exception | None]]:
    replies: list[Any] = []
    losses: list[Exception | None] = []
    reader = ReplyReader.take_over(
        connection_on(transport),
        lambda _, reply: replies.append(reply),
        lambda _, error: losses.append(error),
    )
    return reader, replies, losses


def test_replies_are_handed_on_whole_however_their_bytes_arrive() -> None:
    transport = StandInTransport()
    reader, replies, losses = reader_on(transport)
    assert transport.protocol is reader
    data = XREAD_REPLY + b"_\r\n" + b"*2\r\n:1\r\n:2\r\n"
    for index in range(len(data)):  # a byte at a time
        reader.data_received(data[index : index + 1])
    assert replies == [{"tcpchat:ids": [["12-0", ["e", "hello"]]]}, None, [1, 2]]
    reader.data_received(XREAD_REPLY + XREAD_REPLY)  # two in one read
    assert len(replies) == 5
    assert losses == []


def test_a_push_is_not_a_reply_and_an_error_is_handed_on_as_one() -> None:
    transport = StandInTransport()
    reader, replies, _ = reader_on(transport)
    reader.data_received(b">2\r\n$10\r\ninvalidate\r\n*0\r\n" + b"-ERR no such thing\r\n")
    (error,) = replies
    assert isinstance(error, ErrorReply)
    assert "no such thing" in str(error)


def test_bytes_that_are_not_resp_end_the_connection_once() -> None:
    transport = StandInTransport()
    reader, replies, losses = reader_on(transport)
    reader.data_received(b"?what\r\n" + XREAD_REPLY)
    assert transport.closed
    assert replies == []
    assert len(losses) == 1
    assert losses[0] is not None
    reader.connection_lost(None)  # the transport's own report of its end, later
    reader.data_received(XREAD_REPLY)
    reader.send(b"PING\r\n")
    assert len(losses) == 1
    assert replies == []
    assert transport.written == []


def test_a_closed_connection_is_reported_once() -> None:
    transport = StandInTransport()
    reader, _, losses = reader_on(transport)
    reader.connection_lost(ConnectionResetError())
    reader.connection_lost(None)
    assert [type(error) for error in losses] == [ConnectionResetError]


async def test_a_connection_that_ended_before_it_was_taken_over_is_reported_ended() -> None:
    """Redis gone between redis-py's handshake and the take-over (the end went to redis-py's
    reader): reported once, a turn of the loop later, when the node holds the reader."""
    transport = StandInTransport()
    losses: list[Exception | None] = []
    reader = ReplyReader.take_over(
        connection_on(transport, ended=True), lambda *_: None, lambda _, e: losses.append(e)
    )
    assert losses == []
    await asyncio.sleep(0)
    assert losses == [None]
    assert transport.closed
    reader.connection_lost(None)
    assert losses == [None]


def test_an_error_reply_is_told_apart_as_redis_py_would() -> None:
    assert isinstance(_reply_error("NOPERM no read rights"), NoPermissionError)
    assert isinstance(_reply_error("READONLY a replica"), ReadOnlyError)
    assert isinstance(_reply_error("OOM over maxmemory"), OutOfMemoryError)
    other = _reply_error("ERR something")
    assert type(other) is ResponseError
    assert str(other) == "ERR something"
    assert str(_reply_error("NOPERM no read rights")) == "no read rights"


def reading_node(transport: StandInTransport, rooms: dict[str, str] | None = None) -> RedisHub:
    """A node reading on ``transport`` as if Redis were there (``rooms``, with the positions
    it reads them from)."""
    hub = RedisHub("redis://127.0.0.1:1/0", node_timeout=15)
    hub._positions.update(rooms or {})
    hub._reading = connection_on(transport)
    hub._running.set()
    hub._read_streams()
    return hub


async def stop(hub: RedisHub) -> None:
    hub._stop_reading_streams()
    if hub._recovery is not None:
        await _cancel([hub._recovery])


async def test_an_xread_unanswered_past_its_block_and_the_reply_time_pauses_the_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_hub, "BLOCK_MS", 10)
    monkeypatch.setattr(redis_hub, "REPLY_TIMEOUT", 0.01)
    transport = StandInTransport()
    hub = reading_node(transport)
    try:
        assert [data.split(b"\r\n")[2] for data in transport.written] == [b"XREAD"]
        await asyncio.sleep(0.2)
        assert not hub._running.is_set()  # lost: the chat pauses here
        assert hub._streams_reader is None
        transport.protocol.data_received(XREAD_REPLY)  # too late: dropped
        await asyncio.sleep(0)
        assert len(transport.written) == 1
    finally:
        await stop(hub)


async def test_a_reply_in_time_moves_the_reads_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one timer, fired at the first XREAD's deadline after its reply came, waits for
    the next XREAD's instead."""
    monkeypatch.setattr(redis_hub, "BLOCK_MS", 10)
    monkeypatch.setattr(redis_hub, "REPLY_TIMEOUT", 0.04)  # the first due in 50 ms
    transport = StandInTransport()
    hub = reading_node(transport)
    try:
        monkeypatch.setattr(redis_hub, "REPLY_TIMEOUT", 60.0)  # the next ones: in a minute
        transport.protocol.data_received(b"_\r\n")  # BLOCK ran out: a null
        await asyncio.sleep(0)  # read again a turn of the loop later
        assert len(transport.written) == 2
        await asyncio.sleep(0.2)
        assert hub._running.is_set()
        assert hub._read_timer is not None  # waiting for the second one's deadline
    finally:
        await stop(hub)


async def test_a_reply_on_a_connection_the_node_gave_up_is_dropped() -> None:
    transport = StandInTransport()
    hub = reading_node(transport)
    reader = transport.protocol
    hub._stop_reading_streams()
    reader.data_received(XREAD_REPLY)
    await asyncio.sleep(0)
    assert len(transport.written) == 1  # no XREAD after it
    assert hub._read_timer is None
    hub._read_streams()  # read again (the node back): one XREAD, on a reader of its own
    assert transport.protocol is not reader
    assert len(transport.written) == 2
    await stop(hub)


def one_stream_reply(stream: str, entry_id: str, fields: dict[str, str]) -> bytes:
    """An XREAD reply in RESP3 that brings ``stream`` alone, one entry."""

    def bulk(text: str) -> bytes:
        return b"$%d\r\n%s\r\n" % (len(text.encode()), text.encode())

    flat = b"".join(bulk(k) + bulk(v) for k, v in fields.items())
    entry = b"*2\r\n" + bulk(entry_id) + b"*%d\r\n" % (2 * len(fields)) + flat
    return b"%1\r\n" + bulk(stream) + b"*1\r\n" + entry


async def test_a_blocked_read_that_brings_one_stream_is_followed_by_a_read_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis before 7.2 answers a blocked XREAD with the one stream whose news woke it:
    the node's other rooms are read only up to where they were, and the next XREAD goes
    without BLOCK, timed as such (not by the blocked one's later deadline); its reply
    has every room read up to its moment, and the XREAD after it blocks again."""
    monkeypatch.setattr(redis_hub, "BLOCK_MS", 60_000)
    monkeypatch.setattr(redis_hub, "REPLY_TIMEOUT", 0.05)
    transport = StandInTransport()
    hub = reading_node(transport, {"#a": "10-0", "#b": "11-0"})
    try:
        assert b"BLOCK" in transport.written[0]
        wake = one_stream_reply(hub.keys.inbox(hub.node), "5-0", {"w": "1"})
        transport.protocol.data_received(wake)
        assert hub._read_to == {"#a": 10, "#b": 11}
        await wait_for_xread(transport, 2)
        assert b"BLOCK" not in transport.written[1]
        transport.protocol.data_received(b"_\r\n")  # nothing new anywhere
        assert hub._read_to == {}
        await wait_for_xread(transport, 3)
        assert b"BLOCK" in transport.written[2]
        transport.protocol.data_received(wake.replace(b"5-0", b"6-0"))
        await wait_for_xread(transport, 4)
        assert b"BLOCK" not in transport.written[3]
        await asyncio.sleep(0.3)  # unanswered: past its own deadline, not the minute
        assert not hub._running.is_set()
    finally:
        await stop(hub)


async def test_on_redis_7_2_a_blocked_read_that_brings_one_stream_has_them_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis 7.2 and later run a woken XREAD again, so its reply has every stream with
    news: the rooms are read up to its moment, and the next XREAD blocks."""
    monkeypatch.setattr(redis_hub, "BLOCK_MS", 60_000)
    transport = StandInTransport()
    hub = reading_node(transport, {"#a": "10-0", "#b": "11-0"})
    hub._woken_whole = True
    try:
        wake = one_stream_reply(hub.keys.inbox(hub.node), "5-0", {"w": "1"})
        await read_whole(hub, transport, wake)
    finally:
        await stop(hub)


@pytest.mark.parametrize(
    ("version", "whole"),
    [
        ("7.0.15", False),
        ("6.2.14", False),
        ("7.2.0", True),
        ("7.2.4", True),
        ("8.0.2", True),
        ("", False),
        ("unstable", False),
        ("7", False),
    ],
)
def test_which_redis_versions_answer_a_woken_read_whole(version: str, whole: bool) -> None:
    assert answers_woken_reads_whole(version) is whole


class InfoOnly:
    """A stand-in for redis-py's client that answers INFO alone (or refuses it)."""

    def __init__(self, info: dict[str, Any] | None) -> None:
        self._info = info

    async def info(self, section: str) -> dict[str, Any]:
        assert section == "server"
        if self._info is None:
            raise NoPermissionError("this user has no permissions to run the 'info' command")
        return self._info


@pytest.mark.parametrize(
    ("info", "version"),
    [
        ({"redis_version": "7.2.4"}, "7.2.4"),
        ({"redis_version": "7.2.4", "valkey_version": "8.0.1"}, "7.2.4"),
        ({"redis_version": "7.4.0", "dragonfly_version": "df-v1.25.0"}, ""),
        ({}, ""),
        (None, ""),
    ],
)
async def test_a_server_that_will_not_say_its_version_is_taken_for_an_older_redis(
    info: dict[str, Any] | None, version: str
) -> None:
    assert await redis_version(cast(Redis, InfoOnly(info))) == version


async def test_a_read_that_brings_several_streams_has_them_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reply with two streams was not a wake-up by one: the rooms are read up to its
    moment, and the next XREAD blocks."""
    monkeypatch.setattr(redis_hub, "BLOCK_MS", 60_000)
    transport = StandInTransport()
    hub = reading_node(transport, {"#a": "10-0", "#b": "11-0"})
    try:
        inbox = one_stream_reply(hub.keys.inbox(hub.node), "5-0", {"w": "1"})
        own = {"node": hub.node, "op": "user", "key": "x", "v": ""}  # (its own: passed over)
        presence = one_stream_reply(hub.keys.presence, "7-0", own)
        both = b"%2\r\n" + inbox.removeprefix(b"%1\r\n") + presence.removeprefix(b"%1\r\n")
        await read_whole(hub, transport, both)
    finally:
        await stop(hub)


async def read_whole(hub: RedisHub, transport: StandInTransport, reply: bytes) -> None:
    """``reply``, the first, is taken as whole: every room is read up to its moment, and
    the next XREAD blocks."""
    transport.protocol.data_received(reply)
    assert hub._read_to == {}
    await wait_for_xread(transport, 2)
    assert b"BLOCK" in transport.written[1]


async def wait_for_xread(transport: StandInTransport, count: int) -> None:
    """Until the node has written ``count`` XREADs (the next goes a turn of the loop or so
    after a reply)."""
    await wait_until(lambda: len(transport.written) >= count)
