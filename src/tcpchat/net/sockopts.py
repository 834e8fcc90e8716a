"""Socket options for accepted connections: TCP keepalive and the kernel send buffer.

**Keepalive** finds peers that vanished without a FIN. A laptop that closes
its lid or a NAT that forgets a mapping leaves the server with a connection
that will never deliver another byte. With keepalive on, the kernel probes a
connection after ``idle`` seconds of silence, every ``interval`` seconds, and
gives up after ``count`` unanswered probes: the next read then fails and the
connection's clean-up takes the member out of the room. With the defaults a
vanished peer is gone within 60 + 3 × 10 = 90 s.

**The send buffer** is the kernel's part of a client's outbound queue, on top
of the bytes tcpchat itself holds (bounded by ``max_queue_bytes``). Linux
sizes it by itself, up to ``net.ipv4.tcp_wmem``'s maximum (4 MiB by default);
``send_buffer_bytes`` fixes it instead, which bounds the kernel memory one
stalled client can pin and makes it reach the queue bound sooner.

**Set once, on the listening socket** (:class:`ConnectionTuning`). Linux copies
these options from a listening socket to every connection ``accept()`` makes,
so setting them on each connection was four or five system calls per
connection for nothing. Whether the kernel copies them is not assumed: the
first connection is checked against the listener, and if anything was not
copied (another platform), every connection has them set as before.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Protocol

#: Default seconds of silence before the first probe.
DEFAULT_KEEPALIVE_IDLE = 60

#: Default seconds between unanswered probes.
DEFAULT_KEEPALIVE_INTERVAL = 10

#: Default unanswered probes after which the peer counts as gone.
DEFAULT_KEEPALIVE_COUNT = 3


class _Socket(Protocol):
    """What tuning needs of a socket (asyncio hands out ``TransportSocket`` wrappers)."""

    def setsockopt(self, level: int, option: int, value: int, /) -> None: ...

    def getsockopt(self, level: int, option: int, /) -> int: ...


#: Where an option lives, which it is, and the value asked for.
_Option = tuple[int, int, int]


class ConnectionTuning:
    """A server's keepalive and send buffer, set on its listening sockets, checked once.

    Call :meth:`listen` on every listening socket and :meth:`accepted` on every
    connection. The first connection tells whether the kernel copied the
    listener's options to it; if it did, later connections cost nothing,
    else each gets the options set on it.
    """

    def __init__(
        self,
        idle: int = DEFAULT_KEEPALIVE_IDLE,
        interval: int = DEFAULT_KEEPALIVE_INTERVAL,
        count: int = DEFAULT_KEEPALIVE_COUNT,
        send_buffer: int = 0,
    ) -> None:
        idle_option = getattr(socket, "TCP_KEEPIDLE", None) or getattr(
            socket, "TCP_KEEPALIVE", None
        )
        wanted = [
            (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
            (socket.IPPROTO_TCP, idle_option, idle),
            (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPINTVL", None), interval),
            (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPCNT", None), count),
        ]
        if send_buffer > 0:
            wanted.append((socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer))
        self.options: tuple[_Option, ...] = tuple(
            (level, option, value) for level, option, value in wanted if option is not None
        )
        # What the kernel reports for each option on a tuned listener (Linux reports
        # twice the SO_SNDBUF asked for): what an accepted socket that inherited shows.
        self._listener_values: dict[tuple[int, int], int] | None = None
        #: None until the first connection: whether accepted sockets inherit the options.
        self.inherited: bool | None = None

    def listen(self, sock: _Socket) -> None:
        """Set the options on a listening socket, for the connections it will accept."""
        _set_all(sock, self.options)
        if self._listener_values is None:
            self._listener_values = {
                (level, option): value
                for level, option, _ in self.options
                if (value := _get(sock, level, option)) is not None
            }

    def accepted(self, sock: _Socket) -> None:
        """Make sure an accepted connection has the options: set them unless inherited."""
        if self.inherited:
            return
        if self.inherited is None and self._listener_values is not None:
            found = [_get(sock, level, option) for level, option, _ in self.options]
            # A connection already reset cannot be read: the next one decides.
            if None not in found:
                expected = [
                    self._listener_values.get((level, option)) for level, option, _ in self.options
                ]
                self.inherited = found == expected
                if self.inherited:
                    return
        _set_all(sock, self.options)


def _set_all(sock: _Socket, options: tuple[_Option, ...]) -> None:
    """Set ``options`` where the platform allows."""
    for level, option, value in options:
        with contextlib.suppress(OSError):  # not every socket type supports every option
            sock.setsockopt(level, option, value)


def _get(sock: _Socket, level: int, option: int) -> int | None:
    try:
        return sock.getsockopt(level, option)
    except OSError:
        return None
