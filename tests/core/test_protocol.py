"""The protocol core without sockets: line splitting, decoding, input parsing."""

from __future__ import annotations

import pytest

from tcpchat.core.errors import InvalidEncoding, LineTooLong
from tcpchat.core.protocol import (
    ChatInput,
    CommandInput,
    LineSplitter,
    decode_line,
    looks_like_http,
    looks_like_tls,
    parse_input,
    parse_received,
)


def lines_only(items: list[bytes | LineTooLong]) -> list[bytes | str]:
    return [item if isinstance(item, bytes) else "TOO LONG" for item in items]


def test_splitter_accepts_lf_and_crlf() -> None:
    """Lines end in \\n or \\r\\n, and come out without their ending."""
    splitter = LineSplitter(100)
    assert splitter.feed(b"one\ntwo\r\nthree") == [b"one", b"two"]
    assert splitter.feed(b"\r\n") == [b"three"]


def test_splitter_joins_a_line_across_chunks() -> None:
    """A line split over several reads comes out once, whole."""
    splitter = LineSplitter(100)
    assert splitter.feed(b"hel") == []
    assert splitter.feed(b"lo wor") == []
    assert splitter.feed(b"ld\nnext") == [b"hello world"]
    assert splitter.buffered == 4


def test_splitter_keeps_a_line_of_exactly_the_limit() -> None:
    """A line of exactly max_line_bytes is accepted, with \\n or \\r\\n."""
    splitter = LineSplitter(5)
    assert splitter.feed(b"12345\n12345\r\n") == [b"12345", b"12345"]
    assert splitter.feed(b"123") == []
    assert splitter.feed(b"45\r") == []
    assert splitter.feed(b"\n") == [b"12345"]


def test_splitter_discards_an_overlong_line_whole() -> None:
    """An overlong line becomes one LineTooLong; the line after it is intact."""
    splitter = LineSplitter(5)
    assert lines_only(splitter.feed(b"123456\nok\n")) == ["TOO LONG", b"ok"]


def test_splitter_never_hands_out_the_tail_of_an_overlong_line() -> None:
    """The rest of an overlong line, arriving later, is not taken as a new line."""
    splitter = LineSplitter(10)
    assert splitter.feed(b"x" * 7_000) == []
    assert splitter.buffered == 0  # memory stays bounded while discarding
    assert splitter.feed(b"y" * 7_000) == []
    assert lines_only(splitter.feed(b"/nick admin\nhello\n")) == ["TOO LONG", b"hello"]


def test_splitter_bounds_its_buffer() -> None:
    """However a long line arrives, the splitter holds at most one line's worth."""
    splitter = LineSplitter(64)
    for _ in range(1000):
        splitter.feed(b"z" * 10)
        assert splitter.buffered <= 65


def test_splitter_rejects_a_zero_limit() -> None:
    """A limit below one byte is a programming error."""
    with pytest.raises(ValueError, match="positive"):
        LineSplitter(0)


def test_decode_line_reads_utf8() -> None:
    """Valid UTF-8 decodes to text."""
    assert decode_line("héllo ☃".encode()) == "héllo ☃"


def test_decode_line_rejects_invalid_utf8() -> None:
    """Invalid UTF-8 raises InvalidEncoding with words for the user."""
    with pytest.raises(InvalidEncoding, match="not valid UTF-8"):
        decode_line(b"caf\xe9")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("hello", ChatInput("hello")),
        ("hello   ", ChatInput("hello")),
        ("  indented", ChatInput("  indented")),
        ("", None),
        ("   \t ", None),
        ("/help", CommandInput("help", "")),
        ("/NICK  Bob ", CommandInput("nick", "Bob")),
        ("/msg bob hi there", CommandInput("msg", "bob hi there")),
        ("//not a command", ChatInput("/not a command")),
        ("/", CommandInput("", "")),
    ],
)
def test_parse_input(line: str, expected: ChatInput | CommandInput | None) -> None:
    """A line is nothing, a chat message, or a lower-cased command with its argument."""
    assert parse_input(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("\x0c/quit", CommandInput("quit", "")),
        ("\x1b[A/msg alice secret", CommandInput("msg", "alice secret")),
        ("\x1bOA\x1b[D/nick bob", CommandInput("nick", "bob")),
        ("\u200b/help", CommandInput("help", "")),
        ("\x1b[A//literal", ChatInput("/literal")),
        ("\x07\x1b[2J", None),
        ("hi\x1b[31m there", ChatInput("hi there")),
    ],
)
def test_parse_received_judges_the_cleaned_line(
    line: str, expected: ChatInput | CommandInput | None
) -> None:
    """Control keys and escapes before a command do not turn it into chat."""
    assert parse_received(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"GET / HTTP/1.1", True),
        (b"POST /api HTTP/1.0\r", True),
        (b"GET me a coffee", False),
        (b"alice", False),
    ],
)
def test_looks_like_http(line: bytes, expected: bool) -> None:
    """An HTTP request line is recognised; chat text is not."""
    assert looks_like_http(line) is expected


def test_looks_like_tls() -> None:
    """A TLS handshake record is recognised by its first bytes."""
    assert looks_like_tls(b"\x16\x03\x01\x02\x00")
    assert not looks_like_tls(b"alice\n")
