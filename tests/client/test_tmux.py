"""End to end in a real terminal: tmux runs `tcpchat connect`, types into it and reads the screen.

tmux gives no event when its screen changes, so :meth:`Tmux.wait_for_screen`
polls ``capture-pane`` under a deadline; nothing here depends on how fast
the machine is.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tcpchat.server.chat import ChatServer
from tests.conftest import ClientFactory
from tests.support.components import needs
from tests.support.hostile_server import hostile_server

pytestmark = needs("tmux")

SCREEN_TIMEOUT = 10.0
POLL_INTERVAL = 0.05


class Tmux:
    """One private tmux server (its own socket), holding one session (120x30 unless told)."""

    def __init__(self, socket_name: str, environ: dict[str, str]) -> None:
        self.socket_name = socket_name
        self.environ = environ

    async def run(self, *args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            "tmux",
            "-L",
            self.socket_name,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.environ,
        )
        out, err = await process.communicate()
        if process.returncode != 0:
            raise AssertionError(f"tmux {args!r} failed: {err.decode()}")
        return out.decode()

    async def start(self, command: str, *, width: int = 120) -> None:
        await self.run("new-session", "-d", "-x", str(width), "-y", "30", command)

    async def screen(self) -> list[str]:
        return (await self.run("capture-pane", "-p")).splitlines()

    async def wait_for_screen(self, *patterns: str) -> list[str]:
        """Capture the pane until lines match ``patterns``, in that order; return the screen.

        Several patterns make one condition on one capture, so that a screen caught
        half-way through a redraw does not count.
        """
        regexes = [re.compile(pattern) for pattern in patterns]
        lines: list[str] = []
        try:
            async with asyncio.timeout(SCREEN_TIMEOUT):
                while True:
                    lines = await self.screen()
                    if _in_order(lines, regexes):
                        return lines
                    await asyncio.sleep(POLL_INTERVAL)
        except TimeoutError:
            screen = "\n".join(lines)
            raise AssertionError(f"{patterns!r} never appeared; the screen:\n{screen}") from None

    async def type(self, text: str) -> None:
        await self.run("send-keys", "-l", text)

    async def press(self, key: str) -> None:
        await self.run("send-keys", key)

    async def pane_title(self) -> str:
        return (await self.run("display-message", "-p", "#{pane_title}")).strip()


def _in_order(lines: list[str], regexes: list[re.Pattern[str]]) -> bool:
    """Whether each regex matches a line, each one below the line the previous matched."""
    remaining = iter(lines)
    return all(any(regex.search(line) for line in remaining) for regex in regexes)


def connect_alice(port: int) -> str:
    """The shell command that runs ``tcpchat connect --nick alice`` against ``port``."""
    return shlex.join(
        [sys.executable, "-m", "tcpchat", "connect", "--port", str(port), "--nick", "alice"]
    )


@pytest.fixture
async def tmux(tmp_path: Path) -> AsyncIterator[Tmux]:
    """A tmux server of its own, killed after the test whatever happened."""
    environ = {**os.environ, "XDG_STATE_HOME": str(tmp_path), "TERM": "xterm-256color"}
    environ.pop("TMUX", None)
    terminal = Tmux(f"tcpchat-test-{uuid.uuid4().hex[:12]}", environ)
    try:
        yield terminal
    finally:
        process = await asyncio.create_subprocess_exec(
            "tmux",
            "-L",
            terminal.socket_name,
            "kill-server",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await process.wait()


async def test_client_in_a_real_terminal(
    server: ChatServer, client: ClientFactory, tmux: Tmux
) -> None:
    """Typing is never disturbed by arriving messages; Enter sends; no title change; /exit is 0."""
    bob = await client("bob")
    command = connect_alice(server.port)
    await tmux.start(f'{command}; echo "[exited $?]"; exec sleep 600')
    await tmux.wait_for_screen(r"\*\*\* Welcome, alice! 2 users online: alice, bob")
    await tmux.wait_for_screen(r"alice \| 2 online \| #lobby \| connected")  # the toolbar
    title_before = await tmux.pane_title()

    await tmux.type("half-way thro")
    await tmux.wait_for_screen(r"^alice #lobby> half-way thro$")
    await bob.send("a message while alice types")
    # The message lands above the input line, and the half-typed input is intact.
    await tmux.wait_for_screen(
        r"<bob> a message while alice types$", r"^alice #lobby> half-way thro$"
    )

    await tmux.type("ugh")
    await tmux.press("Enter")
    await bob.expect(r"<alice> half-way through$")
    await tmux.wait_for_screen(r"\] <alice> half-way through$")

    await bob.send("\x1b]0;PWNED\x07\x1b]2;PWNED\x07 title attempt")
    await tmux.wait_for_screen(r"<bob>\s+title attempt$")
    assert await tmux.pane_title() == title_before
    assert not any("PWNED" in line for line in await tmux.screen())

    await tmux.type("/exit")
    await tmux.press("Enter")
    await tmux.wait_for_screen(r"^\[exited 0\]$")
    await bob.expect(r"\*\*\* alice left \(quit\)")


async def test_narrow_terminal_keeps_the_connection_state(server: ChatServer, tmux: Tmux) -> None:
    """In a terminal 24 columns wide the toolbar still ends with the connection state."""
    await tmux.start(connect_alice(server.port), width=24)
    await tmux.wait_for_screen(r"^ 1 online \| connected\s*$")


async def test_ctrl_c_clears_the_line_and_then_leaves(
    server: ChatServer, client: ClientFactory, tmux: Tmux
) -> None:
    """Ctrl-C clears a half-typed line and the client stays; at an empty prompt it leaves."""
    bob = await client("bob")
    command = connect_alice(server.port)
    await tmux.start(f'{command}; echo "[exited $?]"; exec sleep 600')
    await tmux.wait_for_screen(r"\*\*\* Welcome, alice!")
    await tmux.type("half-typed words")
    await tmux.wait_for_screen(r"^alice #lobby> half-typed words$")
    await tmux.press("C-c")
    await tmux.wait_for_screen(r"^alice #lobby>\s*$")
    await tmux.type("still here")
    await tmux.press("Enter")
    await bob.expect(r"<alice> still here$")
    await tmux.press("C-c")
    await tmux.wait_for_screen(r"^\[exited 0\]$")
    await bob.expect(r"\*\*\* alice left")


async def test_hostile_server_cannot_reach_the_terminal(tmux: Tmux) -> None:
    """Title, clipboard and screen-clearing sequences sent by a server are not obeyed."""
    hostile: list[dict[str, object]] = [
        {"type": "message", "nick": "mallory", "text": "\x1b]0;PWNED\x07\x1b]2;PWNED\x07one"},
        {"type": "notice", "text": "\x1b]52;c;UFdORUQ=\x07two\x1b[2J\x1b[H"},
        {"type": "message", "nick": "mallory", "text": "\u202ethree\x1bc"},
    ]
    async with hostile_server(hostile) as port:
        await tmux.start(connect_alice(port))
        await tmux.wait_for_screen(r"\*\*\* Welcome, alice!")
        title_before = await tmux.pane_title()
        await tmux.type("go")
        await tmux.press("Enter")
        screen = await tmux.wait_for_screen(r"<alice> go$", r"<mallory> one$", r"\*\*\* two$")
        await tmux.wait_for_screen(r"<alice> go$", r"<mallory> three$", r"^alice>\s*$")
        assert await tmux.pane_title() == title_before
        assert not any("PWNED" in line for line in screen)


#: Lines a flooding server sends at once.
FLOOD_LINES = 20_000
#: How soon /exit typed during a flood must end the client.
EXIT_DURING_FLOOD_TIMEOUT = 5.0


async def test_exit_typed_during_a_flood_ends_the_client_promptly(tmux: Tmux) -> None:
    """A server flooding 20,000 lines neither wedges the keyboard nor delays /exit."""
    flood: list[dict[str, object]] = [
        {"type": "message", "nick": "mallory", "text": f"flood {number}"}
        for number in range(FLOOD_LINES)
    ]
    async with hostile_server(flood) as port:
        command = connect_alice(port)
        await tmux.start(f'{command}; echo "[exited $?]"; exec sleep 600')
        await tmux.wait_for_screen(r"\*\*\* Welcome, alice!")
        await tmux.type("go")
        await tmux.press("Enter")
        await tmux.wait_for_screen(r"<mallory> flood \d+$")
        started = asyncio.get_running_loop().time()
        await tmux.type("/exit")
        await tmux.press("Enter")
        await tmux.wait_for_screen(r"^\[exited 0\]$")
        assert asyncio.get_running_loop().time() - started < EXIT_DURING_FLOOD_TIMEOUT


async def test_rooms_in_a_real_terminal(
    server: ChatServer, client: ClientFactory, tmux: Tmux
) -> None:
    """Joining #dev moves the prompt and toolbar there; talk stays in #dev; a #lobby line
    is marked and counted unread; Ctrl-P goes back to #lobby and clears the count."""
    bob = await client("bob")  # only ever in #lobby
    carol = await client("carol")
    await carol.send("/join #dev", "/part #lobby")  # only in #dev
    await carol.expect(r"\*\*\* you are now talking in #dev")
    await tmux.start(connect_alice(server.port))
    await tmux.wait_for_screen(r"^alice #lobby>\s*$", r"alice \| 2 online \| #lobby \| connected")

    await tmux.type("/join #dev")
    await tmux.press("Enter")
    await tmux.wait_for_screen(
        r"\*\*\* you are now talking in #dev",
        r"^alice #dev>\s*$",
        r"alice \| 2 in #dev \| #lobby #dev \| connected",
    )
    await carol.expect(r"\*\*\* alice joined$")

    await tmux.type("hello dev")
    await tmux.press("Enter")
    await carol.expect(r"\] <alice> hello dev$")
    await tmux.wait_for_screen(r"\] <alice> hello dev$")
    # Bob hears alice's next line in #lobby, and nothing of #dev before it.
    await tmux.type("/msg #lobby hello lobby")
    await tmux.press("Enter")
    await bob.expect(r"\] <alice> hello lobby$")
    await tmux.wait_for_screen(r"\] #lobby <alice> hello lobby$")
    assert not any("hello dev" in line for line in bob.seen)

    await bob.send("psst, alice")
    await tmux.wait_for_screen(r"\] #lobby <bob> psst, alice$", r"\| #lobby\(1\) #dev \|")

    await tmux.press("C-p")
    await tmux.wait_for_screen(
        r"\*\*\* you are now talking in #lobby",
        r"^alice #lobby>\s*$",
        r"alice \| 2 in #lobby \| #lobby #dev \| connected",
    )
    await carol.send("still here")
    await tmux.wait_for_screen(r"\] #dev <carol> still here$", r"\| #lobby #dev\(1\) \|")
