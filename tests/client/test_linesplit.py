"""Cutting overlong typed lines into lines the server accepts: plain calls, no sockets."""

from __future__ import annotations

import pytest

from tcpchat.client.linesplit import fit_line, split_text, utf8_length


def test_a_line_that_fits_is_left_alone() -> None:
    """A line within the limit comes back unchanged, whatever it is."""
    assert fit_line("hello", 10) == ["hello"]
    assert fit_line("/search why?", 12) == ["/search why?"]


def test_a_long_message_is_cut_at_spaces() -> None:
    """Words are not broken: each cut is at a space, which is dropped."""
    text = " ".join(f"word{number:02}" for number in range(20))
    pieces = fit_line(text, 30)
    assert pieces is not None
    assert all(utf8_length(piece) <= 30 for piece in pieces)
    assert " ".join(pieces) == text
    assert all(piece.startswith("word") and piece[-2:].isdigit() for piece in pieces)


def test_cjk_text_is_cut_between_characters_within_the_byte_limit() -> None:
    """Three-byte characters are never cut inside their UTF-8 sequence."""
    text = "漢字" * 3000  # 18,000 bytes, no spaces
    pieces = fit_line(text, 4096)
    assert pieces is not None
    assert len(pieces) == 5
    assert all(utf8_length(piece) <= 4096 for piece in pieces)
    assert "".join(pieces) == text


@pytest.mark.parametrize(
    "cluster",
    [
        "e\u0301",  # e and a combining acute accent
        "\U0001f44d\U0001f3fd",  # thumbs up, medium skin tone
        "\U0001f469\u200d\U0001f4bb",  # woman technologist: a zero-width-joined sequence
        "\U0001f1eb\U0001f1f7",  # the French flag: two regional indicators
        "\u2764\ufe0f",  # a heart with its emoji variation selector
    ],
)
def test_grapheme_clusters_are_kept_whole(cluster: str) -> None:
    """A cut never separates an accent, skin tone, joined emoji or flag from its base."""
    text = "x" + cluster * 100
    pieces = split_text(text, 50)
    assert "".join(pieces) == text
    for piece in pieces[1:]:
        assert piece.startswith(cluster)


def test_me_and_msg_keep_their_command_in_every_piece() -> None:
    """An overlong /me or /msg becomes several of the same command."""
    long_text = "la " * 30
    me = fit_line(f"/me sings {long_text}", 40)
    assert me is not None
    assert len(me) > 1
    assert all(piece.startswith("/me ") and utf8_length(piece) <= 40 for piece in me)
    msg = fit_line(f"/msg bob {long_text}", 40)
    assert msg is not None
    assert all(piece.startswith("/msg bob ") and utf8_length(piece) <= 40 for piece in msg)


def test_pieces_that_start_with_a_slash_stay_messages() -> None:
    """A piece of a message that starts with '/' is escaped as '//', not run as a command."""
    pieces = fit_line("a" * 10 + " /quit" + " b" * 3, 12)
    assert pieces is not None
    assert pieces == ["aaaaaaaaaa", "//quit b b b"]


def test_other_overlong_commands_are_refused() -> None:
    """A command that cannot be cut without changing its meaning is not cut."""
    assert fit_line("/search " + "why " * 20, 40) is None
    assert fit_line("/msg " + "b" * 50, 40) is None
