"""Property tests: the sanitiser, the line splitter and the parsers on arbitrary input.

Each one must never raise on arbitrary bytes or text, be idempotent, leave no
forbidden character in its output and keep its output within the line limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tcpchat.core.errors import InvalidEncoding, InvalidNick, LineTooLong, NickTaken
from tcpchat.core.events import Error, Event, EventClock, Notice
from tcpchat.core.hub import Peer, Room
from tcpchat.core.nicks import nick_key, validate_nick
from tcpchat.core.protocol import ChatInput, CommandInput, LineSplitter, decode_line, parse_input
from tcpchat.core.rooms import room_key
from tcpchat.core.sanitize import MAX_COMBINING_RUN, SUBDIVISION_FLAG_TAGS, sanitize_text
from tcpchat.core.session import Session
from tcpchat.core.unicode_tables import EXTENDED_PICTOGRAPHIC, JOINS_FOLLOWING, JOINS_PRECEDING


class FakeTransport(asyncio.WriteTransport):
    """A transport that is never written to: the recording hub keeps the events."""


FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"}
COMBINING_CATEGORIES = {"Mn", "Me"}
ZWJ, ZWNJ, VS16 = "\u200d", "\u200c", "\ufe0f"
SKIN_TONES = {chr(point) for point in range(0x1F3FB, 0x1F400)}
VARIATION_SELECTORS = {chr(p) for p in (*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0))}
FLAG_SEQUENCES = ["\U0001f3f4" + tags for tags in SUBDIVISION_FLAG_TAGS]


def _in(ranges: tuple[tuple[int, int], ...], char: str) -> bool:
    return any(first <= ord(char) <= last for first, last in ranges)


def _joiner_is_between_characters_that_allow_it(text: str, at: int) -> bool:
    """RFC 8264 CONTEXTJ, or an emoji ZWJ sequence, around ``text[at]``."""
    if at == 0 or at == len(text) - 1:
        return False
    before, after = text[at - 1], text[at + 1]
    if unicodedata.combining(before) == 9 and unicodedata.category(after).startswith("L"):
        return True
    if text[at] == ZWJ:
        emoji = text[:at].rstrip(VS16 + "".join(SKIN_TONES))
        return (
            bool(emoji)
            and _in(EXTENDED_PICTOGRAPHIC, emoji[-1])
            and _in(EXTENDED_PICTOGRAPHIC, after)
        )
    letters_before = [c for c in text[:at] if unicodedata.category(c) not in COMBINING_CATEGORIES]
    letters_after = [
        c for c in text[at + 1 :] if unicodedata.category(c) not in COMBINING_CATEGORIES
    ]
    return (
        bool(letters_before and letters_after)
        and _in(JOINS_FOLLOWING, letters_before[-1])
        and _in(JOINS_PRECEDING, letters_after[0])
    )


def assert_no_forbidden_character(text: str) -> None:
    """No control, format or unassigned character but joiners and flag tags in place."""
    for flag in FLAG_SEQUENCES:
        text = text.replace(flag, "\U0001f3f4")
    for at, char in enumerate(text):
        if char in (ZWJ, ZWNJ):
            assert _joiner_is_between_characters_that_allow_it(text, at), (text, at)
        elif char in VARIATION_SELECTORS:
            base = text[at - 1] if at else " "
            if char in "\ufe0e\ufe0f":
                assert base in "#*0123456789" or _in(EXTENDED_PICTOGRAPHIC, base), (text, at)
            else:
                assert unicodedata.category(base)[0] in "LNS", (text, at)
        else:
            assert unicodedata.category(char) not in FORBIDDEN_CATEGORIES, (text, at)


# Text that hypothesis would rarely build on its own: escapes, bidi, tags, Zalgo.
nasty_text = st.lists(
    st.one_of(
        st.text(),
        st.sampled_from(
            [
                "\x1b[31m",
                "\x1b]0;title\x07",
                "\x1bP1;2|x\x1b\\",
                "\x1b",
                "\x9b2J",
                "\r",
                "\t",
                "\x7f",
                "\u202e",
                "\u2066",
                "\u200b",
                "\U000e0041",
                "\u2028",
                "\ue000",
                "\ud800",
                "\u0301" * 9,
                "\U0010ffff",
                ZWJ,
                ZWNJ,
                VS16,
                "\ufe0e",
                "👩",
                "🏽",
                "\u0915\u094d",  # Devanagari KA and virama
                "\u0628",  # Arabic BEH, dual-joining
                "\u0631",  # Arabic REH, right-joining
                "\U0001f3f4",
                *FLAG_SEQUENCES[0][1:],
                SUBDIVISION_FLAG_TAGS[1],
            ]
        ),
    ),
    max_size=8,
).map("".join)

# Text made mostly of joiners and the characters around which they may survive.
joiner_text = st.lists(
    st.sampled_from(
        [
            ZWJ,
            ZWNJ,
            VS16,
            "👨",
            "❤",
            "🏽",
            "\u094d",
            "\u0915",
            "\u0628",
            "\u0631",
            "a",
            " ",
            "\u064e",
        ]
    ),
    max_size=12,
).map("".join)


def _combining_runs(text: str) -> list[int]:
    runs, run = [], 0
    for char in text:
        if unicodedata.category(char) in COMBINING_CATEGORIES:
            run += 1
        else:
            if run:
                runs.append(run)
            run = 0
    return [*runs, run]


@settings(deadline=None)
@given(nasty_text)
@example("\x1b\x1b[31mred")
@example("a" + "\u0301" * 3 + "\x1b[m" + "\u0301" * 3)
def test_sanitised_text_is_one_safe_line_and_sanitising_again_changes_nothing(text: str) -> None:
    """No forbidden category, no escape, no line break, no long combining run; idempotent."""
    clean = sanitize_text(text)
    assert_no_forbidden_character(clean)
    assert not {"\x1b", "\r", "\n"} & set(clean)
    assert max(_combining_runs(clean)) <= MAX_COMBINING_RUN
    assert len(clean.encode("utf-8", "surrogatepass")) <= len(text.encode("utf-8", "surrogatepass"))
    assert sanitize_text(clean) == clean


@settings(deadline=None)
@given(joiner_text)
@example(f"👨{ZWJ}{ZWJ}❤{VS16}{ZWJ}")
def test_a_joiner_that_survives_sits_between_characters_that_allow_it(text: str) -> None:
    """Every ZWJ or ZWNJ kept has an emoji, virama or joining letter each side; idempotent."""
    clean = sanitize_text(text)
    for at, char in enumerate(clean):
        if char in (ZWJ, ZWNJ):
            assert _joiner_is_between_characters_that_allow_it(clean, at), (clean, at)
    assert len(clean) <= len(text)
    assert sanitize_text(clean) == clean


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_decode_to_text_or_an_encoding_error(raw: bytes) -> None:
    """Decoding never fails with anything but :class:`InvalidEncoding`."""
    with contextlib.suppress(InvalidEncoding):
        decode_line(raw)


chunks = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from([b"\n", b"\r\n", b"\r", b"x" * 50, b"/nick admin\n"]),
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(chunks, st.integers(min_value=1, max_value=48))
def test_line_splitter_keeps_lines_and_memory_within_the_limit(
    stream: list[bytes], limit: int
) -> None:
    """Lines come out without newlines and within the limit; the buffer never outgrows it."""
    splitter = LineSplitter(limit)
    for chunk in stream:
        for item in splitter.feed(chunk):
            if isinstance(item, bytes):
                assert b"\n" not in item
                assert len(item) <= limit
            else:
                assert isinstance(item, LineTooLong)
        assert splitter.buffered <= limit + 1


@settings(max_examples=200, deadline=None)
@given(chunks, st.integers(min_value=1, max_value=48), st.data())
def test_line_splitter_gives_the_same_lines_however_the_stream_is_cut(
    stream: list[bytes], limit: int, data: st.DataObject
) -> None:
    """Cutting the same bytes into other chunks changes nothing: no tail becomes a line."""
    whole = b"".join(stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(whole)), max_size=10)))
    pieces = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]

    def split(parts: list[bytes]) -> list[bytes | str]:
        splitter = LineSplitter(limit)
        out: list[bytes | str] = []
        for part in parts:
            out += [i if isinstance(i, bytes) else "too long" for i in splitter.feed(part)]
        return out

    assert split(pieces) == split([whole])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=30).filter(lambda b: b"\n" not in b), max_size=10))
@example([b"\r\r"])  # a line that ends in CR, its CRLF taking one
def test_line_splitter_is_idempotent_on_its_own_output(lines: list[bytes]) -> None:
    """Ending the lines it gave back with CRLF and splitting again gives the same lines.
    (With a bare LF, a line that ends in CR, which it gives back as it is when a CRLF
    ended it, would lose that CR: its end would read as a CRLF.)"""
    first = [i for i in LineSplitter(20).feed(b"\n".join(lines) + b"\n") if isinstance(i, bytes)]
    second = LineSplitter(20).feed(b"".join(line + b"\r\n" for line in first))
    assert second == first


def _unparse(parsed: ChatInput | CommandInput) -> str:
    if isinstance(parsed, CommandInput):
        return f"/{parsed.name} {parsed.argument}"
    return "/" + parsed.text if parsed.text.startswith("/") else parsed.text


@settings(deadline=None)
@given(nasty_text)
@example("//")
@example("/ ")
def test_parse_input_is_idempotent_and_never_grows(line: str) -> None:
    """Parsing what a parse means again gives the same meaning, no longer than the line."""
    parsed = parse_input(line)
    if parsed is None:
        return
    if isinstance(parsed, ChatInput):
        assert len(parsed.text) <= len(line)
    else:
        assert len(parsed.name) + len(parsed.argument) <= len(line)
    assert parse_input(_unparse(parsed)) == parsed


@settings(deadline=None)
@given(nasty_text)
@example("bоb")  # a Cyrillic о in a Latin name
def test_nicknames_are_safe_single_script_and_stable(raw: str) -> None:
    """A valid nickname is already sanitised, has no spaces and validates to itself."""
    try:
        nick = validate_nick(raw)
    except InvalidNick:
        return
    assert sanitize_text(nick) == nick
    assert not any(char.isspace() for char in nick)
    assert validate_nick(nick) == nick


class RecordingHub:
    """A hub with no event loop: rooms, and every event delivered kept in order."""

    def __init__(self) -> None:
        self.members: dict[str, Peer] = {}
        self.rooms_by_key: dict[str, Room] = {}
        self.delivered: list[Event] = []

    def publish(self, event: Event, *, room: Room, exclude: Peer | None = None) -> None:
        self.delivered.append(event)

    def announce(self, event: Event, *, about: Peer, exclude: Peer | None = None) -> None:
        self.delivered.append(event)

    def send(self, peer: Peer, event: Event) -> None:
        self.delivered.append(event)

    def send_raw(self, peer: Peer, data: bytes) -> None:
        pass  # only IRC sessions send bytes of their own

    def register(self, peer: Peer, nick: str) -> None:
        if nick_key(nick) in self.members:
            raise NickTaken("taken")
        self.members[nick_key(nick)] = peer
        peer.nick = nick

    def rename(self, peer: Peer, nick: str) -> None:
        assert peer.nick is not None
        old = nick_key(peer.nick)
        del self.members[old]
        self.register(peer, nick)
        for room in peer.rooms:
            room.renamed(old, peer)

    def set_away(self, peer: Peer, message: str | None) -> None:
        peer.away = message

    def leave(self, peer: Peer) -> bool:
        for room in list(peer.rooms):
            self.part_room(peer, room)
        return peer.nick is not None and self.members.pop(nick_key(peer.nick), None) is peer

    def find(self, nick: str) -> Peer | None:
        return self.members.get(nick_key(nick))

    def nicks(self) -> tuple[str, ...]:
        return tuple(sorted(p.nick for p in self.members.values() if p.nick))

    def join_room(self, peer: Peer, name: str) -> Room:
        assert peer.nick is not None
        room = self.rooms_by_key.setdefault(room_key(name), Room(name, peer.nick))
        room.add(nick_key(peer.nick), peer)
        peer.rooms[room] = None
        return room

    def part_room(self, peer: Peer, room: Room) -> None:
        assert peer.nick is not None
        room.remove(nick_key(peer.nick))
        del peer.rooms[room]

    def room(self, name: str) -> Room | None:
        return self.rooms_by_key.get(room_key(name))

    def rooms(self) -> list[Room]:
        return list(self.rooms_by_key.values())

    def set_topic(self, room: Room, text: str, nick: str) -> None:
        room.topic, room.topic_by = text, nick

    def flush(self, peer: Peer) -> None:
        pass


input_lines = st.lists(
    st.one_of(
        nasty_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.binary(max_size=20),
        st.sampled_from(
            [b"/nick b\xd0\xbeb", b"/me \x1b[2J", b"/msg alice \xe2\x80\xae", b"/help"]
        ),
        nasty_text.map(lambda text: ("/" + text).encode("utf-8", "surrogatepass")),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(input_lines)
def test_a_session_never_raises_and_never_relays_a_forbidden_character(
    lines: list[bytes],
) -> None:
    """Whatever lines arrive, every event the session emits carries only safe text.

    (Notices and errors may span lines: the text rendering prefixes each one.)
    """
    hub = RecordingHub()
    alice_session = Session(Peer(FakeTransport(), "alice"), hub, EventClock())
    alice_session.receive_line(b"alice")
    session = Session(Peer(FakeTransport(), "peer"), hub, EventClock())
    for line in [b"mallory", *lines]:
        session.receive_line(line)
    for event in hub.delivered:
        for field in dataclasses.fields(event):
            value = getattr(event, field.name)
            texts = value if isinstance(value, tuple) else (value,)
            for text in texts:
                if not isinstance(text, str):
                    continue
                if isinstance(event, Notice | Error):
                    text = text.replace("\n", "")
                assert_no_forbidden_character(text)
