"""``tcpchat connect``: a front end put together with a :class:`ChatClient`.

At a terminal the prompt_toolkit front end; otherwise the piped mode. A piped
client whose stdout's reader goes away leaves too: it tells the server
(``/exit``) and exits 0.
"""

from __future__ import annotations

from tcpchat.client.chat import ChatClient
from tcpchat.client.chatstate import ChatState
from tcpchat.config import ClientSettings
from tcpchat.core.commands import COMMANDS
from tcpchat.net.streams import format_address
from tcpchat.net.tls import client_context
from tcpchat.tui.console import DIRECT_COMMANDS, leave_on_signals, stdin_is_a_terminal
from tcpchat.tui.terminal import (
    ChatCompleter,
    PipedFrontend,
    PromptFrontend,
    open_history,
    screen_width,
)

#: Commands offered by Tab in the multi-client room (``/format`` is the client's business).
ROOM_COMMANDS = tuple(
    sorted({f"/{command.name}" for command in COMMANDS if command.name != "format"} | {"/quit"})
)


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
    chat: ChatClient  # made below, once its front end is
    # Ctrl-N and Ctrl-P cycle the current room, as in irssi and WeeChat.
    room_keys = {
        "c-n": lambda: chat.switch_room(+1),
        "c-p": lambda: chat.switch_room(-1),
    }
    frontend = PromptFrontend(
        prompt=state.prompt,
        toolbar=lambda: state.toolbar(screen_width()),
        completer=ChatCompleter(lambda: commands, lambda: state.everyone, state.completion_rooms),
        history=open_history("history-1to1" if direct else "history"),
        keys=None if direct else room_keys,
    )
    chat = ChatClient(settings, frontend, state, direct=direct, ssl=tls)
    async with frontend.running():
        with leave_on_signals(chat.leave_now, sigint=False):
            return await chat.run()
