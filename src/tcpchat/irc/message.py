"""One IRC line, parsed and serialised, under IRC's limits, with no I/O.

A line is ``[@tags ][:source ]COMMAND[ params][ :trailing]`` and CRLF
(https://modern.ircdocs.horse/#message-format, and the IRCv3 message-tags
specification for the tags). :func:`parse_message` turns a line from an IRC
client into a frozen :class:`IrcMessage`; :meth:`IrcMessage.to_bytes` turns a
message back into a line, and refuses any it cannot send whole.

The limits, each named below:

* the line without its tags is at most 512 bytes, CRLF included;
* a client's tag data (between ``@`` and the space) is at most 4,094 bytes, and
  a line the server sends carries at most 8,191 bytes of tags in all, ``@`` and
  space included (4,094 of the server's, 4,094 relayed from a client, and ``;``);
* at most 15 parameters; none holds NUL, CR or LF.

:func:`line_splitter` cuts the byte stream with tcpchat's one
:class:`~tcpchat.core.protocol.LineSplitter`, at the longest line a client may
send (tags and all), so that a longer one is thrown away whole and never read
as a command. Text too long for one line is cut by the caller with
:func:`split_text_for_irc`, or shortened with :func:`fit_last_param`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from tcpchat.core.protocol import LineSplitter
from tcpchat.core.textsplit import MIN_PIECE_BYTES, split_text, utf8_length
from tcpchat.irc.errors import (
    EmptyMessage,
    InputTooLong,
    MalformedMessage,
    NotUtf8,
    UnsendableMessage,
)

#: The longest line, CRLF included, not counting its tags.
MAX_LINE_BYTES = 512
#: The same without CRLF: the most a line's source, command and parameters take.
MAX_BODY_BYTES = MAX_LINE_BYTES - 2
#: The most tag data (between ``@`` and the space) a client may send.
MAX_CLIENT_TAG_DATA_BYTES = 4094
#: The most tag data a server may add of its own.
MAX_SERVER_TAG_DATA_BYTES = 4094
#: The whole tag section of a line the server sends: ``@``, both budgets, ``;`` and the space.
MAX_TAGS_BYTES = 1 + MAX_SERVER_TAG_DATA_BYTES + 1 + MAX_CLIENT_TAG_DATA_BYTES + 1
#: The longest line a client may send, without CRLF: ``@``, its tag data, a space, the body.
MAX_CLIENT_LINE_BYTES = 1 + MAX_CLIENT_TAG_DATA_BYTES + 1 + MAX_BODY_BYTES
#: The most parameters one message may have (RFC 1459 and 2812).
MAX_PARAMS = 15

#: What a shortened last parameter ends with, so that the cut is seen.
ELLIPSIS = "…"

_FORBIDDEN = re.compile("[\0\r\n]")
_COMMAND = re.compile("[!-~]+")  # printable ASCII, no space
_TAG_ESCAPES = {";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"}
_TAG_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_TAG_KEY_FORBIDDEN = re.compile("[\0\r\n ;=]")


@dataclass(frozen=True, slots=True)
class IrcMessage:
    """One IRC message: its tags, its source, its command and its parameters.

    ``params`` holds every parameter, the trailing one included, without its
    colon; ``tags`` maps each key to its unescaped value ("" for a tag with
    none). A message that IRC could not carry (a space inside a middle
    parameter, a NUL anywhere, 16 parameters) cannot be made: the constructor
    raises :class:`UnsendableMessage`.
    """

    command: str
    params: Sequence[str] = ()
    source: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))
        object.__setattr__(self, "tags", MappingProxyType(dict(self.tags)))
        problem = _why_unsendable(self)
        if problem:
            raise UnsendableMessage(f"cannot send {self.command!r}: {problem}")

    def body_length(self) -> int:
        """Bytes of the line without tags and CRLF: at most :data:`MAX_BODY_BYTES` to send."""
        return utf8_length(self._body())

    def to_bytes(self) -> bytes:
        """The message as one line, CRLF included; UnsendableMessage if it is too long."""
        body = self._body().encode("utf-8")
        if len(body) > MAX_BODY_BYTES:
            raise UnsendableMessage(
                f"{self.command} is {len(body)} bytes without its tags; "
                f"IRC carries {MAX_BODY_BYTES} (cut the text first)"
            )
        if not self.tags:
            return body + b"\r\n"
        tags = ("@" + _serialise_tags(self.tags) + " ").encode("utf-8")
        if len(tags) > MAX_TAGS_BYTES:
            raise UnsendableMessage(f"{len(tags)} bytes of tags; IRC carries {MAX_TAGS_BYTES}")
        return tags + body + b"\r\n"

    def _body(self) -> str:
        parts = [f":{self.source}"] if self.source is not None else []
        parts.append(self.command)
        if self.params:
            *middle, last = self.params
            parts += middle
            parts.append(f":{last}" if _needs_colon(last) else last)
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Source:
    """A message's source split into its parts: ``nick!user@host``, user and host optional."""

    nick: str
    user: str | None = None
    host: str | None = None

    def __str__(self) -> str:
        user = f"!{self.user}" if self.user is not None else ""
        host = f"@{self.host}" if self.host is not None else ""
        return f"{self.nick}{user}{host}"


