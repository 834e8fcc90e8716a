"""The web door's framer: JSON lines become one text frame each, framed once a line."""

from __future__ import annotations

from websockets.frames import Frame, Opcode

from tcpchat.server.web import FRAMED_LINES_KEPT, Framer


def frame(line: bytes) -> bytes:
    return Frame(Opcode.TEXT, line).serialize(mask=False)


def test_each_line_is_one_unmasked_text_frame() -> None:
    """Two lines in, two frames out, in order; nothing for no line."""
    framer = Framer()
    assert framer.frames(b'{"a": 1}\n{"b": 2}\n') == frame(b'{"a": 1}') + frame(b'{"b": 2}')
    assert framer.frames(b"") == b""


def test_a_senders_bytes_reuse_the_frames_of_the_rooms_lines() -> None:
    """The room's lines cut around a sender's own (other bytes objects) get the same frames,
    and a line already framed is not framed again."""
    framer = Framer()
    room = b"1\n2\n3\n"
    assert framer.frames(room) == frame(b"1") + frame(b"2") + frame(b"3")
    framed_two = framer._lines[b"2"]
    cut = b"1\n" + b"3\n"  # what the sender of line 2 is owed
    assert framer.frames(cut) == frame(b"1") + frame(b"3")
    assert framer._lines[b"2"] is framed_two


def test_the_remembered_frames_are_bounded() -> None:
    """Past FRAMED_LINES_KEPT remembered lines the framer starts afresh."""
    framer = Framer()
    for number in range(FRAMED_LINES_KEPT + 10):
        framer.frames(f"{number}\n".encode())
    assert len(framer._lines) <= FRAMED_LINES_KEPT + 1
