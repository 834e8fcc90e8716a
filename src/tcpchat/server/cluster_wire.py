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
from typing import Any

from tcpchat.core.events import EVENT_TYPES, Event, Message
from tcpchat.core.render import json_time, to_json

#: A stream's entries: (entry id, fields), as every reader of the cluster's streams takes them.
Entries = list[tuple[str, dict[str, str]]]

#: One JSON encoder for every stream document: ``json.dumps`` with options makes a new
#: encoder each call, a cost each room event paid twice over on a busy node.
_STREAM_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: A JSON string, as that encoder writes one (``ensure_ascii=False``).
_json_string: Callable[[str], str] = json.encoder.encode_basestring


def stream_document(event: Event) -> str:
    """``event`` as its room's stream carries it: its JSON rendering, with id 0.

    A live chat line, most of a busy room's traffic, is written directly (a third of
    the cost of building the dict), byte for byte what the encoder would write.
    """
    if type(event) is Message and not event.history:
        return (
            f'{{"type":"message","id":0,"ts":"{json_time(event.ts)}",'
            f'"nick":{_json_string(event.nick)},"text":{_json_string(event.text)},'
            f'"room":{_json_string(event.room)}}}'
        )
    document = to_json(event)
    document["id"] = 0
    return _STREAM_JSON.encode(document)


#: Per event type, a getter of every field but the id (the first), for :func:`with_id`.
_ALL_BUT_ID: dict[type[Event], Callable[[Event], tuple[Any, ...]]] = {
    cls: attrgetter(*(item.name for item in dataclasses.fields(cls)[1:])) for cls in EVENT_TYPES
}


def with_id(event: Event, event_id: int) -> Event:
    """``event`` with the id the cluster gave it: ``dataclasses.replace``, at a third of the
    cost, paid by every room event a node reads back. Every event's first field is its id.

    A front door's own kind of event (IRC's channel notice, a :class:`Message` to every
    other door) is not in the table: it takes ``dataclasses.replace``'s way.
    """
    cls = type(event)
    all_but_id = _ALL_BUT_ID.get(cls)
    if all_but_id is None:
        return dataclasses.replace(event, id=event_id)
    return cls(event_id, *all_but_id(event))


def id_number(entry_id: str) -> int:
    """The event id in a room stream's entry id, ``ID-0``."""
    return int(entry_id.partition("-")[0])


def command(*args: str | int | bytes) -> bytes:
    """One Redis command in RESP, its arguments bulk strings: what redis-py's
    ``pack_command`` sends, at about a quarter of its cost an argument."""
    out = [b"*%d\r\n" % len(args)]
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


def xread_entries(reply: Any) -> Iterable[tuple[str, Entries]]:
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
