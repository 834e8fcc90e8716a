"""How `tcpchat connect` and `tcpchat serve --task 1` are put together: options and commands."""

from __future__ import annotations

from tcpchat.cli import build_parser
from tcpchat.client.console import ROOM_COMMANDS
from tcpchat.config import ClientSettings, DirectSettings, from_sources
from tcpchat.tui.console import DIRECT_COMMANDS


def test_tab_offers_the_room_commands_but_not_format() -> None:
    """Tab completes the server's commands and /quit; /format is the client's own business."""
    assert {"/help", "/users", "/nick", "/msg", "/me", "/search", "/exit", "/quit"} <= set(
        ROOM_COMMANDS
    )
    assert "/format" not in ROOM_COMMANDS
    assert DIRECT_COMMANDS == ("/exit", "/help", "/quit")


def test_connect_options_come_from_flags_then_environment() -> None:
    """Client settings take flags first, then TCPCHAT_* variables, then defaults."""
    args = build_parser().parse_args(["connect", "--reconnect", "--port", "6000"])
    environ = {"TCPCHAT_NICK": "zed", "TCPCHAT_CONNECT_PORT": "7000"}
    settings = from_sources(ClientSettings, args, environ)
    assert (settings.nick, settings.port, settings.reconnect) == ("zed", 6000, True)
    assert settings.reconnect_delay == 1.0
    assert args.task == 2


def test_serve_task_1_takes_once() -> None:
    """`serve --task 1 --once` asks the 1:1 server to exit after its first chat."""
    args = build_parser().parse_args(["serve", "--task", "1", "--once"])
    assert args.task == 1
    assert from_sources(DirectSettings, args, {}).once
    assert not from_sources(DirectSettings, build_parser().parse_args(["serve"]), {}).once
