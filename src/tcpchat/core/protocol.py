"""The wire protocol's input side, with no I/O: bytes in, lines and commands out.

The wire format is UTF-8 lines. The server accepts ``\\n`` and ``\\r\\n`` and sends
``\\n``. :class:`LineSplitter` cuts a byte stream into lines under a hard size
limit; :func:`decode_line` and :func:`parse_input` turn one line into what the
user meant: nothing, a chat message, or a command (:func:`parse_received`
does so for a line from the network, on its cleaned text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tcpchat.core.errors import InvalidEncoding, LineTooLong
from tcpchat.core.sanitize import sanitize_text

#: Default longest line, in bytes without its line ending.
DEFAULT_MAX_LINE_BYTES = 4096

#: The opening line with which a client asks for the JSON-lines rendering.
JSON_OPENING_LINE = "/format json"

_HTTP_REQUEST_LINE = re.compile(rb"^[A-Z]{3,7} \S+ HTTP/\d(?:\.\d)?\r?$")


class LineSplitter:
    """Cut a byte stream into lines, never holding more than one line's worth.

    A line longer than ``max_line_bytes`` is discarded whole, up to and
    including its newline, however many chunks it spans, and reported once as
    a :class:`LineTooLong` in its place. No part of it is ever handed out as a
    line. (``asyncio.StreamReader.readline()`` instead clears its buffer on
    overflow, so the tail of an overlong line would come back as a new line.)
    """

    __slots__ = ("_discarding", "_partial", "max_line_bytes")  # one per connection

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self.max_line_bytes = max_line_bytes
        self._partial = bytearray()
        self._discarding = False

    @property
    def buffered(self) -> int:
        """Bytes held for a line whose newline has not arrived yet."""
        return len(self._partial)

    def feed(self, data: bytes) -> list[bytes | LineTooLong]:
        """Take the next chunk of the stream; return the lines it completed, in order.

        Lines come without their ``\\n`` or ``\\r\\n``.
        """
        pieces = data.split(b"\n")
        tail = pieces.pop()  # what follows the last newline: an unfinished line
        items: list[bytes | LineTooLong] = []
        for piece in pieces:
            if self._discarding:
                self._discarding = False
                items.append(self._too_long())
                continue
            if self._partial:
                self._partial += piece
                line = bytes(self._partial)
                self._partial.clear()
            else:
                line = piece
            if line.endswith(b"\r"):
                line = line[:-1]
            items.append(line if len(line) <= self.max_line_bytes else self._too_long())
        if tail and not self._discarding:
            # One byte of slack for the \r of a \r\n that is still on its way.
            if len(self._partial) + len(tail) > self.max_line_bytes + 1:
                self._partial.clear()
                self._discarding = True
            else:
                self._partial += tail
        return items

    def _too_long(self) -> LineTooLong:
        return line_too_long(self.max_line_bytes)


def line_too_long(max_line_bytes: int) -> LineTooLong:
    """What a line over ``max_line_bytes`` gets, whatever door it came through."""
    return LineTooLong(f"line too long (the limit is {max_line_bytes} bytes); discarded")


def decode_line(raw: bytes) -> str:
    """Decode one line of UTF-8, or raise :class:`InvalidEncoding`."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEncoding("that line was not valid UTF-8; it was not sent") from None


@dataclass(frozen=True, slots=True)
class ChatInput:
    """A line the user meant as a chat message."""

    text: str


@dataclass(frozen=True, slots=True)
class CommandInput:
    """A line that names a command: ``/name argument``. The name is lower-cased."""

    name: str
    argument: str


def parse_input(line: str) -> ChatInput | CommandInput | None:
    """What one decoded line means: None for a blank line, a chat message or a command.

    A line that starts with ``//`` is a chat message that starts with ``/``.
    """
    line = line.rstrip()
    if not line.strip():
        return None
    if line.startswith("//"):
        return ChatInput(line[1:])
    if line.startswith("/"):
        name, _, argument = line[1:].partition(" ")
        return CommandInput(name.lower(), argument.strip())
    return ChatInput(line)


def parse_received(line: str) -> ChatInput | CommandInput | None:
    """What a line from a remote user means, judged on its cleaned text.

    Control characters and escape sequences go first, then the line is parsed:
    ``nc`` sends what the user's keys made, so ``^L/quit`` or an arrow key's
    ``ESC [ A`` before ``/msg alice secret`` is that command, not a chat line
    that happens to show ``/msg alice secret`` to the whole room.
    """
    return parse_input(sanitize_text(line))


def looks_like_http(first_line: bytes) -> bool:
    """Whether a connection's first line is an HTTP request line (a browser, a scanner)."""
    return _HTTP_REQUEST_LINE.match(first_line) is not None


def looks_like_tls(first_bytes: bytes) -> bool:
    """Whether a connection opened with a TLS handshake record (a ClientHello)."""
    return len(first_bytes) >= 3 and first_bytes[0] == 0x16 and first_bytes[1] == 0x03
