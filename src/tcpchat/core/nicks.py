"""Nickname rules: what a nickname may contain and when two are the same.

A nickname is 1 to :data:`MAX_NICK_LENGTH` characters of letters and digits of
any one script, plus ``_`` and ``-``; ASCII digits go with any script, other
digits belong to theirs. Two nicknames are the same when their :func:`nick_key`
is: NFKC-normalised and casefolded, so ``Bob``, ``bob`` and the full-width
``Ｂｏｂ`` are one person. Mixing scripts (Latin with Cyrillic, say) is refused
so that ``bob`` cannot be imitated by a lookalike letter or digit.

Two nicknames that look alike (all-Cyrillic ``аре`` and Latin ``ape``) share a
:func:`nick_skeleton`: the UTS #39 confusable skeleton of their key. The hub
refuses a nickname whose skeleton an online member already has, and
:func:`validate_nick` refuses one that looks like a reserved name. ASCII letters
and digits are never confused with each other there: ``b0b`` and ``bob`` are two
people, as on IRC.
"""

from __future__ import annotations

import unicodedata

from tcpchat.core.errors import InvalidNick, TcpchatError
from tcpchat.core.sanitize import MAX_COMBINING_RUN
from tcpchat.core.unicode_tables import CONFUSABLE_PROTOTYPES

MAX_NICK_LENGTH = 32

#: Nicknames that belong to tcpchat itself: the server's voice and the AI's.
AI_NICK = "AI"
RESERVED_NICKS = frozenset({"ai", "server", "system", "tcpchat"})

_PUNCTUATION = frozenset("_-")

# Letters and marks that draw nothing (Unicode's Default_Ignorable_Code_Point,
# less the format characters refused anyway): "bob" plus one of these would
# look exactly like "bob", and a nickname of fillers alone would be invisible.
_INVISIBLE = frozenset(
    [
        *(0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0),
        *range(0x180B, 0x1810),
        *range(0xFE00, 0xFE10),
        *range(0xE0100, 0xE01F0),
    ]
)
# Scripts that are written together: kana and kanji in Japanese, hangul and hanja in Korean.
_SCRIPT_FAMILIES = {
    "HIRAGANA": "CJK",
    "KATAKANA": "CJK",
    "HANGUL": "CJK",
    "BOPOMOFO": "CJK",
    "IDEOGRAPHIC": "CJK",
    "KATAKANA-HIRAGANA": "CJK",
    # Digits named otherwise than their script's letters.
    "ARABIC-INDIC": "ARABIC",
    "EXTENDED": "ARABIC",  # EXTENDED ARABIC-INDIC DIGIT: Persian and Urdu digits
}

# UTS #39 confusables.txt, reduced to lookalikes of ASCII letters and digits.
_PROTOTYPE_OF = {
    char: prototype for prototype, chars in CONFUSABLE_PROTOTYPES.items() for char in chars
}


def nick_key(nick: str) -> str:
    """The form under which nicknames are compared for uniqueness."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", nick).casefold())


def nick_skeleton(nick: str) -> str:
    """The form under which nicknames are compared for looking alike.

    UTS #39's skeleton of :func:`nick_key` (NFD, each character replaced by the
    ASCII letter it is confusable with, NFD again), casefolded once more. Only
    non-ASCII characters are replaced: ``0`` and ``o``, ``1`` and ``l`` stay apart.
    """
    return _skeleton(nick_key(nick), ascii_too=False).casefold()


def validate_nick(raw: str) -> str:
    """Return ``raw`` as a nickname (NFC-normalised), or raise :class:`InvalidNick`.

    The message of the exception says what is wrong, for the user.
    """
    nick = unicodedata.normalize("NFC", raw.strip())
    if not nick:
        raise InvalidNick("a nickname cannot be empty")
    if len(nick) > MAX_NICK_LENGTH:
        raise InvalidNick(f"a nickname is at most {MAX_NICK_LENGTH} characters long")
    check_characters(nick, "a nickname", InvalidNick)
    if nick_key(nick) in RESERVED_NICKS:
        raise InvalidNick(f"the nickname {nick!r} is reserved")
    if _looks_reserved(nick):
        raise InvalidNick(f"the nickname {nick!r} looks like a reserved name")
    return nick


def check_characters(name: str, noun: str, error: type[TcpchatError]) -> None:
    """Raise ``error`` unless ``name`` is letters and digits of one script, ``_`` and ``-``.

    The rule that nicknames and room names share; ``noun`` ("a nickname", "a room
    name") starts the sentence that says what is wrong.
    """
    marks_in_a_row = 0
    for position, char in enumerate(name):
        category = unicodedata.category(char)
        if category in ("Mn", "Mc") and position > 0 and ord(char) not in _INVISIBLE:
            # Vowel signs and accents that belong to the letter before, a few at most.
            marks_in_a_row += 1
            if marks_in_a_row > MAX_COMBINING_RUN:
                raise error(f"{noun} may not stack so many accents on one letter")
            continue
        marks_in_a_row = 0
        if char in _PUNCTUATION:
            continue
        if (category[0] == "L" or category == "Nd") and ord(char) not in _INVISIBLE:
            continue
        raise error(f"{noun} may hold only letters, digits, '_' and '-' (not {_describe(char)})")
    scripts = {_script_of(char) for char in unicodedata.normalize("NFKC", name)}
    scripts.discard(None)
    if len(scripts) > 1:
        names = " and ".join(sorted(s.title() for s in scripts if s))
        raise error(f"{noun} may not mix scripts ({names})")


def _skeleton(text: str, *, ascii_too: bool) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFD",
        "".join(
            char if char.isascii() and not ascii_too else _PROTOTYPE_OF.get(char, char)
            for char in decomposed
        ),
    )


def _written_skeleton(nick: str) -> str:
    """The skeleton of ``nick`` as written, ASCII lookalikes included (A1, Al and AI)."""
    return _skeleton(unicodedata.normalize("NFKC", nick), ascii_too=True)


_RESERVED_SKELETONS = frozenset(nick_skeleton(name) for name in RESERVED_NICKS)
# The reserved names as they are shown: "AI" is how the AI signs its answers.
_RESERVED_WRITTEN_SKELETONS = frozenset(
    _written_skeleton(spelling)
    for name in RESERVED_NICKS
    for spelling in (name, name.upper(), name.title())
)


def _looks_reserved(nick: str) -> bool:
    """Whether ``nick`` is a lookalike of a reserved name: Greek ΑΙ, Cyrillic АІ, Al."""
    return (
        nick_skeleton(nick) in _RESERVED_SKELETONS
        or _written_skeleton(nick) in _RESERVED_WRITTEN_SKELETONS
    )


def _script_of(char: str) -> str | None:
    """The script a letter or digit belongs to, from its Unicode name.

    None for marks, '_', '-' and the ASCII digits, which go with any script.
    (Other digits, MYANMAR DIGIT ZERO say, belong to theirs: ``b၀b`` mixes scripts.)
    """
    category = unicodedata.category(char)
    if char in _PUNCTUATION or not (category[0] == "L" or category == "Nd"):
        return None
    if char in "0123456789":
        return None
    word = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
    if word == "CJK":
        return "CJK"
    return _SCRIPT_FAMILIES.get(word, word)


def _describe(char: str) -> str:
    if char.isspace():
        return "whitespace"
    if char.isprintable() and ord(char) not in _INVISIBLE:
        return repr(char)
    return f"U+{ord(char):04X}"
