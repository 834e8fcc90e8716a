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
"""

from __future__ import annotations

import contextlib
import socket

#: Default seconds of silence before the first probe.
DEFAULT_KEEPALIVE_IDLE = 60

#: Default seconds between unanswered probes.
DEFAULT_KEEPALIVE_INTERVAL = 10

#: Default unanswered probes after which the peer counts as gone.
DEFAULT_KEEPALIVE_COUNT = 3


def enable_keepalive(
    sock: socket.socket,
    idle: int = DEFAULT_KEEPALIVE_IDLE,
    interval: int = DEFAULT_KEEPALIVE_INTERVAL,
    count: int = DEFAULT_KEEPALIVE_COUNT,
) -> None:
    """Turn keepalive on for ``sock`` with these timings, where the platform allows."""
    with contextlib.suppress(OSError):  # not every socket type supports it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    # Linux names the idle time TCP_KEEPIDLE; macOS calls it TCP_KEEPALIVE.
    idle_option = getattr(socket, "TCP_KEEPIDLE", None) or getattr(socket, "TCP_KEEPALIVE", None)
    for option, value in (
        (idle_option, idle),
        (getattr(socket, "TCP_KEEPINTVL", None), interval),
        (getattr(socket, "TCP_KEEPCNT", None), count),
    ):
        if option is None:
            continue
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


def set_send_buffer(sock: socket.socket, size: int) -> None:
    """Fix the kernel send buffer of ``sock`` at ``size`` bytes; 0 leaves it to the kernel."""
    if size > 0:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
