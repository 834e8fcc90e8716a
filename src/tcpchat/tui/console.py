"""What both interactive programs share: the front end for this stdin, and signals.

``tcpchat connect`` (:mod:`tcpchat.client.chat.console`) and the 1:1 chat's operator
(:mod:`tcpchat.server.chat.console`) each pick the prompt_toolkit front end when
stdin is a terminal and the piped plain-line mode otherwise (a closed stdin
included), and turn SIGTERM (and, in piped mode, SIGINT) into a clean leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator

#: Commands offered by Tab in a 1:1 chat.
DIRECT_COMMANDS = ("/exit", "/help", "/quit")


def stdin_is_a_terminal() -> bool:
    """Whether a person types at stdin (False too when fd 0 was closed: ``<&-``)."""
    return sys.stdin is not None and sys.stdin.isatty()


@contextlib.contextmanager
def leave_on_signals(leave: Callable[[], None], *, sigint: bool) -> Iterator[None]:
    """Make SIGTERM (and SIGINT, if asked) call ``leave``, so the program leaves cleanly.

    At a terminal prompt_toolkit reads Ctrl-C as a key itself.
    """
    loop = asyncio.get_running_loop()
    signals = [signal.SIGTERM, *([signal.SIGINT] if sigint else [])]
    for signum in signals:
        loop.add_signal_handler(signum, leave)
    try:
        yield
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
