"""The test client's own behaviour, where a failure's message is what a CI log keeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.support.helpers import LineClient


@pytest.fixture
async def greeting_port() -> AsyncIterator[int]:
    """A server on loopback that says two lines to each connection, then nothing more."""

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'hello\n{"type": "notice"}\n')
        await writer.drain()
        await reader.read()  # until the client goes
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def test_a_wait_that_times_out_says_what_came_instead(greeting_port: int) -> None:
    client = await LineClient.connect(greeting_port)
    try:
        with pytest.raises(AssertionError) as failed:
            await client.expect(r"^goodbye$", timeout=0.2)
        assert str(failed.value) == (
            "nothing matched '^goodbye$' within 0.2 s; the last lines read:\n"
            '  hello\n  {"type": "notice"}'
        )
        with pytest.raises(AssertionError) as failed:
            await client.expect_json("welcome", timeout=0.2)
        assert str(failed.value).startswith("nothing matched type 'welcome' within 0.2 s;")
    finally:
        await client.close()
