"""The sanitiser: what remote text may and may not carry to a terminal."""

from __future__ import annotations

import re
import unicodedata

import pytest

from tcpchat.core.sanitize import MAX_COMBINING_RUN, sanitize_lines, sanitize_text
from tcpchat.core.unicode_tables import (
    COMBINING_BMP_CLASS,
    DROPPED_BMP_CLASS,
    EXTENDED_PICTOGRAPHIC,
)

ZWJ, ZWNJ, VS16, VS15 = "\u200d", "\u200c", "\ufe0f", "\ufe0e"
SCOTLAND = "\U0001f3f4" + "".join(chr(0xE0000 + ord(c)) for c in "gbsct") + "\U000e007f"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("hello world", "hello world"),
        ("tab\there", "tab here"),
        ("red \x1b[31mtext\x1b[0m", "red text"),
        ("title \x1b]0;pwned\x07after", "title after"),
        ("title \x1b]2;pwned\x1b\\after", "title after"),
        ("clip \x1b]52;c;aGVsbG8=\x07board", "clip board"),
        ("bell\x07 del\x7f nul\x00", "bell del nul"),
        ("over\rwrite", "overwrite"),
        ("two\nlines", "twolines"),
        ("c1 \x9b31m csi", "c1 31m csi"),
        ("up \x1bOAarrow", "up arrow"),
        ("keypad \x1bO2Pkey", "keypad key"),
        ("rtl \u202eevil\u202c", "rtl evil"),
        ("iso\u2066late\u2069", "isolate"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("tag\U000e0041s", "tags"),
        ("sep\u2028ara\u2029tor", "separator"),
        ("private\ue000use", "privateuse"),
        ("unassigned\U000effff", "unassigned"),
        ("café ☃ 日本語", "café ☃ 日本語"),
    ],
)
def test_sanitize(raw: str, clean: str) -> None:
    """Controls, escapes and invisible format characters go; ordinary text stays."""
    assert sanitize_text(raw) == clean


@pytest.mark.parametrize(
    "kept",
    [
        f"family 👨{ZWJ}👩{ZWJ}👧",
        f"👩{ZWJ}💻 at work",
        f"🏳{VS16}{ZWJ}🌈",
        f"👩🏽{ZWJ}💻 and 🧑🏿{ZWJ}🤝{ZWJ}🧑🏻",
        f"❤{VS16}{ZWJ}🔥",
        f"❤{VS16} ☺{VS15} 1{VS16}\u20e3 #{VS16}\u20e3",
        f"من می{ZWNJ}خواهم کتاب{ZWNJ}ها",  # Persian: "I want", "books"
        f"क्{ZWJ}ष क्{ZWNJ}ष",  # Devanagari half form and explicit virama
        f"ශ්{ZWJ}රී",  # Sinhala, the rakaransaya
        f"flag {SCOTLAND}!",
        "葛\U000e0100城",  # an ideographic variation sequence
    ],
)
def test_joiners_and_selectors_are_kept_where_they_do_their_work(kept: str) -> None:
    """Emoji ZWJ sequences, Persian and Indic joiners, selectors and flag tags survive."""
    assert sanitize_text(kept) == kept


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (f"{ZWJ}👩", "👩"),
        (f"👩{ZWJ}", "👩"),
        (f"a{ZWJ}b", "ab"),
        (f"a{ZWNJ}b", "ab"),
        (f"👩{ZWJ}{ZWJ}{ZWJ}💻", f"👩{ZWJ}💻"),
        (f"👩{ZWJ} 💻", "👩 💻"),
        (f"ب{ZWNJ}{ZWNJ}ه", f"ب{ZWNJ}ه"),
        (f"ر{ZWNJ}ه", "ره"),  # REH joins nothing after it: the non-joiner has no work
        (f"ب{ZWNJ}", "ب"),
        (f"क्{ZWJ}", "क्"),
        (f"bob{VS16}", "bob"),
        (f"{VS16}start", "start"),
        (f"❤{VS16}{VS16}", f"❤{VS16}"),
        ("a\ufe00", "a\ufe00"),  # other selectors follow any letter...
        ("a\u0301\ufe00", "a\u0301"),  # ...but never a mark
        ("🏴\U000e0061\U000e0062\U000e0063\U000e007f!", "🏴!"),  # not a recommended flag
        ("x\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", "x"),
    ],
)
def test_joiners_and_selectors_go_everywhere_else(raw: str, clean: str) -> None:
    """Leading, trailing, doubled or misplaced joiners, stray selectors and tags are removed."""
    assert sanitize_text(raw) == clean


def test_combining_runs_are_capped() -> None:
    """A tower of combining marks is cut to MAX_COMBINING_RUN after its base letter."""
    zalgo = "a" + "\u0301" * 50 + "b"
    assert sanitize_text(zalgo) == "a" + "\u0301" * MAX_COMBINING_RUN + "b"


def test_sanitizing_twice_changes_nothing() -> None:
    """Sanitising is idempotent, even where a removed character joined two mark runs."""
    tricky = "a" + "\u0301" * 3 + "\u200b" + "\u0301" * 3 + "\x1b[1m"
    once = sanitize_text(tricky)
    assert sanitize_text(once) == once


def test_output_never_grows() -> None:
    """The result is never longer than the input."""
    raw = "\t" * 10 + "x\x1b[2Jy"
    assert len(sanitize_text(raw)) <= len(raw)


def test_sanitize_lines_keeps_line_breaks() -> None:
    """Multi-line text is sanitised line by line; only its line breaks survive."""
    raw = "one \x1b[31mred\x1b[0m\n\ttwo\r\n\n\u202ethree"
    assert sanitize_lines(raw) == "one red\n two\n\nthree"


@pytest.mark.parametrize(
    ("table", "categories"),
    [
        (DROPPED_BMP_CLASS, {"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"}),
        (COMBINING_BMP_CLASS, {"Mn", "Me"}),
    ],
)
def test_category_tables_match_this_python(table: str, categories: set[str]) -> None:
    """The generated classes hold exactly the BMP characters of their categories here.

    If this fails, Python's Unicode version changed: rerun tools/unicode_tables.py.
    """
    pattern = re.compile(f"[{table}]")
    for point in range(0x10000):
        char = chr(point)
        assert (pattern.match(char) is not None) == (unicodedata.category(char) in categories), (
            f"U+{point:04X}"
        )


def test_pictographic_ranges_are_sorted_and_hold_the_emoji() -> None:
    """The Extended_Pictographic ranges are ordered and cover emoji old and new."""
    firsts = [first for first, _ in EXTENDED_PICTOGRAPHIC]
    assert firsts == sorted(firsts)
    assert all(first <= last for first, last in EXTENDED_PICTOGRAPHIC)
    covered = {p for first, last in EXTENDED_PICTOGRAPHIC for p in range(first, last + 1)}
    assert {0x00A9, 0x2764, 0x1F600, 0x1F469, 0x1F4BB, 0x1FAE0} <= covered
    assert not {ord("a"), ord("#"), 0x1F3FB, 0x1F1E6} & covered  # skin tones and regions are not
