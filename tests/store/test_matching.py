"""/find matched in Python (the Redis backend) finds what SQLite's FTS5 finds."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpchat.core.errors import CommandError
from tcpchat.store.fts import fts_query
from tcpchat.store.matching import matcher, split_words
from tests.support.history import TEXTS

#: Words and marks that make the two matchers disagree if either is wrong.
ALPHABET = st.sampled_from(
    [
        *("deploy", "Deploy", "dé", "de", "friday", "on", "e", "mail", "café", "CAFE", "x1"),
        *(" ", " ", "-", '"', "*", "(", ")", ":", "^", "'", ",", "\t", "AND", "OR", "NOT"),
    ]
)
PHRASES = st.lists(ALPHABET, max_size=8).map("".join)


@pytest.fixture
def index() -> Iterator[sqlite3.Connection]:
    """An FTS5 table tokenized as the SQLite store's."""
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE t USING fts5(text, tokenize = 'unicode61 remove_diacritics 2')"
    )
    yield db
    db.close()


def fts_found(db: sqlite3.Connection, texts: list[str], words: str) -> list[int]:
    db.execute("DELETE FROM t")
    db.executemany("INSERT INTO t (rowid, text) VALUES (?, ?)", enumerate(texts, 1))
    rows = db.execute("SELECT rowid FROM t WHERE t MATCH ? ORDER BY rowid", (fts_query(words),))
    return [rowid for (rowid,) in rows]


def python_found(texts: list[str], words: str) -> list[int]:
    wanted = matcher(words)
    return [n for n, text in enumerate(texts, 1) if wanted.matches(text)]


@pytest.mark.parametrize(
    "words",
    [
        *("friday deploy", '"deploy on friday"', '"on friday', "depl*", "depl* -friday"),
        *("CAFE", "NEAR AND NOT OR", "NEAR(gate the)", "e-mail", "^the server:", "text:server"),
        *('said"hi ((twice', '"on fri"*', "-deploy friday"),
    ],
)
def test_the_find_examples_match_as_in_sqlite(index: sqlite3.Connection, words: str) -> None:
    """Every /find example of the FTS5 tests finds the same lines in Python."""
    assert python_found(TEXTS, words) == fts_found(index, TEXTS, words)


@given(texts=st.lists(PHRASES, min_size=1, max_size=6), words=PHRASES)
def test_any_find_matches_as_in_sqlite(texts: list[str], words: str) -> None:
    """For any lines and any /find words, Python and FTS5 keep the same lines (or both refuse)."""
    db = sqlite3.connect(":memory:")
    try:
        db.execute(
            "CREATE VIRTUAL TABLE t USING fts5(text, tokenize = 'unicode61 remove_diacritics 2')"
        )
        try:
            expected = fts_found(db, texts, words)
        except CommandError:
            with pytest.raises(CommandError):
                matcher(words)
            return
        assert python_found(texts, words) == expected
    finally:
        db.close()


def test_words_are_split_folded_and_bare() -> None:
    """Punctuation splits words; case and accents go."""
    assert split_words("Café-au-LAIT, x1!") == ["cafe", "au", "lait", "x1"]
