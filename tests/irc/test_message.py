"""The IRC codec without sockets: parsing, serialising, limits, cutting long texts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpchat.core.errors import LineTooLong
from tcpchat.irc.errors import (
    EmptyMessage,
    InputTooLong,
    MalformedMessage,
    NotUtf8,
    UnsendableMessage,
)
from tcpchat.irc.message import (
    MAX_BODY_BYTES,
    MAX_CLIENT_TAG_DATA_BYTES,
    MAX_LINE_BYTES,
    IrcMessage,
    escape_tag_value,
    fit_last_param,
    line_splitter,
    parse_message,
    parse_source,
    server_time,
    split_text_for_irc,
    unescape_tag_value,
)

# ircdocs' parser-tests (CC0); tests/irc/data/parser_tests.json says where from.
VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "parser_tests.json").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("case", VECTORS["msg-split"], ids=lambda case: case["input"][:40])
def test_parser_vectors_split(case: dict[str, Any]) -> None:
    """Each msg-split vector parses into its tags, source, command and parameters."""
    atoms = case["atoms"]
    message = parse_message(case["input"])
    assert dict(message.tags) == (atoms.get("tags") or {})
    assert message.source == atoms.get("source")
    assert message.command == atoms["verb"].upper()  # tcpchat upper-cases commands
    assert list(message.params) == (atoms.get("params") or [])


@pytest.mark.parametrize("case", VECTORS["msg-join"], ids=lambda case: case["desc"])
def test_parser_vectors_join(case: dict[str, Any]) -> None:
    """Each msg-join vector serialises to one of the lines the vector accepts."""
    atoms = case["atoms"]
    message = IrcMessage(
        atoms["verb"], atoms.get("params") or [], atoms.get("source"), atoms.get("tags") or {}
    )
    line = message.to_bytes()
    assert line.endswith(b"\r\n")
    assert line[:-2].decode("utf-8") in case["matches"]


@pytest.mark.parametrize("case", VECTORS["userhost-split"], ids=lambda case: case["source"])
def test_parser_vectors_userhost(case: dict[str, Any]) -> None:
    """Each userhost-split vector splits into its nick, user and host."""
    atoms = case["atoms"]
    source = parse_source(case["source"])
    assert (source.nick, source.user, source.host) == (
        atoms.get("nick"),
        atoms.get("user"),
        atoms.get("host"),
    )
    assert str(source) == case["source"]


_WORD = st.text(st.characters(codec="utf-8", exclude_characters="\0\r\n :"), min_size=1)
_LAST = st.text(st.characters(codec="utf-8", exclude_characters="\0\r\n"))
_TAG_KEY = st.from_regex(r"\+?([a-z0-9.-]+/)?[A-Za-z0-9-]+", fullmatch=True)
_TAG_VALUE = st.text(st.characters(codec="utf-8", exclude_characters="\0"))


@st.composite
def messages(draw: st.DrawFn) -> IrcMessage:
    command = draw(st.sampled_from(["PRIVMSG", "NOTICE", "JOIN", "001", "353", "CAP"]))
    middle = draw(st.lists(_WORD, max_size=5))
    last = draw(st.lists(_LAST, max_size=1))
    source = draw(st.none() | _WORD)
    tags = draw(st.dictionaries(_TAG_KEY, _TAG_VALUE, max_size=3))
    return IrcMessage(command, [*middle, *last], source, tags)


@given(messages())
def test_a_message_survives_serialising_and_parsing(message: IrcMessage) -> None:
    """parse(serialise(m)) == m, for any message IRC can carry within its limits."""
    try:
        line = message.to_bytes()
    except UnsendableMessage:
        return  # too long for one line: refused, never sent cut
    assert parse_message(line) == message


def test_the_command_is_upper_cased_and_numerics_kept() -> None:
    """privmsg is PRIVMSG; a three-digit numeric stays as it is."""
    assert parse_message("privmsg #a :hi").command == "PRIVMSG"
    assert parse_message(":srv 005 me :x").command == "005"


def test_a_line_of_exactly_512_bytes_is_taken() -> None:
    """510 bytes before CRLF is the most, and is accepted."""
    line = "PRIVMSG #a :" + "x" * (MAX_BODY_BYTES - len("PRIVMSG #a :"))
    assert len((line + "\r\n").encode()) == MAX_LINE_BYTES
    assert parse_message(line + "\r\n").params[1].endswith("x")


def test_a_line_of_513_bytes_is_refused_as_too_long() -> None:
    """One byte more is InputTooLong (417), naming the command."""
    line = "PRIVMSG #a :" + "x" * (MAX_BODY_BYTES + 1 - len("PRIVMSG #a :"))
    with pytest.raises(InputTooLong) as caught:
        parse_message(line)
    assert caught.value.command == "PRIVMSG"


def test_client_tags_are_allowed_4094_bytes_and_no_more() -> None:
    """Tag data of 4,094 bytes is taken; 4,095 is InputTooLong, the body apart."""
    value = "v" * (MAX_CLIENT_TAG_DATA_BYTES - len("+k="))
    assert parse_message(f"@+k={value} PRIVMSG #a :hi").tags["+k"] == value
    with pytest.raises(InputTooLong):
        parse_message(f"@+k={value}v PRIVMSG #a :hi")


def test_a_70000_byte_line_is_discarded_whole_and_the_next_command_is_intact() -> None:
    """A 70,000-byte line, fed in chunks, becomes one LineTooLong; NICK admin after it
    is the next line, and no part of the long line is ever a line."""
    splitter = line_splitter()
    long_line = b"PRIVMSG #a :" + b"A" * 35_000 + b" NICK admin " + b"B" * 34_976
    assert len(long_line) == 70_000
    items: list[bytes | LineTooLong] = []
    for start in range(0, len(long_line), 4096):
        items += splitter.feed(long_line[start : start + 4096])
    items += splitter.feed(b"\r\nNICK admin\r\n")
    assert isinstance(items[0], LineTooLong)
    assert items[1:] == [b"NICK admin"]


def test_a_bare_cr_inside_a_line_does_not_start_a_command() -> None:
    """`PRIVMSG #a :hi\\rNICK admin` is refused whole, never read as NICK."""
    with pytest.raises(MalformedMessage):
        parse_message(b"PRIVMSG #a :hi\rNICK admin")


@pytest.mark.parametrize(
    "line", ["PRIVMSG #a :a\0b", ":src", "@a=b", "@a=b :src ", "PRIV\x01MSG #a", "ÄÖ x"]
)
def test_lines_that_are_not_irc_are_refused(line: str) -> None:
    """NUL, no command, a control character or non-ASCII in the command: MalformedMessage."""
    with pytest.raises(MalformedMessage):
        parse_message(line)


@pytest.mark.parametrize("line", ["", "   ", "\r\n"])
def test_an_empty_line_is_told_apart(line: str) -> None:
    """A blank line is EmptyMessage, which a server ignores silently."""
    with pytest.raises(EmptyMessage):
        parse_message(line)


def test_more_than_15_parameters_are_refused() -> None:
    """15 parameters parse; 16 are MalformedMessage, naming the command."""
    assert len(parse_message("FOO " + " ".join("p" * 15)).params) == 15
    with pytest.raises(MalformedMessage) as caught:
        parse_message("FOO " + " ".join("p" * 16))
    assert caught.value.command == "FOO"


def test_invalid_utf8_is_refused_naming_the_command() -> None:
    """A line that is not UTF-8 is NotUtf8 (for FAIL PRIVMSG INVALID_UTF8)."""
    with pytest.raises(NotUtf8) as caught:
        parse_message(b"@t=1 PRIVMSG #a :caf\xe9")
    assert caught.value.command == "PRIVMSG"


@pytest.mark.parametrize(
    ("command", "params", "source", "tags"),
    [
        ("", [], None, {}),
        ("PRIV MSG", [], None, {}),
        (":PRIVMSG", [], None, {}),
        ("PRIVMSG", ["#a b", "hi"], None, {}),
        ("PRIVMSG", ["", "hi"], None, {}),
        ("PRIVMSG", [":a", "hi"], None, {}),
        ("PRIVMSG", ["#a", "hi\r\nQUIT"], None, {}),
        ("PRIVMSG", ["#a", "nul\0"], None, {}),
        ("PRIVMSG", ["p"] * 16, None, {}),
        ("PRIVMSG", ["#a", "hi"], "a b", {}),
        ("PRIVMSG", ["#a", "hi"], None, {"a;b": "c"}),
        ("PRIVMSG", ["#a", "hi"], None, {"": "c"}),
    ],
)
def test_a_message_irc_cannot_carry_cannot_be_made(
    command: str, params: list[str], source: str | None, tags: dict[str, str]
) -> None:
    """Empty or spaced commands, bad middle parameters, NUL/CR/LF, 16 parameters,
    bad sources and tag keys: UnsendableMessage, a bug of ours, at once."""
    with pytest.raises(UnsendableMessage):
        IrcMessage(command, params, source, tags)


def test_serialising_refuses_a_line_over_512_bytes() -> None:
    """to_bytes never sends a line past the limit: the caller must cut first."""
    message = IrcMessage("PRIVMSG", ["#a", "x" * MAX_BODY_BYTES], "alice!a@h")
    with pytest.raises(UnsendableMessage):
        message.to_bytes()


def test_server_tags_are_sent_before_client_only_tags() -> None:
    """Client-only (+) tags come last, so they cannot push the server's out of the limit."""
    message = IrcMessage("PRIVMSG", ["#a", "hi"], None, {"+x": "1", "time": "t", "+a": ""})
    assert message.to_bytes().startswith(b"@time=t;+x=1;+a ")


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("a;b c\\d\r\ne", "a\\:b\\sc\\\\d\\r\\ne"), ("plain", "plain"), ("", "")],
)
def test_tag_values_are_escaped_and_unescaped(raw: str, escaped: str) -> None:
    """; space \\ CR LF travel as \\: \\s \\\\ \\r \\n, and come back."""
    assert escape_tag_value(raw) == escaped
    assert unescape_tag_value(escaped) == raw


