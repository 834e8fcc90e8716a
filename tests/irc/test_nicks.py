"""tcpchat's nicknames over IRC: which IRC allows, which tcpchat refuses."""

from __future__ import annotations

import pytest

from tcpchat.core.errors import InvalidNick
from tcpchat.irc.nicks import validate_irc_nick


@pytest.mark.parametrize("nick", ["alice", "1bob", "Zoë", "ẞ_-x", "李小龍"])
def test_tcpchat_nicknames_are_taken_over_irc(nick: str) -> None:
    """Letters of one script, digits (even first), '_' and '-' work over IRC."""
    assert validate_irc_nick(nick) == nick


def test_a_leading_dash_is_refused_over_irc() -> None:
    """-bob would be read as an option by irssi's and WeeChat's /msg."""
    with pytest.raises(InvalidNick, match="may not start with '-'"):
        validate_irc_nick("-bob")


@pytest.mark.parametrize("nick", ["nick[away]", "a|b", "^_^", "a.b", "x!y"])
def test_irc_nicknames_tcpchat_refuses_say_why(nick: str) -> None:
    """Characters IRC allows and tcpchat does not are refused with tcpchat's reason."""
    with pytest.raises(InvalidNick, match="only letters, digits"):
        validate_irc_nick(nick)
