"""The sanitiser: what remote text may and may not carry to a terminal."""

from __future__ import annotations

import pytest

from tcpchat.sanitize import MAX_COMBINING_RUN, sanitize_lines, sanitize_text


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
