"""A front end for tests: lines typed from the test, everything shown recorded as plain text."""

from __future__ import annotations

import asyncio
import re

from tcpchat.tui.display import Shown, plain

#: How long a test waits for a line to be shown before it fails.
SHOW_TIMEOUT = 5.0


class ScriptedFrontend:
    """Implements :class:`tcpchat.tui.terminal.Frontend`; the test types with :meth:`type`."""

    def __init__(self, *, interactive: bool = True) -> None:
        self._interactive = interactive
        self._typed: asyncio.Queue[str | None] = asyncio.Queue()
        self.shown: list[str] = []  # every line shown so far, as plain text
        self.alerts: list[str] = []  # the lines that rang the bell
        self.refreshes = 0
        self.concealed = False  # whether typed lines would be hidden now
        self.ever_concealed = False
        self._news = asyncio.Event()

    @property
    def interactive(self) -> bool:
        return self._interactive

    def type(self, *lines: str) -> None:
        for line in lines:
            self._typed.put_nowait(line)

    def press_ctrl_d(self) -> None:
        self._typed.put_nowait(None)

    async def read_line(self) -> str | None:
        return await self._typed.get()

    def show(self, shown: Shown) -> None:
        lines = [plain(line) for line in shown.lines]
        self.shown += lines
        if shown.alert:
            self.alerts += lines
        self._news.set()

    async def wait_for_room(self) -> None:
        pass  # a list never falls behind

    def refresh(self) -> None:
        self.refreshes += 1

    def close_input(self) -> None:
        self._typed.put_nowait(None)

    def conceal_input(self, concealed: bool) -> None:
        self.concealed = concealed
        self.ever_concealed = self.ever_concealed or concealed

    async def expect(self, pattern: str, timeout: float = SHOW_TIMEOUT) -> str:
        """Wait until a line matching ``pattern`` (a regex, searched) has been shown."""
        regex = re.compile(pattern)
        async with asyncio.timeout(timeout):
            while True:
                for line in self.shown:
                    if regex.search(line):
                        return line
                self._news.clear()
                await self._news.wait()
