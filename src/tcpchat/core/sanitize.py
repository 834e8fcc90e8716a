"""Make remote text safe to show in a terminal.

Everything a user or the AI says passes through :func:`sanitize_text` on the
server before it is relayed, and again in the client before it is drawn. The
result is one line of printable text: no escape sequences, no control
characters, no bidi overrides or invisible format characters, and no towers of
combining marks. Text that may span lines (notices, errors, AI answers) goes
through :func:`sanitize_lines`, which keeps its line breaks.

A few invisible characters are part of how text is written, and are kept where
they do that work and nowhere else (:func:`_joiner_fits`, :func:`_takes_selector`):

- ZERO WIDTH JOINER between two emoji (👩‍💻, 👨‍👩‍👧, 🏳️‍🌈), and ZERO WIDTH
  JOINER or NON-JOINER after a virama (Devanagari, Bengali, Sinhala...), as
  RFC 8264's CONTEXTJ rules and Unicode's emoji ZWJ sequences allow;
- ZERO WIDTH NON-JOINER between two letters that would otherwise join (Persian
  ``می‌خواهم``, by the Arabic joining rules);
- a variation selector directly after a character that takes one: U+FE0E and
  U+FE0F after an emoji or a keycap digit, the others after a letter, digit or
  symbol (mathematical and CJK variants);
- the tag characters of the three subdivision flags Unicode recommends
  (England, Scotland, Wales), right after their black flag. Any other tag
  sequence is dropped whole: tags are invisible, and a free one could smuggle
  hidden text to a reader or to the AI.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterator

from tcpchat.core.unicode_tables import (
    COMBINING_BMP_CLASS,
    DROPPED_BMP_CLASS,
    EXTENDED_PICTOGRAPHIC,
    JOINS_FOLLOWING,
    JOINS_PRECEDING,
)

#: Longest run of combining marks kept after one base character. Enough for
#: Vietnamese, Hebrew points or Indic vowel signs; "Zalgo" text is cut short.
MAX_COMBINING_RUN = 4

ZERO_WIDTH_NON_JOINER = "\u200c"
ZERO_WIDTH_JOINER = "\u200d"
TEXT_PRESENTATION = "\ufe0e"  # VS15: draw the character before as text
EMOJI_PRESENTATION = "\ufe0f"  # VS16: draw the character before as an emoji

# A whole escape sequence goes, not only its ESC, so that no "[31m" debris is left.
_ESCAPE_SEQUENCE = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]?          # CSI: colours, cursor moves, erase
    | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?  # OSC: window title, clipboard, hyperlinks
    | \x1b[PX^_][^\x1b]*(?:\x1b\\)?       # DCS, SOS, PM, APC strings
    | \x1b[NO][0-9;]*[ -~]?              # SS2, SS3: keypad and arrow keys (ESC O A)
    | \x1b[ -/]*[0-~]?                  # any other escape
    """,
    re.VERBOSE,
)

# Categories that never reach a terminal: controls, format characters (bidi
# overrides and isolates, zero-width characters, tags), line and paragraph
# separators, private use, surrogates and unassigned code points. The joiners
# and the flag tags are the only format characters kept, and only in context.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})
_COMBINING_CATEGORIES = frozenset({"Mn", "Me"})

# Text that matches neither pattern is already clean, as checked at C speed. The
# classes cover the BMP (re tests a class that reaches past it range by range, a
# hundred times slower), so characters beyond it (emoji...) are looked at one by
# one. The variation selectors are combining marks, so _NEEDS_A_LOOK finds them.
_ASTRAL = "\U00010000-\U0010ffff"
_DROPPED_OR_SELECTOR = re.compile(f"[{DROPPED_BMP_CLASS}\ufe00-\ufe0f{_ASTRAL}]")
_LONG_COMBINING_RUN = re.compile(f"[{COMBINING_BMP_CLASS}]{{{MAX_COMBINING_RUN + 1}}}")
_NEEDS_A_LOOK = re.compile(f"[{DROPPED_BMP_CLASS}{COMBINING_BMP_CLASS}{_ASTRAL}]")

_JOINERS = frozenset({ZERO_WIDTH_NON_JOINER, ZERO_WIDTH_JOINER})
_EMOJI_SELECTORS = frozenset({TEXT_PRESENTATION, EMOJI_PRESENTATION})
_VARIATION_SELECTORS = frozenset(
    chr(point) for point in (*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0))
)
_KEYCAP_BASES = frozenset("#*0123456789")
_SKIN_TONES = frozenset(chr(point) for point in range(0x1F3FB, 0x1F400))
_VIRAMA = 9  # canonical combining class of a virama (halant, pulli, al-lakuna...)
_BLACK_FLAG = "\U0001f3f4"


def _tags(letters: str) -> str:
    return "".join(chr(0xE0000 + ord(letter)) for letter in letters) + "\U000e007f"


#: The tag sequences (tag letters, then CANCEL TAG) kept after a black flag: the
#: subdivision flags of Unicode's recommended emoji set.
SUBDIVISION_FLAG_TAGS = (_tags("gbeng"), _tags("gbsct"), _tags("gbwls"))


