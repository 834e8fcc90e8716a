"""End to end in a real terminal: tmux runs `tcpchat connect`, types into it and reads the screen.

The terminal itself is tests/support/tmux.py.
"""

from __future__ import annotations

import asyncio
import shlex
import sys

from tcpchat.server.chat import ChatServer
from tests.conftest import ClientFactory
from tests.support.components import needs
from tests.support.hostile_server import hostile_server
from tests.support.tmux import Tmux, tmux

__all__ = ["tmux"]  # the fixture used here

pytestmark = needs("tmux")


def connect_alice(port: int) -> str:
    """The shell command that runs ``tcpchat connect --nick alice`` against ``port``."""
    return shlex.join(
        [sys.executable, "-m", "tcpchat", "connect", "--port", str(port), "--nick", "alice"]
    )


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
