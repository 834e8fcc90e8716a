"""An IRC client over a raw socket, like a bot's, and a server with its IRC door open."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tcpchat.config import ServerSettings
from tcpchat.server.chat import ChatServer
from tests.support.helpers import REPLY_TIMEOUT, LineClient

#: The server name the conformance suite sets, and the tests too.
SERVER_NAME = "My.Little.Server"


class IrcClient(LineClient):
    """A raw IRC client: lines end in CRLF both ways; replies are waited on, never slept for."""

    async def send(self, *lines: str) -> None:
        self.writer.write("".join(line + "\r\n" for line in lines).encode())
        await self.writer.drain()

    async def read_line(self, timeout: float = REPLY_TIMEOUT) -> str | None:
        line = await super().read_line(timeout)
        if line is None:
            return None
        self.seen[-1] = line = line.removesuffix("\r")
        return line

    async def register(self, nick: str, *, json_mode: bool = False) -> None:
        """NICK and USER, then wait for the end of the welcome (376 or 422)."""
        await self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick} the tester")
        await self.expect(r" (376|422) ")

    async def numeric(self, code: str, timeout: float = REPLY_TIMEOUT) -> list[str]:
        """Read until the numeric ``code`` arrives; return its parameters (without the source)."""
        match = await self.expect(rf"^(?:@\S+ )?:{re.escape(SERVER_NAME)} {code} (.*)$", timeout)
        return split_params(match.group(1))

    async def sync(self) -> list[str]:
        """Send PING and read until its PONG: every line the server sent before it, in order."""
        await self.send("PING :sync-mark")
        lines: list[str] = []
        while True:
            line = await self.read_line()
            if line is None:
                raise AssertionError(f"EOF before PONG; saw {lines!r}")
            if line.endswith("PONG My.Little.Server sync-mark"):
                return lines
            lines.append(line)


def split_params(rest: str) -> list[str]:
    """IRC parameters: words, then the trailing one after ' :'."""
    head, colon, trailing = rest.partition(" :")
    if rest.startswith(":"):
        return [rest[1:]]
    return head.split() + ([trailing] if colon else [])


IrcFactory = Callable[..., Awaitable[IrcClient]]
NativeFactory = Callable[[str], Awaitable[LineClient]]


@pytest.fixture
def irc_settings() -> ServerSettings:
    """A test server's settings with IRC on a port the kernel picks."""
    return ServerSettings(host="127.0.0.1", port=0, irc_port=0, server_name=SERVER_NAME)


@pytest.fixture
async def irc_server(irc_settings: ServerSettings) -> AsyncIterator[ChatServer]:
    async with ChatServer(irc_settings) as chat_server:
        yield chat_server


@pytest.fixture
async def irc(irc_server: ChatServer) -> AsyncIterator[IrcFactory]:
    """Open IRC clients: ``await irc()``, or ``await irc("bob")`` to register; all closed after."""
    opened: list[IrcClient] = []

    async def open_client(nick: str | None = None) -> IrcClient:
        client = await IrcClient.connect(irc_server.irc_port)
        opened.append(client)
        if nick is not None:
            await client.register(nick)
        return client

    yield open_client
    for client in opened:
        await client.close()


@pytest.fixture
async def native(irc_server: ChatServer) -> AsyncIterator[NativeFactory]:
    """Open native (``nc``-style) clients of the same server, registered as the nick given."""
    opened: list[LineClient] = []

    async def open_client(nick: str) -> LineClient:
        client = await LineClient.connect(irc_server.port)
        opened.append(client)
        await client.expect("Choose a nickname")
        await client.register(nick)
        return client

    yield open_client
    for client in opened:
        await client.close()
