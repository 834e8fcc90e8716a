"""A raw WebSocket client of the web front door, for tests that need to misbehave.

It drives websockets' Sans-I/O client over a plain socket, so a test decides
everything: the ``Origin`` it sends, frames written at once without waiting
(a flood), binary frames, a tiny receive buffer and never reading (a stalled
member). Like :class:`~tests.support.helpers.LineClient`, it waits on frames,
never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import CONNECTING
from websockets.typing import Origin
from websockets.uri import parse_uri

from tests.support.helpers import REPLY_TIMEOUT

#: What ``connect`` sends as ``Origin`` unless told otherwise: the page's own.
OWN_ORIGIN = "own"


class HandshakeRefused(Exception):
    """The server answered the WebSocket handshake with something other than 101."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"HTTP {response.status_code}: {response.body!r}")
        self.response = response


class WebSocketClient:
    """One WebSocket connection to ``/ws``: lines out as text frames, JSON events in."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        protocol: ClientProtocol,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = protocol
        self.seen: list[dict[str, Any]] = []  # every event received so far, in order
        self.frames: list[Frame] = []  # every frame the server sent, of any kind, in order
        self._frames: list[Frame] = []

    @classmethod
    async def connect(
        cls,
        port: int,
        *,
        origin: str | None = OWN_ORIGIN,
        path: str = "/ws",
        receive_buffer: int | None = None,
    ) -> WebSocketClient:
        """Open ``ws://127.0.0.1:PORT/ws``; raise :class:`HandshakeRefused` if it is not accepted.

        ``origin`` is the ``Origin`` header (None: none, as a program sends);
        ``receive_buffer`` makes the socket's receive buffer that small.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
        if origin == OWN_ORIGIN:
            origin = f"http://127.0.0.1:{port}"
        protocol = ClientProtocol(
            parse_uri(f"ws://127.0.0.1:{port}{path}"),
            origin=None if origin is None else Origin(origin),
            max_size=None,
        )
        client = cls(reader, writer, protocol)
        try:
            protocol.send_request(protocol.connect())
            client._flush()
            async with asyncio.timeout(REPLY_TIMEOUT):
                while protocol.state is CONNECTING and protocol.handshake_exc is None:
                    if not await client._receive():
                        raise ConnectionError("closed during the WebSocket handshake")
        except BaseException:
            await client.close()
            raise
        if protocol.handshake_exc is not None:
            await client.close()
            if isinstance(protocol.handshake_exc, InvalidStatus):
                raise HandshakeRefused(protocol.handshake_exc.response)
            raise protocol.handshake_exc
        return client

    def send(self, *lines: str) -> None:
        """Send each line as one text frame, written at once (no waiting for the server)."""
        for line in lines:
            self.protocol.send_text(line.encode())
        self._flush()

    def send_binary(self, data: bytes) -> None:
        self.protocol.send_binary(data)
        self._flush()

    async def next_event(self, timeout: float = REPLY_TIMEOUT) -> dict[str, Any] | None:
        """The next event (one JSON text frame), or None once the server has closed."""
        async with asyncio.timeout(timeout):
            while True:
                if self._frames:
                    frame = self._frames.pop(0)
                    event: dict[str, Any] = json.loads(bytes(frame.data))
                    self.seen.append(event)
                    return event
                if not await self._receive():
                    return None

    async def expect_json(self, type_: str, timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
        """Read events until one of type ``type_`` arrives; return it."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next_event(timeout)
                if event is None:
                    raise AssertionError(f"closed while waiting for {type_!r}; saw {self.seen!r}")
                if event["type"] == type_:
                    return event

    async def expect_close(self, timeout: float = REPLY_TIMEOUT) -> Close | None:
        """Read until the server closes; its close frame (None: it closed without one)."""
        async with asyncio.timeout(timeout):
            while await self.next_event(timeout) is not None:
                pass
        return self.protocol.close_rcvd

    async def register(self, nick: str) -> dict[str, Any]:
        """Choose ``nick`` after the greeting, and return the welcome."""
        await self.expect_json("notice")
        self.send(nick)
        return await self.expect_json("welcome")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()

    async def _receive(self) -> bool:
        """Read once and parse; False at the end of the stream."""
        try:
            data = await self.reader.read(1 << 16)
        except ConnectionError:
            data = b""
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                self.frames.append(event)
                if event.opcode is Opcode.TEXT:
                    self._frames.append(event)
        self._flush()
        return bool(data)

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk and not self.writer.transport.is_closing():
                self.writer.write(chunk)
