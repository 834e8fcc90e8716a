"""Nickname rules, with plain calls."""

from __future__ import annotations

import re

import pytest

from tcpchat.core.errors import InvalidNick
from tcpchat.core.nicks import MAX_NICK_LENGTH, nick_key, nick_skeleton, validate_nick


@pytest.mark.parametrize(
    "nick",
    [
        *("alice", "Bob_2", "x", "a-b", "Ünal", "Дмитрий", "小明", "さくら", "山田さくら", "नमस्ते"),
        *("al", "AL", "Alice", "bob1", "Дима2", "१२३", "علی۱", "٣٣", "\U0001d7cfbob"),
    ],
)
def test_valid_nicknames(nick: str) -> None:
    """Letters and digits of any one script, '_' and '-' make a nickname."""
    assert validate_nick(nick) == nick


def test_surrounding_whitespace_is_trimmed() -> None:
    """Whitespace around a nickname is not part of it."""
    assert validate_nick("  alice ") == "alice"


@pytest.mark.parametrize(
    ("nick", "reason"),
    [
        ("", "empty"),
        ("a" * (MAX_NICK_LENGTH + 1), "at most 32"),
        ("al ice", "whitespace"),
        ("alice!", "'!'"),
        ("ali\x1bce", "U+001B"),
        ("ali\u200bce", "U+200B"),
        ("\u202eecila", "U+202E"),
        ("bоb", "mix scripts"),  # the middle letter is Cyrillic
        ("bob\u034f", "U+034F"),
        ("bob\ufe0f", "U+FE0F"),
        ("\u3164", "U+3164"),
        ("\u115fbob", "U+115F"),
        ("a" + "\u0301" * 6, "so many accents"),  # NFC folds the first into á
        ("AI", "reserved"),
        ("server", "reserved"),
        ("ｓｅｒｖｅｒ", "reserved"),
        ("b\u1040b", "mix scripts (Latin and Myanmar)"),  # MYANMAR DIGIT ZERO
        ("bob\u0661", "mix scripts (Arabic and Latin)"),  # ARABIC-INDIC DIGIT ONE
        ("ali\u06f1", "mix scripts (Arabic and Latin)"),  # EXTENDED ARABIC-INDIC DIGIT ONE
        ("alice\u096b", "mix scripts (Devanagari and Latin)"),
        ("\u0391\u0399", "looks like a reserved name"),  # Greek capital alpha and iota
        ("\u03b1\u03b9", "looks like a reserved name"),  # Greek small alpha and iota
        ("\u0410\u0406", "looks like a reserved name"),  # Cyrillic А and І
        ("Al", "looks like a reserved name"),
        ("A1", "looks like a reserved name"),
        ("\u0422\u0421\u0420\u0421\u041d\u0410\u0422", "looks like a reserved name"),
    ],
)
def test_invalid_nicknames(nick: str, reason: str) -> None:
    """Bad nicknames are refused with a reason a person can act on."""
    with pytest.raises(InvalidNick, match=re.escape(reason)):
        validate_nick(nick)


def test_longest_nickname_is_accepted() -> None:
    """Exactly MAX_NICK_LENGTH characters is allowed."""
    assert validate_nick("a" * MAX_NICK_LENGTH) == "a" * MAX_NICK_LENGTH


def test_keys_ignore_case() -> None:
    """Bob and bob are the same nickname."""
    assert nick_key("Bob") == nick_key("bob") == nick_key("BOB")


def test_keys_apply_nfkc() -> None:
    """Full-width and composed forms are the same nickname as the plain one."""
    assert nick_key("ａｌｉｃｅ") == nick_key("alice")
    assert nick_key("e\u0301mile") == nick_key("émile")


def test_keys_casefold_beyond_lower() -> None:
    """Casefolding treats ß and SS alike, as lower() would not."""
    assert nick_key("STRASSE") == nick_key("straße")


def test_combining_mark_cannot_start_a_nickname() -> None:
    """A nickname cannot open with a combining mark."""
    with pytest.raises(InvalidNick):
        validate_nick("\u0301abc")


def test_lookalikes_share_a_skeleton() -> None:
    """All-Cyrillic аре looks like Latin ape, in any case."""
    assert nick_skeleton("\u0430\u0440\u0435") == nick_skeleton("ape") == nick_skeleton("APE")


def test_ascii_digits_and_letters_stay_apart() -> None:
    """b0b and bob, bi11 and bill are different people, as on IRC."""
    assert nick_skeleton("b0b") != nick_skeleton("bob")
    assert nick_skeleton("bi11") != nick_skeleton("bill")


def test_skeletons_extend_keys() -> None:
    """Nicknames that are the same are also alike."""
    assert nick_skeleton("Ｂｏｂ") == nick_skeleton("bob")
