"""Who may open a connection: the server-wide and per-address caps, with no I/O.

:class:`Admission` counts open connections, in total and per IP address, and
says whether one more may come in. Loopback addresses (``127.0.0.0/8``,
``::1``) are exempt from the per-address cap unless told otherwise, because on
one machine every local user, tunnel and test shares them.
"""

from __future__ import annotations

import ipaddress
from collections import Counter

#: Default cap on simultaneous connections to one server.
DEFAULT_MAX_CLIENTS = 10_000

#: Default cap on simultaneous connections from one IP address.
DEFAULT_MAX_PER_IP = 32


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP address as text) is a loopback address; False for non-IPs."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


class Admission:
    """Counts connections and refuses those past the caps.

    Call :meth:`admit` when a connection arrives; if it returns None the
    connection is counted and must later be given back with :meth:`release`.
    Otherwise the answer is the reason to send before closing.
    """

    def __init__(
        self,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        max_per_ip: int = DEFAULT_MAX_PER_IP,
        *,
        limit_loopback: bool = False,
    ) -> None:
        if max_clients < 1 or max_per_ip < 1:
            raise ValueError("connection caps must be at least 1")
        self.max_clients = max_clients
        self.max_per_ip = max_per_ip
        self.limit_loopback = limit_loopback
        self._total = 0
        self._per_ip: Counter[str] = Counter()

    @property
    def total(self) -> int:
        """Connections counted now."""
        return self._total

    def count(self, host: str) -> int:
        """Connections counted now from ``host``."""
        return self._per_ip[host]

    def admit(self, host: str) -> str | None:
        """Count a new connection from ``host``, or return why it is refused."""
        if self._total >= self.max_clients:
            return f"the server is full ({self.max_clients} connections); try again later"
        # Parsing the address is the dear part, and only an address at its cap needs it.
        at_cap = self._per_ip[host] >= self.max_per_ip
        if at_cap and (self.limit_loopback or not is_loopback(host)):
            return f"too many connections from your address (the limit is {self.max_per_ip})"
        self._total += 1
        self._per_ip[host] += 1
        return None

    def release(self, host: str) -> None:
        """Give back the count of a connection from ``host`` that :meth:`admit` let in."""
        if self._per_ip[host] <= 0:
            raise ValueError(f"no connection from {host!r} is counted")
        self._total -= 1
        self._per_ip[host] -= 1
        if self._per_ip[host] == 0:
            del self._per_ip[host]
