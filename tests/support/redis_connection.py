"""Stand-ins for a redis-py connection whose socket a cluster node reads itself
(``cluster_reading.ReplyReader.take_over``): what the node asks of it, and what it wrote."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


class StandInTransport:
    """What the reader needs of a transport, and what it did with it."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False
        self.protocol: Any = None

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


class StandInStream:
    """What the reader asks of redis-py's stream reader: whether it saw the end."""

    def __init__(self, *, ended: bool = False) -> None:
        self.ended = ended

    def at_eof(self) -> bool:
        return self.ended

    def exception(self) -> Exception | None:
        return None


def connection_on(transport: StandInTransport, *, ended: bool = False) -> Any:
    """A stand-in for redis-py's connection: its stream writer's transport, its reader."""
    return SimpleNamespace(
        _writer=SimpleNamespace(transport=transport), _reader=StandInStream(ended=ended)
    )