def sanitize_text(text: str) -> str:
    """Return ``text`` as one line that is safe to print in a terminal.

    Tab becomes a space; escape sequences, controls (C0, C1, DEL, a bare CR
    included) and the dropped categories are removed, except for the joiners
    and flag tags that sit where they do their work; stray variation selectors
    go; runs of combining marks are cut to :data:`MAX_COMBINING_RUN`. The result
    is never longer than the input, and sanitising it again changes nothing.
    """
    if text.isascii() and text.isprintable():
        return text  # the common case: plain ASCII with nothing to remove
    if "\x1b" in text or "\t" in text:
        text = _ESCAPE_SEQUENCE.sub("", text.replace("\t", " "))
    if _DROPPED_OR_SELECTOR.search(text) is None and _LONG_COMBINING_RUN.search(text) is None:
        return text  # letters, marks, digits, symbols and spaces of any script
    kept: list[str] = []  # whole stretches of text that need no decision, and single characters
    combining_run = 0
    copied_up_to = skip_up_to = 0
    for found in _NEEDS_A_LOOK.finditer(text):
        position = found.start()
        if position < skip_up_to:
            continue  # a flag's tags, kept with it
        if position > copied_up_to:
            kept.append(text[copied_up_to:position])
            combining_run = 0
        copied_up_to = position + 1
        char = text[position]
        category = unicodedata.category(char)
        if category in _DROPPED_CATEGORIES:
            if char in _JOINERS and _joiner_fits(char, kept, text, position + 1):
                kept.append(char)
                combining_run = 0
            elif kept and kept[-1][-1] == _BLACK_FLAG and (tags := _flag_tags(text, position)):
                kept.append(tags)
                skip_up_to = copied_up_to = position + len(tags)
            continue
        if category not in _COMBINING_CATEGORIES:  # a letter or symbol beyond the BMP
            kept.append(char)
            combining_run = 0
            continue
        if char in _VARIATION_SELECTORS and (
            combining_run or not kept or not _takes_selector(kept[-1][-1], char)
        ):
            continue
        combining_run += 1
        if combining_run <= MAX_COMBINING_RUN:
            kept.append(char)
    kept.append(text[copied_up_to:])
    return "".join(kept)


def sanitize_lines(text: str) -> str:
    """``text`` made safe line by line: each line sanitised, line breaks kept."""
    return "\n".join(sanitize_text(line) for line in text.split("\n"))


def _flag_tags(text: str, start: int) -> str:
    """The tags of a recommended subdivision flag at ``text[start:]``, or nothing."""
    return next((tags for tags in SUBDIVISION_FLAG_TAGS if text.startswith(tags, start)), "")


def _kept_backwards(kept: list[str]) -> Iterator[str]:
    return (char for stretch in reversed(kept) for char in reversed(stretch))


def _ends_an_emoji(kept: list[str]) -> bool:
    """Whether ``kept`` ends with an emoji, maybe with VS16 and a skin tone after it."""
    last = kept[-1][-1]
    if last != EMOJI_PRESENTATION and last not in _SKIN_TONES:
        return _is_pictographic(last)  # the usual case, decided without a walk back
    for char in _kept_backwards(kept):
        if char != EMOJI_PRESENTATION and char not in _SKIN_TONES:
            return _is_pictographic(char)
    return False


def _joiner_fits(joiner: str, kept: list[str], text: str, after: int) -> bool:
    """Whether ``joiner`` does its work between ``kept`` and ``text[after:]``.

    The character after it is a letter or an emoji, which is always kept: so the
    joiner is decided the same way when the result is sanitised again.
    """
    following = text[after] if after < len(text) else ""
    if not kept or not following:
        return False
    if unicodedata.combining(kept[-1][-1]) == _VIRAMA and unicodedata.category(following)[0] == "L":
        return True  # a conjunct, half form or explicit virama in an Indic script
    if joiner == ZERO_WIDTH_JOINER:
        return (
            _ends_an_emoji(kept)
            and _is_pictographic(following)
            and unicodedata.category(following) != "Cn"
        )
    # RFC 8264 A.1: a joining letter, transparent marks, ZWNJ, marks, a joining letter.
    before = next(
        (c for c in _kept_backwards(kept) if unicodedata.category(c) not in _COMBINING_CATEGORIES),
        "",
    )
    if not before or not _in_ranges(ord(before), _JOINS_FOLLOWING):
        return False
    for char in text[after:]:
        category = unicodedata.category(char)
        if char in _JOINERS or not (
            category in _COMBINING_CATEGORIES or category in _DROPPED_CATEGORIES
        ):
            return char not in _JOINERS and _in_ranges(ord(char), _JOINS_PRECEDING)
    return False


def _takes_selector(base: str, selector: str) -> bool:
    """Whether ``selector`` may follow ``base``: VS15/VS16 an emoji, the others a letter."""
    if selector in _EMOJI_SELECTORS:
        return base in _KEYCAP_BASES or _is_pictographic(base)
    return unicodedata.category(base)[0] in "LNS"


def _ranges_index(ranges: tuple[tuple[int, int], ...]) -> tuple[list[int], list[int]]:
    return [first for first, _ in ranges], [last for _, last in ranges]


_PICTOGRAPHIC = _ranges_index(EXTENDED_PICTOGRAPHIC)
_JOINS_FOLLOWING = _ranges_index(JOINS_FOLLOWING)
_JOINS_PRECEDING = _ranges_index(JOINS_PRECEDING)


def _in_ranges(point: int, index: tuple[list[int], list[int]]) -> bool:
    firsts, lasts = index
    slot = bisect.bisect_right(firsts, point) - 1
    return slot >= 0 and point <= lasts[slot]


def _is_pictographic(char: str) -> bool:
    """Whether ``char`` is Extended_Pictographic: an emoji, or kept for one."""
    return char > "\u00a8" and _in_ranges(ord(char), _PICTOGRAPHIC)
