"""The stream helpers the servers share, on real sockets."""

from __future__ import annotations

import asyncio

from tcpchat.net.streams import drop_drain_deque


async def test_a_stream_with_its_drain_deque_dropped_still_drains() -> None:
    """With a list for its drain waiters, a writer paused by a full buffer drains once read."""
    served: asyncio.Future[asyncio.StreamWriter] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        drop_drain_deque(writer)
        served.set_result(writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, client = await asyncio.open_connection("127.0.0.1", port)
    writer = await served
    try:
        writer.transport.set_write_buffer_limits(high=1)
        writer.write(b"x" * 4_000_000)  # past the kernel's buffers: writing pauses
        drained = asyncio.ensure_future(writer.drain())
        assert await reader.readexactly(4_000_000) == b"x" * 4_000_000
        await drained
    finally:
        for stream in (writer, client):
            stream.close()
        server.close()
        await server.wait_closed()
