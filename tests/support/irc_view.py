"""What an IRC client believes about its channels, from the lines it was sent.

IRC clients keep each channel's nick list from NAMES and then from JOIN, PART,
KICK, NICK and QUIT alone; they never ask again. :class:`ChannelView` does the
same, so that a test can compare that belief with a fresh NAMES.
"""

from __future__ import annotations

import re

from tests.support.irc_client import SERVER_NAME, IrcClient, split_params

_SOURCE = re.compile(r"^(?:@\S+ )?:(\S+?)(?:!\S+)? (\S+) ?(.*)$")


class ChannelView:
    """The channels one client is in and who it believes is in each (nicks casefolded)."""

    def __init__(self, nick: str) -> None:
        self.nick = nick.lower()
        self.channels: dict[str, set[str]] = {}

    def read(self, lines: list[str]) -> None:
        for line in lines:
            match = _SOURCE.match(line)
            if match is not None:
                self._apply(match.group(1).lower(), match.group(2), split_params(match.group(3)))

    def _apply(self, source: str, command: str, params: list[str]) -> None:
        channel = params[0].lower() if params else ""
        if command == "JOIN":
            if source == self.nick:
                self.channels[channel] = set()
            self.channels.get(channel, set()).add(source)
        elif command == "353" and source == SERVER_NAME.lower():
            names = self.channels.get(params[2].lower())
            if names is not None:
                names.update(name.lstrip("@").lower() for name in params[3].split())
        elif command == "PART":
            self._gone(channel, source)
        elif command == "KICK":
            self._gone(channel, params[1].lower())
        elif command == "NICK":
            new = params[0].lower()
            if source == self.nick:
                self.nick = new
            for names in self.channels.values():
                if source in names:
                    names.discard(source)
                    names.add(new)
        elif command == "QUIT":
            for names in self.channels.values():
                names.discard(source)

    def _gone(self, channel: str, nick: str) -> None:
        if nick == self.nick:
            self.channels.pop(channel, None)
        else:
            self.channels.get(channel, set()).discard(nick)


async def stale_channels(client: IrcClient, nick: str) -> list[tuple[str, list[str], list[str]]]:
    """Each channel where what ``client`` (registered as ``nick``) believes from the lines
    it read differs from a fresh NAMES: (channel, believed, true), nicks casefolded."""
    await client.sync()
    view = ChannelView(nick)
    view.read(client.seen)
    stale = []
    for channel, believed in sorted(view.channels.items()):
        await client.send(f"NAMES {channel}")
        start = len(client.seen)
        await client.numeric("366")
        true = {
            name.lstrip("@").lower()
            for line in client.seen[start:]
            if " 353 " in line
            for name in split_params(line.split(" 353 ", 1)[1])[-1].split()
        }
        if believed != true:
            stale.append((channel, sorted(believed), sorted(true)))
    return stale
