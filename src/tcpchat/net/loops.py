"""Which event loop runs the server: asyncio's own, or uvloop when it is installed.

uvloop (the ``speed`` extra: ``pip install '.[speed]'``) is a drop-in event loop written on
libuv; with it the same server code fans out faster and keeps less memory per
connection (see ``benchmarks/RESULTS.md``). ``auto`` uses it when it can be
imported and asyncio's loop otherwise.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

LOOP_CHOICES = ("auto", "asyncio", "uvloop")

#: Said when ``--loop uvloop`` is asked for without it: how to install it from a clone.
UVLOOP_MISSING = (
    "--loop uvloop needs uvloop: from tcpchat's source directory, "
    "run .venv/bin/pip install -e '.[speed]' (or pip install '.[speed]')"
)


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the loop named ``name``; None means asyncio's default loop.

    Raises ValueError for an unknown name, or for ``uvloop`` when it is not installed.
    """
    if name not in LOOP_CHOICES:
        raise ValueError(f"unknown event loop {name!r}: choose one of {', '.join(LOOP_CHOICES)}")
    if name == "asyncio":
        return None
    try:
        uvloop: Any = importlib.import_module("uvloop")
    except ImportError:
        if name == "uvloop":
            raise ValueError(UVLOOP_MISSING) from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name(name: str) -> str:
    """What ``name`` resolves to here: ``asyncio`` or ``uvloop``."""
    return "asyncio" if loop_factory(name) is None else "uvloop"


def run(main: Coroutine[Any, Any, T], name: str = "auto") -> T:
    """Run ``main`` to completion on the event loop named ``name``."""
    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        return runner.run(main)
