"""Events to wire lines, in the two renderings, and JSON lines back to events.

* **Text** (the default) is for people on ``nc`` or ``telnet``:
  ``[14:03:22] <alice> hello``, with system lines marked ``***`` and errors ``!!!``.
* **JSON lines** is for programs, the official client among them: one object per
  event, with ``type``, ``id``, ``ts`` (ISO 8601, UTC) and the event's fields.

Both are pure functions of the event, so the hub encodes each event once per
rendering and sends the same bytes to everyone.

The wording of the text rendering (:func:`system_lines`, :func:`users_online`,
:func:`welcome_line`, :func:`source_lines`, the marks and the time stamp) is
also what the terminal client shows: :mod:`tcpchat.display` adds styles to it.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import MISSING, fields
from datetime import datetime, tzinfo
from typing import Any, assert_never

from tcpchat.errors import RemoteProtocolError
from tcpchat.events import (
    EVENT_TYPES,
    Action,
    AIAnswer,
    AIDelta,
    Error,
    Event,
    Join,
    Leave,
    Message,
    NickChange,
    Notice,
    PrivateMessage,
    SearchFailed,
    SearchStarted,
    Shutdown,
    UserList,
    Welcome,
)
from tcpchat.nicks import AI_NICK


class Rendering(enum.IntEnum):
    """How a connection wants its events written."""

    TEXT = 0
    JSON = 1


#: How a system line (joins, notices, who is online...) starts, after the time.
SYSTEM_MARK = "***"
#: How an error line starts, after the time.
ERROR_MARK = "!!!"
#: How a private message starts, after the time.
PRIVATE_MARK = "[private]"
#: The second line of the welcome in the text rendering. The terminal client
#: words its own, since it also completes nicknames with Tab.
WELCOME_HINT = "Type a message and press Enter to chat; /help lists the commands."

#: The events shown as system lines, worded by :func:`system_lines`. (The welcome
#: is one too, but its second line differs: see :func:`welcome_line`.)
SystemEvent = (
    Join | Leave | NickChange | UserList | Notice | SearchStarted | SearchFailed | Shutdown
)


def text_lines(event: Event, tz: tzinfo | None = None) -> list[str]:
    """The text rendering of ``event``: the lines a person reads, without newlines.

    Times are shown in ``tz`` (default: the local time zone of the machine rendering).
    An event that has no text form (a streamed piece of an AI answer) gives no lines.
    """
    stamp = timestamp(event.ts, tz)
    match event:
        case Message(nick=nick, text=text):
            return [f"{stamp}<{nick}> {text}"]
        case Action(nick=nick, text=text):
            return [f"{stamp}* {nick} {text}"]
        case PrivateMessage(nick=nick, recipient=recipient, text=text):
            return [f"{stamp}{PRIVATE_MARK} {nick} -> {recipient}: {text}"]
        case Welcome(nick=nick, users=users):
            return [
                f"{stamp}{SYSTEM_MARK} {welcome_line(nick, users)}",
                f"{stamp}{SYSTEM_MARK} {WELCOME_HINT}",
            ]
        case (
            Join()
            | Leave()
            | NickChange()
            | UserList()
            | Notice()
            | SearchStarted()
            | SearchFailed()
            | Shutdown()
        ):
            return [f"{stamp}{SYSTEM_MARK} {line}" for line in system_lines(event)]
        case Error(text=text):
            return [f"{stamp}{ERROR_MARK} {line}" for line in text.split("\n")]
        case AIDelta():
            return []
        case AIAnswer(text=text, sources=sources):
            return [
                f"{stamp}<{AI_NICK}> {line}" for line in [*text.split("\n"), *source_lines(sources)]
            ]
    raise AssertionError(f"no text rendering for {event!r}")  # pragma: no cover


def timestamp(ts: datetime, tz: tzinfo | None = None) -> str:
    """``ts`` as the stamp that starts each line, ``[14:03:22] ``, in the time zone ``tz``.

    Converting time zones is slow and a busy room stamps thousands of events a
    second, so the stamp is made once per second.
    """
    return _timestamp_of_second(int(ts.timestamp() // 1), tz)


@functools.lru_cache(maxsize=256)
def _timestamp_of_second(second: int, tz: tzinfo | None) -> str:
    return datetime.fromtimestamp(second, tz).strftime("[%H:%M:%S] ")


def _as_is(text: str) -> str:
    return text


def system_lines(event: SystemEvent, clean: Callable[[str], str] = _as_is) -> list[str]:
    """What a system event says, one string per line, without the time or the mark.

    ``clean`` is applied to every text the event carries (to each line of a
    multi-line one) before it is put into words: the client passes
    :func:`~tcpchat.sanitize.sanitize_text`. The default leaves the texts as they
    are, as the text rendering wants: the server sanitised remote text on arrival.
    """
    match event:
        case Join(nick=nick):
            return [f"{clean(nick)} joined"]
        case Leave(nick=nick, reason=reason):
            return [f"{clean(nick)} left ({clean(reason)})"]
        case NickChange(old=old, new=new):
            return [f"{clean(old)} is now known as {clean(new)}"]
        case UserList(users=users):
            return [users_online(clean(user) for user in users)]
        case Notice(text=text):
            return [clean(line) for line in text.split("\n")]
        case SearchStarted(nick=nick, question=question):
            return [f"{clean(nick)} asked the AI: {clean(question)}"]
        case SearchFailed(nick=nick):
            return [f"the AI could not answer {clean(nick)}'s question"]
        case Shutdown(text=text):
            return [clean(text)]
        case _:  # pragma: no cover
            assert_never(event)


def users_online(users: Iterable[str]) -> str:
    """Who is in the room, counted and named: ``2 users online: alice, bob``."""
    names = list(users)
    count = "1 user" if len(names) == 1 else f"{len(names)} users"
    return f"{count} online: {', '.join(names)}"


def welcome_line(nick: str, users: Iterable[str]) -> str:
    """The first line of the welcome: ``Welcome, alice! 2 users online: alice, bob``."""
    return f"Welcome, {nick}! {users_online(users)}"


def source_lines(sources: Sequence[str]) -> list[str]:
    """The lines under an AI answer that list its sources, numbered from 1 (none if none)."""
    if not sources:
        return []
    return ["Sources:", *(f"[{number}] {url}" for number, url in enumerate(sources, 1))]


def to_json(event: Event) -> dict[str, Any]:
    """The JSON rendering of ``event`` as a dict: ``type``, then the event's fields."""
    document: dict[str, Any] = {"type": event.kind}
    for field in fields(event):
        value = getattr(event, field.name)
        if isinstance(value, datetime):
            value = value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        elif isinstance(value, tuple):
            value = list(value)
        document[field.name] = value
    return document


