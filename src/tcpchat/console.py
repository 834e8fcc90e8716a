"""Putting the interactive programs together: a front end, and a client or a 1:1 server.

``tcpchat connect`` and ``tcpchat serve --task 1`` both run here. Each picks the
prompt_toolkit front end when stdin is a terminal and the piped plain-line mode
otherwise (a closed stdin included), and turns SIGTERM (and, in piped mode,
SIGINT) into a clean leave. A piped client whose stdout's reader goes away
leaves too: it tells the server (``/exit``) and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator

from tcpchat.chatstate import ChatState
from tcpchat.client import ChatClient
from tcpchat.commands import COMMANDS
from tcpchat.config import ClientSettings, DirectSettings, ServerSettings
from tcpchat.direct import DirectServer
from tcpchat.display import Fragments
from tcpchat.server import format_address
from tcpchat.terminal import (
    ChatCompleter,
    PipedFrontend,
    PromptFrontend,
    open_history,
    screen_width,
)
from tcpchat.tls import client_context

#: Commands offered by Tab in the multi-client room (``/format`` is the client's business).
ROOM_COMMANDS = tuple(
    sorted({f"/{command.name}" for command in COMMANDS if command.name != "format"} | {"/quit"})
)
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


async def run_client(settings: ClientSettings, *, direct: bool = False) -> int:
    """``tcpchat connect``: chat until the user leaves (0) or the server is gone (1)."""
    state = ChatState(format_address((settings.host, settings.port)), direct=direct)
    tls = client_context(settings.tls_ca, settings.insecure) if settings.uses_tls else None
    if not stdin_is_a_terminal():
        client: ChatClient | None = None

        def leave() -> None:
            if client is not None:
                client.leave_now()

        piped = PipedFrontend(on_output_closed=leave)
        try:
            client = ChatClient(settings, piped, state, direct=direct, ssl=tls)
            with leave_on_signals(client.leave_now, sigint=True):
                return await client.run()
        finally:
            piped.close()
    commands = DIRECT_COMMANDS if direct else ROOM_COMMANDS
    frontend = PromptFrontend(
        prompt=state.prompt,
        toolbar=lambda: state.toolbar(screen_width()),
        completer=ChatCompleter(lambda: commands, lambda: state.users),
        history=open_history("history-1to1" if direct else "history"),
    )
    client = ChatClient(settings, frontend, state, direct=direct, ssl=tls)
    async with frontend.running():
        with leave_on_signals(client.leave_now, sigint=False):
            return await client.run()


async def run_direct(settings: ServerSettings, direct: DirectSettings) -> int:
    """``tcpchat serve --task 1``: the 1:1 chat with the operator at this console."""
    server: DirectServer | None = None

    def toolbar() -> Fragments:
        return server.toolbar() if server is not None else []

    if not stdin_is_a_terminal():
        piped = PipedFrontend()
        try:
            server = DirectServer(settings, piped, once=direct.once)
            with leave_on_signals(piped.close_input, sigint=True):
                return await server.run()
        finally:
            piped.close()
    frontend = PromptFrontend(
        prompt=lambda: "operator> ",
        toolbar=toolbar,
        completer=ChatCompleter(lambda: DIRECT_COMMANDS, lambda: ()),
        history=open_history("history-operator"),
    )
    server = DirectServer(settings, frontend, once=direct.once)
    async with frontend.running():
        with leave_on_signals(frontend.close_input, sigint=False):
            return await server.run()
