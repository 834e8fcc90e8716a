"""``tcpchat serve --task 1``: the 1:1 chat's server put together with the operator's front end."""

from __future__ import annotations

from tcpchat.config import DirectSettings, ServerSettings
from tcpchat.server.direct import DirectServer
from tcpchat.tui.console import DIRECT_COMMANDS, leave_on_signals, stdin_is_a_terminal
from tcpchat.tui.display import Fragments
from tcpchat.tui.terminal import ChatCompleter, PipedFrontend, PromptFrontend, open_history


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
