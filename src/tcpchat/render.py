"""Events to wire lines, in the two renderings, and JSON lines back to events.

* **Text** (the default) is for people on ``nc`` or ``telnet``:
  ``[14:03:22] <alice> hello``, with system lines marked ``***`` and errors ``!!!``.
* **JSON lines** is for programs, the official client among them: one object per
  event, with ``type``, ``id``, ``ts`` (ISO 8601, UTC) and the event's fields.

Both are pure functions of the event, so the hub encodes each event once per
rendering and sends the same bytes to everyone.
"""

from __future__ import annotations

import enum
import functools
import json
from dataclasses import fields
from datetime import datetime, tzinfo
from typing import Any

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


def text_lines(event: Event, tz: tzinfo | None = None) -> list[str]:
    """The text rendering of ``event``: the lines a person reads, without newlines.

    Times are shown in ``tz`` (default: the local time zone of the machine rendering).
    An event that has no text form (a streamed piece of an AI answer) gives no lines.
    """
    stamp = _clock_stamp(event.ts, tz)
    match event:
        case Message(nick=nick, text=text):
            return [f"{stamp}<{nick}> {text}"]
        case Action(nick=nick, text=text):
            return [f"{stamp}* {nick} {text}"]
        case PrivateMessage(nick=nick, recipient=recipient, text=text):
            return [f"{stamp}[private] {nick} -> {recipient}: {text}"]
        case Join(nick=nick):
            return [f"{stamp}*** {nick} joined"]
        case Leave(nick=nick, reason=reason):
            return [f"{stamp}*** {nick} left ({reason})"]
        case NickChange(old=old, new=new):
            return [f"{stamp}*** {old} is now known as {new}"]
        case Welcome(nick=nick, users=users):
            return [
                f"{stamp}*** Welcome, {nick}! {_count_users(users)} online: {', '.join(users)}",
                f"{stamp}*** Type a message and press Enter to chat; /help lists the commands.",
            ]
        case UserList(users=users):
            return [f"{stamp}*** {_count_users(users)} online: {', '.join(users)}"]
        case Notice(text=text):
            return [f"{stamp}*** {line}" for line in text.split("\n")]
        case Error(text=text):
            return [f"{stamp}!!! {line}" for line in text.split("\n")]
        case SearchStarted(nick=nick, question=question):
            return [f"{stamp}*** {nick} asked the AI: {question}"]
        case AIDelta():
            return []
        case AIAnswer(text=text, sources=sources):
            lines = [f"{stamp}<{AI_NICK}> {line}" for line in text.split("\n")]
            if sources:
                lines.append(f"{stamp}<{AI_NICK}> Sources:")
                lines.extend(
                    f"{stamp}<{AI_NICK}> [{number}] {url}" for number, url in enumerate(sources, 1)
                )
            return lines
        case Shutdown(text=text):
            return [f"{stamp}*** {text}"]
    raise AssertionError(f"no text rendering for {event!r}")  # pragma: no cover


def _clock_stamp(ts: datetime, tz: tzinfo | None) -> str:
    """``[HH:MM:SS] `` for ``ts`` in ``tz``; converting time zones is slow, so by the second."""
    return _clock_stamp_of_second(int(ts.timestamp() // 1), tz)


@functools.lru_cache(maxsize=256)
def _clock_stamp_of_second(second: int, tz: tzinfo | None) -> str:
    return "[" + datetime.fromtimestamp(second, tz).strftime("%H:%M:%S") + "] "


def _count_users(users: tuple[str, ...]) -> str:
    return "1 user" if len(users) == 1 else f"{len(users)} users"


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


def parse_json_event(line: str | bytes) -> Event:
    """Read one line of the JSON rendering back into an event.

    Raises :class:`RemoteProtocolError` for anything that is not a known event.
    Unknown extra fields are ignored, so that newer servers can add fields.
    """
    try:
        document = json.loads(line)
        cls = _TYPES_BY_KIND[document["type"]]
        values: dict[str, Any] = {}
        for field in fields(cls):
            value = document[field.name]
            if field.name == "ts":
                value = datetime.fromisoformat(value)
            elif isinstance(value, list):
                value = tuple(value)
            values[field.name] = value
        return cls(**values)
    except (ValueError, KeyError, TypeError) as exc:
        raise RemoteProtocolError(f"not a tcpchat event: {exc}") from None