def parse_source(source: str) -> Source:
    """``coolguy!ag@127.0.0.1`` as its nick, user and host (a server name is all nick)."""
    before_at, at, host = source.partition("@")
    nick, bang, user = before_at.partition("!")
    return Source(nick, user if bang else None, host if at else None)


def line_splitter() -> LineSplitter:
    """A splitter for one IRC client's byte stream, at the longest line IRC lets it send.

    CRLF and a bare LF both end a line (modern IRC asks servers to take both).
    """
    return LineSplitter(MAX_CLIENT_LINE_BYTES)


def parse_message(line: bytes | str) -> IrcMessage:
    """One line from an IRC client as a message; an :class:`IrcProtocolError` if it is not one.

    The line may still end in CRLF or LF. The command comes upper-cased (a
    numeric stays as it is); parameters are separated by one space or more,
    as RFC 1459 has it; a tag given twice keeps its last value, and a tag
    with an empty key is ignored, as the message-tags specification asks.
    """
    text = _decode(line) if isinstance(line, bytes) else line
    text = text.removesuffix("\n").removesuffix("\r")
    if _FORBIDDEN.search(text):
        raise MalformedMessage(
            "an IRC line may not hold NUL, or CR before its end", command=_guess_command(text)
        )
    tags: dict[str, str] = {}
    if text.startswith("@"):
        raw_tags, space, text = text[1:].partition(" ")
        if not space or not text.strip(" "):
            raise MalformedMessage("that line has tags but no command")
        if utf8_length(raw_tags) > MAX_CLIENT_TAG_DATA_BYTES:
            raise InputTooLong(
                f"{utf8_length(raw_tags)} bytes of tags; a client may send "
                f"{MAX_CLIENT_TAG_DATA_BYTES}",
                command=_guess_command(text),
            )
        tags = _parse_tags(raw_tags)
    if utf8_length(text) > MAX_BODY_BYTES:
        raise InputTooLong(
            f"that line is {utf8_length(text)} bytes without tags; IRC carries {MAX_BODY_BYTES}",
            command=_guess_command(text),
        )
    words = text.lstrip(" ")
    if not words:
        raise EmptyMessage("an empty line")
    source: str | None = None
    if words.startswith(":"):
        source, _, words = words[1:].partition(" ")
        words = words.lstrip(" ")
        if not source or not words:
            raise MalformedMessage("that line has a source but no command")
    command, _, rest = words.partition(" ")
    if not _COMMAND.fullmatch(command):
        raise MalformedMessage("an IRC command is ASCII letters, or a three-digit numeric")
    command = command.upper()
    params = _split_params(rest)
    if len(params) > MAX_PARAMS:
        raise MalformedMessage(
            f"{len(params)} parameters; IRC allows {MAX_PARAMS}", command=command
        )
    return IrcMessage(command, params, source, tags)


def escape_tag_value(value: str) -> str:
    """A tag value as it travels: ``;``, space, backslash, CR and LF escaped."""
    return "".join(_TAG_ESCAPES.get(char, char) for char in value)


def unescape_tag_value(escaped: str) -> str:
    """A tag value as it travelled, read one character at a time.

    A backslash before any other character is dropped, and so is a lone one
    at the end (the message-tags specification's rules).
    """
    out: list[str] = []
    chars = iter(escaped)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        out.append(_TAG_UNESCAPES.get(following, following))
    return "".join(out)