def test_server_time_is_utc_with_milliseconds() -> None:
    """server-time's format: ISO 8601, UTC, milliseconds, Z."""
    assert server_time(1_700_000_000.1234) == "2023-11-14T22:13:20.123Z"


def test_a_long_text_is_cut_into_lines_that_fit_512_bytes() -> None:
    """Every piece fits :source PRIVMSG target :piece CRLF in 512 bytes; cut at spaces."""
    source, target = "alice!alice@tcpchat", "#lobby"
    text = " ".join(f"word{number}" for number in range(300))
    pieces = split_text_for_irc(text, source=source, command="PRIVMSG", target=target)
    assert len(pieces) > 1
    for piece in pieces:
        line = IrcMessage("PRIVMSG", [target, piece], source).to_bytes()
        assert len(line) <= MAX_LINE_BYTES
    assert " ".join(pieces) == text


def test_a_long_text_without_spaces_is_cut_between_utf8_characters() -> None:
    """Four-byte characters are never cut inside their UTF-8 sequence, nor lost."""
    text = "😀" * 1000
    pieces = split_text_for_irc(text, source="bob!b@h", command="PRIVMSG", target="#a")
    assert "".join(pieces) == text
    assert all(len(IrcMessage("PRIVMSG", ["#a", p], "bob!b@h").to_bytes()) <= 512 for p in pieces)


def test_a_text_that_fits_is_one_piece() -> None:
    """A short text comes back whole."""
    assert split_text_for_irc("hi there", source="s", command="NOTICE", target="bob") == [
        "hi there"
    ]


def test_fit_last_param_shortens_a_long_topic_with_an_ellipsis() -> None:
    """A 300-character CJK topic (900 bytes) is cut to fit one line, ending in …."""
    message = IrcMessage("332", ["alice", "#dev", "話" * 300], "irc.example")
    fitted = fit_last_param(message)
    assert len(fitted.to_bytes()) <= MAX_LINE_BYTES
    assert fitted.params[2].endswith("…")
    assert fitted.params[2].startswith("話" * 100)
    assert fit_last_param(IrcMessage("PING", ["x"])) == IrcMessage("PING", ["x"])
