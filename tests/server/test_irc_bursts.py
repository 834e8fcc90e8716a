"""IRC clients that type faster than they read: seeded bursts of joins, parts, kicks and
nick changes, each sent in one write. Each client keeps its channels' nick lists as an IRC
client does, from what it is told alone; afterwards each list must match a fresh NAMES."""

from __future__ import annotations

import random

import pytest

from tcpchat.config import ServerSettings
from tests.support.irc_client import SERVER_NAME, IrcFactory, irc, irc_server
from tests.support.irc_view import stale_channels

__all__ = ["irc", "irc_server"]  # the fixtures used here

MEMBERS = 4
BURSTS = 8
#: What a member may send in a burst: {me} is its own first nick, {other} the next one's.
COMMANDS = (
    "JOIN #a", "JOIN #b", "JOIN #a,#b", "JOIN 0", "PART #a", "PART #b :bye", "PART #a,#b",
    "NICK {me}x", "NICK {me}", "KICK #a {other} :out", "KICK #b {other}",
    "MODE #a +o {other}", "PRIVMSG #a :hi",
)  # fmt: skip


@pytest.fixture
def irc_settings() -> ServerSettings:
    """IRC on, and no flood control: the bursts arrive as fast as they are typed."""
    return ServerSettings(
        host="127.0.0.1", port=0, irc_port=0, server_name=SERVER_NAME, flood_control=False
    )


@pytest.mark.parametrize("seed", range(6))
async def test_channel_lists_kept_from_what_is_told_end_true(irc: IrcFactory, seed: int) -> None:
    rng = random.Random(seed)
    nicks = [f"v{n}" for n in range(MEMBERS)]
    members = [await irc(nick) for nick in nicks]
    for _ in range(BURSTS):
        for n, member in enumerate(members):
            me, other = nicks[n], nicks[(n + 1) % MEMBERS]
            burst = [rng.choice(COMMANDS).format(me=me, other=other) for _ in range(6)]
            await member.send(*burst[: rng.randint(1, 6)])
    for n, member in enumerate(members):
        await member.send(f"NICK {nicks[n]}", "JOIN #end")
        await member.expect(rf" 366 {nicks[n]} #end ")
    for n, member in enumerate(members):
        assert await stale_channels(member, nicks[n]) == []
