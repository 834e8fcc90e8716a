"""A cluster node's two connections on every line's path, where each reply is acted on as it
arrives: the one that reads the streams (``XREAD``) and the one that takes the append
scripts (their answers).

redis-py makes each connection: TCP or TLS, the password, the protocol's handshake, the
client's name. Then :class:`ReplyReader` takes its socket over. Read through redis-py,
every reply woke a task a loop pass after its bytes came, went up through four layers of
redis-py's calls, and set and cancelled a timer: about ninety Python calls and a loop pass
more a reply, on every node, for every line said in a room, each paid cold after the
line's fan-out. Here hiredis parses the bytes in ``data_received`` and the node acts on
the reply in that same pass (docs/scaling-measured.md, "The reading connection" and "The scripts'
connection").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import hiredis

#: What a reply in the protocol's push form is (RESP3: an invalidation, a notice from a
#: managed Redis). Nobody asked for it: it is not a reply.
PUSH = hiredis.PushNotification
#: A reply of Redis's that is an error ("-ERR ...").
ErrorReply = hiredis.ReplyError
#: What hiredis says while a reply is not all there yet (RESP3 has a false of its own).
INCOMPLETE = object()


class ReplyReader(asyncio.Protocol):
    """Replies on one connection, each handed to ``on_reply(reader, reply)`` as soon as
    hiredis has all of it; ``on_lost(reader, error)`` once when the connection goes (a
    reply that is not RESP included). A reply Redis answered with an error is handed on as
    a :class:`hiredis.ReplyError`."""

    def __init__(
        self,
        on_reply: Callable[[ReplyReader, Any], None],
        on_lost: Callable[[ReplyReader, Exception | None], None],
    ) -> None:
        # (A value that is not UTF-8, which no node writes, is read with U+FFFD: raised,
        # it would end the connection, and every reconnection would read it again.)
        self._parser = hiredis.Reader(encoding="utf-8", errors="replace", notEnoughData=INCOMPLETE)
        self._on_reply = on_reply
        self._on_lost = on_lost
        # (asyncio's, or uvloop's, which does not subclass asyncio.Transport.)
        self._transport: asyncio.Transport | None = None
        self._lost = False

    @classmethod
    def take_over(
        cls,
        connection: Any,
        on_reply: Callable[[ReplyReader, Any], None],
        on_lost: Callable[[ReplyReader, Exception | None], None],
    ) -> ReplyReader:
        """Read ``connection`` (redis-py's, connected, with nothing on its way) from now
        on. redis-py no longer reads it: close it with ``disconnect(nowait=True)``, which
        does not wait for its own reader to see the end."""
        transport: asyncio.Transport = connection._writer.transport
        reader = cls(on_reply, on_lost)
        reader._transport = transport
        transport.set_protocol(reader)
        # Ended already, while redis-py was reading it (its handshake's last reply, then
        # Redis gone): reported as any end is, once the caller holds the reader.
        stream = connection._reader
        if stream.at_eof() or stream.exception() is not None or transport.is_closing():
            asyncio.get_running_loop().call_soon(reader._end, None)
        return reader

    @property
    def ended(self) -> bool:
        """Whether the connection has gone (or is going): what is sent now goes nowhere."""
        transport = self._transport
        return self._lost or transport is None or transport.is_closing()

    def send(self, data: bytes) -> None:
        """Write ``data`` (a packed command). On a connection that has gone, nothing: its
        end is reported once, through ``on_lost``."""
        if not self.ended:
            assert self._transport is not None
            self._transport.write(data)

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        while not self._lost:
            try:
                reply = self._parser.gets()
            except hiredis.ProtocolError as exc:
                self._end(exc)
                return
            if reply is INCOMPLETE:
                return
            if not isinstance(reply, PUSH):
                self._on_reply(self, reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(exc)

    def _end(self, error: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        if self._transport is not None:
            self._transport.close()
        self._on_lost(self, error)
