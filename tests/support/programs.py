"""tcpchat run as a real program: a subprocess driven through its stdin and stdout."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Mapping, Sequence

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


async def start_server(
    *argv: str,
    env: Mapping[str, str],
    python: Sequence[str] = ("-m", "tcpchat"),
    said: list[str] | None = None,
) -> tuple[asyncio.subprocess.Process, int]:
    """Start ``python -m tcpchat serve ARGV`` (or ``python PYTHON serve ARGV``) on a free port.

    Returns once the server says it is listening, with its port; stderr stays
    piped for the rest, stdout too. The caller ends the process. ``said``, if
    given, gets the lines the server wrote to stderr up to then.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *python,
        *("serve", "--port", "0", *argv),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
    )
    assert process.stderr is not None
    seen: list[str] = [] if said is None else said
    try:
        async with asyncio.timeout(WAIT):
            while True:  # other start-up lines (warnings about optional features) may come first
                line = (await process.stderr.readline()).decode()
                assert line, f"the server exited before listening: {seen}"
                seen.append(line)
                match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
                if match:
                    return process, int(match.group(1))
    except BaseException:
        process.kill()
        await process.communicate()
        raise
