"""tcpchat run as a real program: a subprocess driven through its stdin and stdout."""

from __future__ import annotations

import asyncio
import re

#: Seconds to wait for a program's next line, or for it to exit.
WAIT = 10.0


class Program:
    """A tcpchat subprocess with piped stdin and stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output: list[str] = []

    def type(self, *lines: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("".join(line + "\n" for line in lines).encode())

    async def expect(self, pattern: str) -> re.Match[str]:
        """Read stdout lines until one matches ``pattern``."""
        assert self.process.stdout is not None
        regex = re.compile(pattern)
        async with asyncio.timeout(WAIT):
            while True:
                raw = await self.process.stdout.readline()
                if not raw:
                    raise AssertionError(f"EOF waiting for {pattern!r}; saw {self.output!r}")
                line = raw.decode().rstrip("\n")
                self.output.append(line)
                if match := regex.search(line):
                    return match

    async def exit_status(self) -> int:
        async with asyncio.timeout(WAIT):
            assert self.process.stdout is not None
            self.output += (await self.process.stdout.read()).decode().splitlines()
            return await self.process.wait()