def encode(event: Event, rendering: Rendering) -> bytes:
    """``event`` as bytes for the wire, each line ending in ``\\n``; may be empty."""
    if rendering is Rendering.JSON:
        return (json.dumps(to_json(event), ensure_ascii=False) + "\n").encode()
    return "".join(line + "\n" for line in text_lines(event)).encode()


_TYPES_BY_KIND: dict[str, type[Event]] = {cls.kind: cls for cls in EVENT_TYPES}


# What each field annotation of the events accepts in JSON (the annotations are
# strings: events.py uses postponed evaluation).
_JSON_FIELD_CHECKS: dict[str, Callable[[Any], bool]] = {
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "str": lambda value: isinstance(value, str),
    "datetime": lambda value: isinstance(value, str),
    "tuple[str, ...]": lambda value: (
        isinstance(value, list) and all(isinstance(item, str) for item in value)
    ),
}


def parse_json_event(line: str | bytes) -> Event:
    """Read one line of the JSON rendering back into an event.

    Raises :class:`RemoteProtocolError` for anything that is not a known event
    with fields of the right types, so that a broken or hostile server cannot
    hand a client a nickname that is a number or a text that is null.
    Unknown extra fields are ignored, so that newer servers can add fields, and
    a field with a default may be missing, so that older servers need not send it.
    """
    try:
        document = json.loads(line)
        cls = _TYPES_BY_KIND[document["type"]]
        values: dict[str, Any] = {}
        for field in fields(cls):
            if field.name not in document and field.default is not MISSING:
                continue
            value = document[field.name]
            if not _JSON_FIELD_CHECKS[str(field.type)](value):
                raise TypeError(f"{field.name!r} is not of type {field.type}")
            if field.name == "ts":
                value = datetime.fromisoformat(value)
            elif isinstance(value, list):
                value = tuple(value)
            values[field.name] = value
        return cls(**values)
    except (ValueError, KeyError, TypeError) as exc:
        raise RemoteProtocolError(f"not a tcpchat event: {exc}") from None
