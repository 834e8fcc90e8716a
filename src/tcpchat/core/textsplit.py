"""Cutting a text into pieces of at most so many UTF-8 bytes, between characters, with no I/O.

Both ends of every protocol need this: the terminal client cuts an overlong
typed message into lines the server accepts (:mod:`tcpchat.client.linesplit`),
and the IRC front door cuts a message too long for one IRC line
(:mod:`tcpchat.irc.message`). A cut is:

* never inside a UTF-8 sequence (it is between characters);
* preferably at a space, when there is one in the last half of the piece
  (that one space is dropped, as a line break takes its place);
* otherwise not inside a grapheme cluster as far as the standard library can
  tell: not before a combining mark, a variation selector, an emoji skin tone,
  a zero-width joiner or what it joins, or the second of a flag's two letters.
"""

from __future__ import annotations

import unicodedata

#: A space is a good place to cut when it is in the last this-much of a piece;
#: an earlier one would leave pieces much shorter than they need be.
SPACE_SEARCH_FRACTION = 0.5

#: The fewest bytes a piece may be given: room for any one character.
MIN_PIECE_BYTES = 4

_ZWJ = "\u200d"
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)


def utf8_length(text: str) -> int:
    """How many bytes ``text`` takes on the wire."""
    return len(text.encode("utf-8", errors="replace"))


def split_text(text: str, max_bytes: int) -> list[str]:
    """``text`` cut into non-blank pieces of at most ``max_bytes`` UTF-8 bytes.

    A cut at a space drops that one space; no other character is lost.
    """
    if max_bytes < MIN_PIECE_BYTES:
        raise ValueError(f"max_bytes must leave room for any character ({MIN_PIECE_BYTES} bytes)")
    pieces: list[str] = []
    rest = text
    while utf8_length(rest) > max_bytes:
        end = _longest_prefix(rest, max_bytes)
        space = rest.rfind(" ", int(end * SPACE_SEARCH_FRACTION), end + 1)
        if space > 0:
            piece, rest = rest[:space], rest[space + 1 :]
        else:
            cut = end
            while cut > 0 and _continues_cluster(rest, cut):
                cut -= 1
            cut = cut or end  # one cluster longer than a line: cut it anyway
            piece, rest = rest[:cut], rest[cut:]
        if piece.strip():
            pieces.append(piece)
    if rest.strip():
        pieces.append(rest)
    return pieces


def _longest_prefix(text: str, max_bytes: int) -> int:
    """How many characters of ``text`` fit in ``max_bytes`` bytes."""
    used = 0
    for index, char in enumerate(text):
        used += utf8_length(char)
        if used > max_bytes:
            return index
    return len(text)


def _continues_cluster(text: str, index: int) -> bool:
    """Whether ``text[index]`` belongs to the grapheme cluster before it (an approximation)."""
    char, before = text[index], text[index - 1]
    code = ord(char)
    if unicodedata.category(char) in {"Mn", "Me", "Mc"}:
        return True  # combining accents, vowel signs
    if 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:
        return True  # variation selectors, skin tones, emoji tag sequences
    if _ZWJ in (char, before):
        return True
    if code in _REGIONAL_INDICATORS and ord(before) in _REGIONAL_INDICATORS:
        # A flag is a pair of regional indicators: cut only between pairs.
        run = 0
        while index - run - 1 >= 0 and ord(text[index - run - 1]) in _REGIONAL_INDICATORS:
            run += 1
        return run % 2 == 1
    return False
