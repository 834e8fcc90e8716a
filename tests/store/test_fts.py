"""/find's words become safe FTS5 queries: every input is valid, odd input is literal."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpchat.core.errors import CommandError
from tcpchat.store.fts import MAX_FIND_TERMS, fts_query
from tests.support.history import TEXTS


@pytest.fixture
def index() -> Iterator[sqlite3.Connection]:
    """An FTS5 table tokenized as the store's, holding TEXTS (rowid = position + 1)."""
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE t USING fts5(text, tokenize = 'unicode61 remove_diacritics 2')"
    )
    db.executemany("INSERT INTO t (rowid, text) VALUES (?, ?)", enumerate(TEXTS, 1))
    yield db
    db.close()


def found(db: sqlite3.Connection, words: str) -> list[str]:
    rows = db.execute("SELECT rowid FROM t WHERE t MATCH ? ORDER BY rowid", (fts_query(words),))
    return [TEXTS[rowid - 1] for (rowid,) in rows]


def test_every_word_must_match(index: sqlite3.Connection) -> None:
    """Words are all required, in any order."""
    assert found(index, "friday deploy") == ["deploy on friday", "friday: no deploy"]


def test_a_quoted_phrase_keeps_its_order(index: sqlite3.Connection) -> None:
    """ "deploy on friday" finds those words together and in that order."""
    assert found(index, '"deploy on friday"') == ["deploy on friday"]


def test_an_unclosed_quote_runs_to_the_end(index: sqlite3.Connection) -> None:
    """A quote left open is a phrase to the end of the line, not an error."""
    assert found(index, '"on friday') == ["deploy on friday"]


def test_a_trailing_star_is_a_prefix(index: sqlite3.Connection) -> None:
    """depl* finds deploy and deployment."""
    assert found(index, "depl*") == [TEXTS[0], TEXTS[1], TEXTS[5]]


def test_a_leading_minus_leaves_a_word_out(index: sqlite3.Connection) -> None:
    """-friday drops the lines that say friday."""
    assert found(index, "depl* -friday") == ["deployment finished"]


def test_operators_are_plain_words(index: sqlite3.Connection) -> None:
    """AND, OR, NOT and NEAR are searched for as words, not obeyed."""
    assert found(index, "NEAR AND NOT OR") == ["NEAR the AND gate, NOT OR"]
    assert found(index, "NEAR(gate the)") == ["NEAR the AND gate, NOT OR"]


def test_punctuation_inside_a_word_splits_it_as_stored(index: sqlite3.Connection) -> None:
    """e-mail finds "e-mail"; a column filter or a caret is punctuation like any other."""
    assert found(index, "e-mail") == ["the e-mail server is down"]
    assert found(index, "^the server:") == ["the e-mail server is down"]
    assert found(index, "text:server") == []  # the words "text server", which no line has


def test_accents_and_case_are_ignored(index: sqlite3.Connection) -> None:
    """CAFE finds café."""
    assert found(index, "CAFE") == ["café au lait"]


def test_quotes_and_parentheses_in_a_word_are_safe(index: sqlite3.Connection) -> None:
    """Stray quotes and unbalanced parentheses never raise an FTS5 syntax error."""
    assert found(index, 'said"hi ((twice') == ['she said "hi" (twice)']


@pytest.mark.parametrize("words", ["", "   ", "*", "-", '""', "()", "-friday", "!!! ???"])
def test_nothing_to_look_for_is_said_plainly(words: str) -> None:
    """Words with nothing to find (or only left-out ones) get a sentence for the user."""
    with pytest.raises(CommandError, match="needs a word to look for"):
        fts_query(words)


def test_too_many_words_are_refused() -> None:
    """More than MAX_FIND_TERMS terms is refused, naming the limit."""
    with pytest.raises(CommandError, match=f"at most {MAX_FIND_TERMS} words"):
        fts_query(" ".join(f"w{n}" for n in range(MAX_FIND_TERMS + 1)))


@given(st.text(max_size=60))
def test_any_input_is_a_valid_query_or_a_clear_refusal(words: str) -> None:
    """Whatever is typed, SQLite accepts the query, or the user is told why not."""
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE VIRTUAL TABLE t USING fts5(text)")
        try:
            query = fts_query(words)
        except CommandError:
            return
        db.execute("SELECT rowid FROM t WHERE t MATCH ?", (query,)).fetchall()
    finally:
        db.close()
