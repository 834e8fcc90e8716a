"""``/find``'s words matched against a line in Python, as SQLite's FTS5 matches them.

A backend with no full-text index (Redis) reads a room's newest lines and
keeps those that match. The words mean what they mean to the SQLite backend
(:mod:`tcpchat.store.fts` parses them, and says what a user can type): a line
matches when every wanted term is in it and no left-out one is. Texts are split
into words as FTS5's ``unicode61`` tokenizer with ``remove_diacritics 2`` splits
them: a word is a run of letters, digits and private-use characters; case and
accents are ignored. A phrase's words must follow each other; a ``*`` makes the
last of them a prefix.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from tcpchat.core.errors import CommandError
from tcpchat.store.fts import MAX_FIND_TERMS, Term, find_terms

#: A word: a run of letters and digits (``\w`` but ``_``: categories L and N) and
#: private-use characters (Co), the characters FTS5's ``unicode61`` makes words of.
_WORD = re.compile(r"(?:[^\W_]|[\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd])+")


@dataclass(frozen=True, slots=True)
class _Phrase:
    words: tuple[str, ...]
    prefix: bool

    def found_in(self, words: Sequence[str]) -> bool:
        size = len(self.words)
        for start in range(len(words) - size + 1):
            if all(words[start + n] == self.words[n] for n in range(size - 1)):
                last = words[start + size - 1]
                wanted = self.words[-1]
                if last == wanted or (self.prefix and last.startswith(wanted)):
                    return True
        return False


@dataclass(frozen=True, slots=True)
class Matcher:
    """A ``/find`` line, ready to test lines with :meth:`matches`."""

    wanted: tuple[_Phrase, ...]
    unwanted: tuple[_Phrase, ...]

    def matches(self, text: str) -> bool:
        """Whether ``text`` holds every wanted term and no left-out one."""
        words = split_words(text)
        return all(p.found_in(words) for p in self.wanted) and not any(
            p.found_in(words) for p in self.unwanted
        )


def matcher(words: str) -> Matcher:
    """The matcher for a ``/find`` line; CommandError (words for the user) as for FTS5."""
    terms = find_terms(words)
    if len(terms) > MAX_FIND_TERMS:
        raise CommandError(f"/find takes at most {MAX_FIND_TERMS} words at once")
    wanted = tuple(_phrase(term) for term in terms if not term.excluded)
    if not wanted:
        raise CommandError(
            "/find needs a word to look for (words with letters or digits; -word leaves one out)"
        )
    return Matcher(wanted, tuple(_phrase(term) for term in terms if term.excluded))


def split_words(text: str) -> list[str]:
    """``text``'s words, lower case and without accents, as ``unicode61`` splits them."""
    return [_fold(word) for word in _WORD.findall(text)]


def _fold(word: str) -> str:
    """A word in lower case, its accents dropped (``Café`` → ``cafe``)."""
    word = word.lower()
    if word.isascii():
        return word
    return "".join(
        char for char in unicodedata.normalize("NFD", word) if not unicodedata.combining(char)
    )


def _phrase(term: Term) -> _Phrase:
    return _Phrase(tuple(split_words(term.text)), term.prefix)