def server_time(timestamp: float) -> str:
    """The ``time`` tag's value (server-time) for a Unix time: ``2026-12-01T16:55:04.123Z``."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def split_text_for_irc(text: str, *, source: str, command: str, target: str) -> list[str]:
    """``text`` cut into pieces, each of which fits ``:source COMMAND target :piece`` in 512 bytes.

    Cuts fall between characters, at a space when there is one near the end of
    a piece (that space is dropped), never inside a UTF-8 sequence and, as far
    as the standard library tells, not inside a grapheme cluster
    (:func:`tcpchat.core.textsplit.split_text`). ``text`` is one line: the
    caller sends each line of a longer text on its own. Tags do not count
    against the 512 bytes.
    """
    if _FORBIDDEN.search(text):
        raise UnsendableMessage("an IRC message text is one line, without NUL")
    room = MAX_BODY_BYTES - utf8_length(f":{source} {command} {target} :")
    if room < MIN_PIECE_BYTES:
        raise UnsendableMessage(f"no room for text after :{source} {command} {target}")
    return split_text(text, room)


def fit_last_param(message: IrcMessage) -> IrcMessage:
    """``message`` with its last parameter shortened (ending in "…") so that it fits one line.

    For texts a reader can do without the end of (a topic in ``332``, an away
    message in ``301``, the words of a numeric) when the line would otherwise
    be too long. A message that fits comes back as it is.
    """
    body = message.body_length()
    if body <= MAX_BODY_BYTES or not message.params:
        return message
    *middle, last = message.params
    room = utf8_length(last) - (body - MAX_BODY_BYTES) - utf8_length(ELLIPSIS)
    if room < 0:
        raise UnsendableMessage(f"{message.command} does not fit even without its last parameter")
    shortened = last.encode("utf-8")[:room].decode("utf-8", "ignore") + ELLIPSIS
    return IrcMessage(message.command, [*middle, shortened], message.source, message.tags)


def _why_unsendable(message: IrcMessage) -> str | None:
    if not _COMMAND.fullmatch(message.command) or message.command[0] in ":@":
        return "a command is printable ASCII without spaces"
    if len(message.params) > MAX_PARAMS:
        return f"{len(message.params)} parameters; IRC allows {MAX_PARAMS}"
    for position, param in enumerate(message.params, start=1):
        if _FORBIDDEN.search(param):
            return f"parameter {position} holds NUL, CR or LF"
        if position < len(message.params) and (not param or " " in param or param[0] == ":"):
            return f"parameter {position} is empty, has a space or starts with ':' before the last"
    if message.source is not None and (
        not message.source or " " in message.source or _FORBIDDEN.search(message.source)
    ):
        return "a source is one word, without NUL, CR or LF"
    for key, value in message.tags.items():
        if not key or _TAG_KEY_FORBIDDEN.search(key):
            return f"the tag key {key!r} is empty or holds a space, ';', '=', NUL, CR or LF"
        if "\0" in value:
            return f"the value of the tag {key!r} holds NUL"
    return None


def _needs_colon(last: str) -> bool:
    return not last or " " in last or last.startswith(":")


def _serialise_tags(tags: Mapping[str, str]) -> str:
    # The server's own tags first, then the client-only ("+") ones, as the
    # specification asks, so that a client's tags cannot push ours past the limit.
    ordered = sorted(tags.items(), key=lambda item: item[0].startswith("+"))
    return ";".join(f"{key}={escape_tag_value(value)}" if value else key for key, value in ordered)


def _parse_tags(raw: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        key, _, value = item.partition("=")
        if key:
            tags[key] = unescape_tag_value(value)
    return tags


def _split_params(rest: str) -> list[str]:
    params: list[str] = []
    rest = rest.lstrip(" ")
    while rest:
        if rest.startswith(":"):
            params.append(rest[1:])
            break
        param, _, rest = rest.partition(" ")
        params.append(param)
        rest = rest.lstrip(" ")
    return params


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        guess = _guess_command(line.decode("utf-8", "replace"))
        raise NotUtf8("this server carries UTF-8 only", command=guess) from None


def _guess_command(text: str) -> str | None:
    """The command of a line that cannot be parsed whole, when it can be told, for the reply."""
    words = text.split(" ")
    while words and (not words[0] or words[0][0] in "@:"):
        words.pop(0)
    if words and _COMMAND.fullmatch(words[0]):
        return words[0].upper()
    return None
