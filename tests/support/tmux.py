"""A real terminal for end-to-end tests: tmux runs a program, a test types and reads the screen.

tmux gives no event when its screen changes, so :meth:`Tmux.wait_for_screen`
polls ``capture-pane`` under a deadline; nothing here depends on how fast
the machine is.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

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
