"""A TCP proxy on loopback that can hold a connection's bytes in the network."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class _Link:
    """One connection through the proxy: the client's side and the server's."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    addr: str  # the server's name for it: the proxy's end, "127.0.0.1:PORT"
    held: bool = False
    kept: list[bytes] = field(default_factory=list)  # what it holds, on its way to the server
    client_gone: bool = False


class HoldingProxy:
    """Passes bytes both ways between each client and a connection of its own to the server
    at ``server_port``. :meth:`hold` keeps what a client sends on one connection instead of
    passing it on, as a cut network keeps the bytes it was carrying: the client may close
    its side, and the proxy's side to the server stays open with them. :meth:`release`
    delivers them then."""

    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self.port = 0
        self._links: list[_Link] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Server | None = None

    async def start(self) -> None:
        self._listener = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._listener.sockets[0].getsockname()[1]

    def hold(self, addr: str) -> None:
        """Hold what goes to the server on the connection the server knows as ``addr`` (the
        newest, should a port have been used twice)."""
        [*_, link] = [link for link in self._links if link.addr == addr]
        link.held = True

    async def release(self, addr: str | None = None) -> None:
        """Deliver what was held (on the connection ``addr`` alone, if given), as the
        network would once it carries it again."""
        for link in self._links:
            if not link.held or (addr is not None and link.addr != addr):
                continue
            link.held = False
            kept, link.kept = b"".join(link.kept), []
            with contextlib.suppress(OSError):
                link.server.write(kept)
                await link.server.drain()
            if link.client_gone:
                link.server.close()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
        for link in self._links:
            link.client.close()
            link.server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for link in self._links:
            for writer in (link.client, link.server):
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(
                "127.0.0.1", self.server_port
            )
        except OSError:
            writer.close()
            return
        host, port = server_writer.get_extra_info("sockname")[:2]
        link = _Link(writer, server_writer, f"{host}:{port}")
        self._links.append(link)
        for pump in (self._to_server(reader, link), self._to_client(server_reader, link)):
            task = asyncio.create_task(pump)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _to_server(self, reader: asyncio.StreamReader, link: _Link) -> None:
        try:
            while data := await reader.read(65536):
                if link.held:
                    link.kept.append(data)
                else:
                    link.server.write(data)
                    await link.server.drain()
        except OSError:  # the server's side went: the other pump ends the client's
            return
        link.client_gone = True
        if not link.held:  # (held: the bytes are still on their way, and so is the end)
            link.server.close()

    async def _to_client(self, reader: asyncio.StreamReader, link: _Link) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if not link.client.is_closing():
                    link.client.write(data)
        link.client.close()


@contextlib.asynccontextmanager
async def holding_proxy(server_port: int) -> AsyncIterator[HoldingProxy]:
    """A :class:`HoldingProxy` in front of the server at ``server_port``, closed afterwards."""
    proxy = HoldingProxy(server_port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
