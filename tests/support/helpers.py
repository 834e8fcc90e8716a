"""Test helpers: a line-oriented TCP client that waits on replies, never on sleeps."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any, Self

#: How long a test waits for an expected line before it fails.
REPLY_TIMEOUT = 5.0
#: How many of the last lines read a timed-out wait shows.
SHOWN_ON_TIMEOUT = 25

#: The 1:1 chat's "busy" refusal, as a text-mode client reads it.
BUSY_REFUSAL = re.compile(
    r"\[\d\d:\d\d:\d\d\] !!! the operator is already in a 1:1 chat; try again later"
)


class LineClient:
    """A raw TCP client of the chat server, speaking lines like ``nc`` would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.seen: list[str] = []  # every line received so far, in order

    @classmethod
    async def connect(
        cls, port: int, host: str = "127.0.0.1", *, source: str | None = None
    ) -> Self:
        """Connect to ``host``:``port``, from the address ``source`` if given (any of
        127.0.0.0/8 is this machine on Linux, so a test can be several addresses)."""
        local_addr = (source, 0) if source is not None else None
        reader, writer = await asyncio.open_connection(
            host, port, limit=1 << 20, local_addr=local_addr
        )
        return cls(reader, writer)

    async def send(self, *lines: str) -> None:
        self.writer.write("".join(line + "\n" for line in lines).encode())
        await self.writer.drain()

    async def send_bytes(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_line(self, timeout: float = REPLY_TIMEOUT) -> str | None:
        """The next line without its newline, or None at EOF."""
        async with asyncio.timeout(timeout):
            raw = await self.reader.readline()
        if not raw:
            return None
        line = raw.decode().rstrip("\n")
        self.seen.append(line)
        return line

    async def expect(self, pattern: str, timeout: float = REPLY_TIMEOUT) -> re.Match[str]:
        """Read lines until one matches ``pattern`` (a regex searched in the line)."""
        regex = re.compile(pattern)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = await self.read_line(timeout=timeout)
                    if line is None:
                        raise AssertionError(
                            f"EOF while waiting for {pattern!r}; saw {self.seen!r}"
                        )
                    match = regex.search(line)
                    if match:
                        return match
        except TimeoutError:
            raise self.timed_out(repr(pattern), timeout) from None

    async def expect_json(self, type_: str, timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
        """Read JSON lines until one of type ``type_`` arrives; return it."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = await self.read_line(timeout=timeout)
                    if line is None:
                        raise AssertionError(f"EOF while waiting for {type_!r}; saw {self.seen!r}")
                    if not line.startswith("{"):
                        continue
                    document: dict[str, Any] = json.loads(line)
                    if document["type"] == type_:
                        return document
        except TimeoutError:
            raise self.timed_out(f"type {type_!r}", timeout) from None

    def timed_out(self, wanted: str, timeout: float) -> AssertionError:
        """The failure of a wait for ``wanted`` that timed out, with the last lines read:
        a failure in CI, whose timing cannot be replayed, then says what came instead."""
        last = "\n  ".join(self.seen[-SHOWN_ON_TIMEOUT:]) or "(nothing)"
        return AssertionError(
            f"nothing matched {wanted} within {timeout} s; the last lines read:\n  {last}"
        )

    async def expect_eof(self, timeout: float = REPLY_TIMEOUT) -> list[str]:
        """Read until the server closes the connection; return the lines read meanwhile."""
        lines: list[str] = []
        async with asyncio.timeout(timeout):
            while True:
                try:
                    line = await self.read_line(timeout=timeout)
                except ConnectionError:
                    return lines
                if line is None:
                    return lines
                lines.append(line)

    async def register(self, nick: str, *, json_mode: bool = False) -> None:
        """Choose ``nick`` and wait for the welcome (optionally in the JSON rendering)."""
        if json_mode:
            await self.send("/format json")
            await self.expect_json("notice")
            await self.send(nick)
            await self.expect_json("welcome")
        else:
            await self.send(nick)
            await self.expect(rf"\*\*\* Welcome, {re.escape(nick)}!")
            await self.expect(r"/help lists the commands")  # the welcome's second line

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
