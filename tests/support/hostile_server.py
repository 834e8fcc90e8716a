"""A fake tcpchat server that sends whatever a test wants, hostile text included."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence


@contextlib.asynccontextmanager
async def hostile_server(
    events: Sequence[Mapping[str, object] | str], *, welcome: bool = True
) -> AsyncIterator[int]:
    """A fake server that greets, acknowledges JSON and welcomes anyone as alice (or, if
    not ``welcome``, never answers a nickname); any chat line then makes it send
    ``events``: a dict as JSON (with an ``id`` and ``ts`` unless it has its own), a str
    as the very line."""

    connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections[task] = writer
        writer.write(b"\x1b]0;greeting title\x07 hello\n")
        ts = "2026-01-01T00:00:00.000Z"
        with contextlib.suppress(ConnectionError):
            await answer(reader, writer, ts)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ts: str) -> None:
        while line := await reader.readline():
            if line.startswith(b"/format"):
                document: dict[str, object] = {"type": "notice", "text": "format: json"}
            elif line.startswith(b"/nick") and welcome:
                document = {"type": "welcome", "nick": "alice", "users": ["alice"]}
            elif line.startswith(b"/"):
                continue
            else:
                for event in events:
                    if isinstance(event, str):
                        writer.write(event.encode() + b"\n")
                    else:
                        writer.write(json.dumps({"id": 2, "ts": ts, **event}).encode() + b"\n")
                continue
            writer.write(json.dumps({**document, "id": 1, "ts": ts}).encode() + b"\n")

    fake = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(fake.sockets[0].getsockname()[1])
    finally:
        fake.close()
        for writer in connections.values():
            writer.close()  # the handler reads the end of its stream and returns
        if connections:
            await asyncio.wait(connections, timeout=5)
        await fake.wait_closed()
