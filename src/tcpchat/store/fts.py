"""A user's ``/find`` words → a safe SQLite FTS5 query.

FTS5 has its own query language (``AND``, ``OR``, ``NOT``, ``NEAR(...)``,
``column:``, ``^``, ``*``, parentheses) and raises a syntax error on input it
cannot parse. Users type words, not queries, so nothing they type reaches FTS5
as syntax: every term is sent as a double-quoted FTS5 string, in which every
character is literal. What a user can say:

- ``deploy friday``: messages with both words (every word must match), in any
  order, anywhere in the text;
- ``"deploy on friday"``: those words in that order (a phrase); an unclosed
  quote runs to the end of the line;
- ``depl*``: words that begin with ``depl`` (a prefix; ``"on fri"*`` too);
- ``-friday``: leave out messages with that word (at least one word must be
  left to look for);
- anything else is a word like any other: ``AND``, ``OR``, ``NOT`` and
  ``NEAR`` are searched for as words, parentheses are spaces, and punctuation
  inside a word splits it as the text was split when it was stored (``e-mail``
  finds "e-mail" and "e mail").

Matching ignores case and accents (the ``unicode61`` tokenizer, diacritics
removed). A term with no letter or digit (``*``, ``-``, ``"!"``) is skipped, and
control characters are spaces.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from tcpchat.core.errors import CommandError

#: The most terms one ``/find`` may give: each is a lookup in the index.
MAX_FIND_TERMS = 16

#: Parentheses mean nothing to /find, and SQLite ends a query at a NUL: all become spaces.
_SPACES = {ord(char): " " for char in "()" + "".join(map(chr, range(32)))}
_TERM = re.compile(r'(?P<minus>-?)"(?P<phrase>[^"]*)"?(?P<star>\*?)|(?P<word>\S+)')


@dataclass(frozen=True, slots=True)
class Term:
    """One thing to look for: a word or a phrase, maybe a prefix, maybe left out."""

    text: str
    prefix: bool = False
    excluded: bool = False

    def fts(self) -> str:
        """This term as an FTS5 string: quoted, so that nothing in it is syntax."""
        quoted = '"' + self.text.replace('"', '""') + '"'
        return quoted + "*" if self.prefix else quoted


def find_terms(words: str) -> list[Term]:
    """The terms of a ``/find`` line, in the order typed; terms with nothing to find dropped."""
    terms: list[Term] = []
    for match in _TERM.finditer(words.translate(_SPACES)):
        if match["word"] is not None:
            word = match["word"]
            excluded = word.startswith("-") and len(word) > 1
            word = word.removeprefix("-") if excluded else word
            prefix = word.endswith("*")
            term = Term(word.rstrip("*"), prefix, excluded)
        else:
            term = Term(match["phrase"], bool(match["star"]), bool(match["minus"]))
        if _has_word(term.text):
            terms.append(term)
    return terms


def fts_query(words: str) -> str:
    """The FTS5 query for a ``/find`` line; CommandError (words for the user) when it has none.

    Every kept word must match; excluded ones must not. The result is always a
    valid FTS5 query, whatever ``words`` holds.
    """
    terms = find_terms(words)
    if len(terms) > MAX_FIND_TERMS:
        raise CommandError(f"/find takes at most {MAX_FIND_TERMS} words at once")
    wanted = [term.fts() for term in terms if not term.excluded]
    unwanted = [term.fts() for term in terms if term.excluded]
    if not wanted:
        raise CommandError(
            "/find needs a word to look for (words with letters or digits; -word leaves one out)"
        )
    query = "(" + " AND ".join(wanted) + ")"
    if unwanted:
        query += " NOT (" + " OR ".join(unwanted) + ")"
    return query


def _has_word(text: str) -> bool:
    """Whether FTS5's unicode61 tokenizer finds a token in ``text`` (a letter or a digit)."""
    return any(unicodedata.category(char)[0] in "LN" for char in text)
