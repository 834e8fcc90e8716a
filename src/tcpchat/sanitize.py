"""Make remote text safe to show in a terminal.

Everything a user or the AI says passes through :func:`sanitize_text` on the
server before it is relayed, and again in the client before it is drawn. The
result is one line of printable text: no escape sequences, no control
characters, no bidi overrides or invisible format characters, and no towers of
combining marks. Text that may span lines (notices, errors, AI answers) goes
through :func:`sanitize_lines`, which keeps its line breaks.
"""

from __future__ import annotations

import re
import unicodedata

#: Longest run of combining marks kept after one base character. Enough for
#: Vietnamese, Hebrew points or Indic vowel signs; "Zalgo" text is cut short.
MAX_COMBINING_RUN = 4

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
# separators, private use, surrogates and unassigned code points.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})
_COMBINING_CATEGORIES = frozenset({"Mn", "Me"})


def sanitize_text(text: str) -> str:
    """Return ``text`` as one line that is safe to print in a terminal.

    Tab becomes a space; escape sequences, controls (C0, C1, DEL, a bare CR
    included) and the dropped categories are removed; runs of combining marks
    are cut to :data:`MAX_COMBINING_RUN`. The result is never longer than the
    input, and sanitising it again changes nothing.
    """
    if text.isascii() and text.isprintable():
        return text  # the common case: plain ASCII with nothing to remove
    text = _ESCAPE_SEQUENCE.sub("", text.replace("\t", " "))
    kept: list[str] = []
    combining_run = 0
    for char in text:
        category = unicodedata.category(char)
        if category in _DROPPED_CATEGORIES:
            continue
        if category in _COMBINING_CATEGORIES:
            combining_run += 1
            if combining_run > MAX_COMBINING_RUN:
                continue
        else:
            combining_run = 0
        kept.append(char)
    return "".join(kept)


def sanitize_lines(text: str) -> str:
    """``text`` made safe line by line: each line sanitised, line breaks kept."""
    return "\n".join(sanitize_text(line) for line in text.split("\n"))
