"""tcpchat: a self-hostable terminal chat over TCP."""

from __future__ import annotations

__version__ = "0.1.0"
