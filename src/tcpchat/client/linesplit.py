"""Cutting a typed line that is too long for the server into lines it accepts, with no I/O.

The server discards a line longer than its limit (``--max-line-bytes``, which
its welcome tells the client) whole. The client cuts an overlong chat message,
``/me`` action or ``/msg`` into several lines instead, each one complete in
itself and under the limit, cut where :mod:`tcpchat.core.textsplit` chooses:
between characters, preferably at a space, and not inside a grapheme cluster.

Each piece keeps its command (``/me``, ``/msg NICK``), and a piece of a chat
message that starts with ``/`` is escaped as ``//``. Other commands cannot be
cut without changing what they mean, so an overlong one is refused.
"""

from __future__ import annotations

from tcpchat.core.protocol import ChatInput, CommandInput, parse_input
from tcpchat.core.textsplit import split_text, utf8_length

__all__ = ["fit_line", "split_text", "utf8_length"]


def fit_line(line: str, max_bytes: int) -> list[str] | None:
    """``line`` as lines of at most ``max_bytes`` bytes each, meaning the same together.

    A line that fits comes back alone. An overlong chat message, ``/me`` or
    ``/msg`` comes back cut into several; any other overlong command gives None.
    """
    if utf8_length(line) <= max_bytes:
        return [line]
    parsed = parse_input(line)
    if isinstance(parsed, ChatInput):
        # One byte of room for the "/" that escapes a piece starting with "/".
        pieces = split_text(parsed.text, max_bytes - 1)
        return ["/" + piece if piece.startswith("/") else piece for piece in pieces]
    if isinstance(parsed, CommandInput) and parsed.name == "me":
        return _with_prefix("/me ", parsed.argument, max_bytes)
    if isinstance(parsed, CommandInput) and parsed.name == "msg":
        nick, _, text = parsed.argument.partition(" ")
        if nick and text.strip():
            return _with_prefix(f"/msg {nick} ", text, max_bytes)
    return None


def _with_prefix(prefix: str, text: str, max_bytes: int) -> list[str] | None:
    room = max_bytes - utf8_length(prefix)
    if room < 1:
        return None
    return [prefix + piece for piece in split_text(text, room)]
