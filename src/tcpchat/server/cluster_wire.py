"""How a cluster node's room events travel through Redis, as plain data (no sockets).

A room's stream carries each event as a JSON document with id 0 (the entry's id
is the event's); an event read back takes its id by :func:`with_id`. The append
script's command is packed here, in RESP, and ``XREAD``'s replies are read here as
hiredis hands them over: both are on every room event's path, where redis-py's
general code for any command (``pack_command``, its reply callbacks) cost a node
more than the rest of the trip (docs/scaling.md, "The hub, measured").
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any, cast

from tcpchat.core.events import EVENT_TYPES, Event, Message
from tcpchat.core.render import json_time, parse_json_event, to_json
from tcpchat.irc.render import ChannelNotice

#: A stream's entries: (entry id, fields), as every reader of the cluster's streams takes them.
Entries = list[tuple[str, dict[str, str]]]

#: One JSON encoder for every stream document: ``json.dumps`` with options makes a new
#: encoder each call, a cost each room event paid twice over on a busy node.
_STREAM_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: A JSON string, as that encoder writes one (``ensure_ascii=False``).
_json_string: Callable[[str], str] = json.encoder.encode_basestring


#: How an IRC channel NOTICE's stream document ends: a message's, marked so that every
#: node's IRC members get a NOTICE (:func:`parse_stream_document`).
_NOTICE_MARK = ',"notice":true}'


def stream_document(event: Event) -> str:
    """``event`` as its room's stream carries it: its JSON rendering, with id 0.

    A live chat line, most of a busy room's traffic, is written directly (a third of
    the cost of building the dict), byte for byte what the encoder would write. An
    IRC channel NOTICE (:class:`ChannelNotice`, IRC's own kind of message) is a
    message's document with a mark: native members on every node read a message.
    """
    kind = type(event)
    if (kind is Message or kind is ChannelNotice) and not cast(Message, event).history:
        line = cast(Message, event)
        document = (
            f'{{"type":"message","id":0,"ts":"{json_time(line.ts)}",'
            f'"nick":{_json_string(line.nick)},"text":{_json_string(line.text)},'
            f'"room":{_json_string(line.room)}}}'
        )
        return document if kind is Message else document[:-1] + _NOTICE_MARK
    document_fields = to_json(event)
    document_fields["id"] = 0
    return _STREAM_JSON.encode(document_fields)


def parse_stream_document(document: str) -> Event:
    """An event from its stream document (:func:`stream_document`), checked as
    :func:`parse_json_event` checks a line; raises RemoteProtocolError as it does."""
    event = parse_json_event(document)
    if type(event) is Message and document.endswith(_NOTICE_MARK):
        return ChannelNotice(event.id, event.ts, event.nick, event.text, event.room)
    return event


#: How :func:`with_id` copies an event of one type: a getter of every field but the id (the
#: first), the id's slot, and every other field's slot, in the fields' order.
_Copier = tuple[Callable[[Event], tuple[Any, ...]], Callable[[Event, int], None], list[Any]]


def _copier(event_type: type[Event]) -> _Copier:
    """The slots of ``event_type``'s fields, set directly: a frozen dataclass's ``__init__``
    sets each through ``object.__setattr__``, most of a copy's cost, for nothing to check
    (the event copied was checked when it was made)."""
    names = [item.name for item in dataclasses.fields(event_type)]
    setters = [vars(event_type)[name].__set__ for name in names]  # the slots' descriptors
    return attrgetter(*names[1:]), setters[0], setters[1:]


_COPIERS: dict[type[Event], _Copier] = {cls: _copier(cls) for cls in EVENT_TYPES}


def with_id(event: Event, event_id: int) -> Event:
    """``event`` with the id the cluster gave it: ``dataclasses.replace``, at a fraction of
    the cost, paid by every room event a node hears back. Every event's first field is its id.

    A front door's own kind of event (IRC's channel notice, a :class:`Message` to every
    other door) is not in the table: it takes ``dataclasses.replace``'s way.
    """
    cls = type(event)
    copier = _COPIERS.get(cls)
    if copier is None:
        return dataclasses.replace(event, id=event_id)
    all_but_id, set_id, set_others = copier
    copy = object.__new__(cls)
    set_id(copy, event_id)
    for set_field, value in zip(set_others, all_but_id(event)):  # noqa: B905 (a setter a field)
        set_field(copy, value)
    return copy


def id_number(entry_id: str) -> int:
    """The event id in a room stream's entry id, ``ID-0``."""
    return int(entry_id.partition("-")[0])


def command(*args: str | int | bytes) -> bytes:
    """One Redis command in RESP, its arguments bulk strings: what redis-py's
    ``pack_command`` sends, at about a quarter of its cost an argument."""
    return b"*%d\r\n%b" % (len(args), bulk_strings(args))


def bulk_strings(args: Iterable[str | int | bytes]) -> bytes:
    """Arguments of a command in RESP, without the array's header: strings in UTF-8,
    integers in decimal, bytes as they are."""
    out: list[bytes] = []
    append = out.append
    for arg in args:
        if type(arg) is str:
            data = arg.encode()
        elif type(arg) is int:
            data = b"%d" % arg
        else:
            assert isinstance(arg, bytes), f"not a Redis argument: {arg!r}"
            data = arg
        append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


#: The last argument of an event that the append script only appends: nothing to keep.
_NOTHING_MORE = bulk_strings([0])


def event_arguments(slot: int, seq: int, token: str, document: str, more: list[str | int]) -> bytes:
    """One event's arguments to the append script, in RESP: its room's slot, its sequence
    number on this node, its token and its stream document, then ``more`` (what the script
    does with it besides: cluster_scripts.APPEND). Packed in one step, as :func:`command`
    would pack them one by one, at half the cost: they are every room event's."""
    slot_text, seq_text = b"%d" % slot, b"%d" % seq
    token_data, document_data = token.encode(), document.encode()
    packed = b"$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
        len(slot_text),
        slot_text,
        len(seq_text),
        seq_text,
        len(token_data),
        token_data,
        len(document_data),
        document_data,
    )
    if more == [0]:
        return packed + _NOTHING_MORE
    return packed + bulk_strings(more)


def xread_entries(reply: Any) -> list[tuple[str, Entries]]:
    """``XREAD``'s reply as (stream, entries), read from what hiredis parsed (no redis-py
    callback runs on the node's reading connection), in either protocol: RESP2's
    ``[[stream, [[id, [field, value, ...]], ...]], ...]`` or RESP3's map of stream to
    entries."""
    if not reply:
        return []
    pairs: Iterable[Any] = reply.items() if isinstance(reply, dict) else reply
    return [(str(stream), [_entry(entry) for entry in entries]) for stream, entries in pairs]


def _entry(entry: Any) -> tuple[str, dict[str, str]]:
    entry_id, flat = entry
    if isinstance(flat, dict):
        return str(entry_id), flat
    values = iter(flat or ())
    return str(entry_id), dict(zip(values, values, strict=True))


def client_fields(text: str) -> dict[str, str]:
    """``CLIENT INFO``'s line (``id=7 addr=127.0.0.1:51234 laddr=... name=...``) as fields.
    (No field's value has a space: Redis refuses one in a client's name.)"""
    fields: dict[str, str] = {}
    for item in text.split():
        name, equals, value = item.partition("=")
        if equals:
            fields[name] = value
    return fields
