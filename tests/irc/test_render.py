"""Events as IRC lines, and IRC formatting taken out, with plain calls."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tcpchat.core.events import (
    Action,
    AIDelta,
    Event,
    Join,
    Kick,
    Leave,
    Message,
    ModeChange,
    NickChange,
    Part,
)
from tcpchat.core.render import Rendering
from tcpchat.irc.render import IrcEncoder, strip_formatting
from tests.support.samples import SAMPLES

TS = datetime(2026, 12, 1, 16, 55, 4, 123000, tzinfo=UTC)
ENCODER = IrcEncoder("My.Little.Server")


def test_a_message_is_a_privmsg_from_the_speakers_mask() -> None:
    """A room message names its speaker and room, never its recipient."""
    line = ENCODER(Message(1, TS, "alice", "hello", "#lobby"), Rendering.IRC)
    assert line == b":alice!alice@tcpchat PRIVMSG #lobby :hello\r\n"


def test_server_time_adds_the_time_tag_to_every_line() -> None:
    """IRC_TIME puts @time= with milliseconds and Z on each line."""
    line = ENCODER(Join(1, TS, "alice", "#lobby"), Rendering.IRC_TIME)
    assert line == b"@time=2026-12-01T16:55:04.123Z :alice!alice@tcpchat JOIN #lobby\r\n"


def test_a_long_action_is_split_each_piece_wrapped_and_under_512_bytes() -> None:
    """A /me of 2,000 bytes becomes several CTCP ACTIONs that fit IRC's line."""
    text = "é" * 1000
    data = ENCODER(Action(1, TS, "alice", text, "#lobby"), Rendering.IRC)
    lines = data.split(b"\r\n")[:-1]
    assert len(lines) > 1
    assert all(len(line) + 2 <= 512 for line in lines)
    pieces = [line.decode().split(" :", 1)[1] for line in lines]
    assert all(piece.startswith("\x01ACTION ") and piece.endswith("\x01") for piece in pieces)
    assert "".join(piece[8:-1] for piece in pieces) == text


def test_presence_events_are_quit_part_and_nick() -> None:
    """A leaving is QUIT, a part PART with its reason, a nick change NICK."""
    assert ENCODER(Leave(1, TS, "bob", "Quit: bye"), Rendering.IRC) == (
        b":bob!bob@tcpchat QUIT :Quit: bye\r\n"
    )
    assert ENCODER(Part(1, TS, "bob", "#dev", "lunch"), Rendering.IRC) == (
        b":bob!bob@tcpchat PART #dev lunch\r\n"
    )
    assert (
        ENCODER(NickChange(1, TS, "bob", "rob"), Rendering.IRC) == b":bob!bob@tcpchat NICK rob\r\n"
    )


def test_streamed_pieces_of_an_answer_are_not_sent_over_irc() -> None:
    """AI deltas are for JSON clients only."""
    assert ENCODER(AIDelta(1, TS, 1, "piece", "#lobby"), Rendering.IRC_TIME) == b""


def test_the_native_renderings_are_left_to_the_core() -> None:
    """TEXT and JSON are the core's encodings, unchanged."""
    assert ENCODER(Message(1, TS, "alice", "hi", "#lobby"), Rendering.JSON).startswith(b"{")


def test_formatting_codes_are_stripped_with_their_colour_digits() -> None:
    """Bold, colours with their numbers, hex colours, reset and italics go."""
    assert strip_formatting("\x02bold\x02 \x0304,12red\x03 \x04FF0000hex\x0f \x1dit") == (
        "bold red hex it"
    )


@pytest.mark.parametrize("event", [event for event, _ in SAMPLES], ids=lambda e: e.kind)
def test_every_event_has_an_irc_form_under_the_line_limit(event: Event) -> None:
    """No event breaks the encoder (a pass for every member would fail with it); each line
    it makes ends in CRLF and fits IRC's 512 bytes."""
    data = ENCODER(event, Rendering.IRC)
    for line in data.split(b"\r\n")[:-1]:
        assert 0 < len(line) + 2 <= 512
    assert data == b"" or data.endswith(b"\r\n")


def test_moderation_is_kick_and_mode() -> None:
    """A kick is KICK; op, ban and mute are MODE +o, +b (a mask) and +q, from the operator."""
    kick = Kick(1, TS, "alice", "bob", "#dev", "spam")
    assert ENCODER(kick, Rendering.IRC) == b":alice!alice@tcpchat KICK #dev bob spam\r\n"
    changes = {"op": "+o bob", "ban": "+b bob!*@*", "mute": "+q bob", "unmute": "-q bob"}
    for change, mode in changes.items():
        event = ModeChange(2, TS, "alice", "#dev", change, "bob", 0, "")
        assert (
            ENCODER(event, Rendering.IRC) == f":alice!alice@tcpchat MODE #dev {mode}\r\n".encode()
        )


def test_a_mode_the_server_tells_comes_from_the_server() -> None:
    """An op or deop with no operator's nick (a cluster node telling a joiner how the room
    stands) is a MODE from the server's name, as after a netsplit."""
    op = ModeChange(3, TS, "", "#dev", "op", "bob")
    assert ENCODER(op, Rendering.IRC) == b":My.Little.Server MODE #dev +o bob\r\n"
    deop = ModeChange(4, TS, "", "#dev", "deop", "bob")
    assert ENCODER(deop, Rendering.IRC) == b":My.Little.Server MODE #dev -o bob\r\n"
