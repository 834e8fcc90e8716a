"""The ``tcpchat`` command: one-line errors for unusable settings, and what reaches stderr."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tcpchat.cli import USAGE_ERROR, freeze_start_up_objects, main
from tests.support.helpers import LineClient
from tests.support.programs import Program

SEE_SERVE_HELP = "; see tcpchat serve --help"
SEE_CONNECT_HELP = "; see tcpchat connect --help"


@pytest.mark.parametrize(
    ("argv", "environ", "said"),
    [
        (
            ["serve", "--port", "abc"],
            {},
            "tcpchat serve: --port: 'abc' is not a whole number (expected a port 0-65535)"
            + SEE_SERVE_HELP,
        ),
        (
            ["serve"],
            {"TCPCHAT_PORT": "abc"},
            "tcpchat serve: TCPCHAT_PORT: 'abc' is not a whole number (expected a port 0-65535)"
            + SEE_SERVE_HELP,
        ),
        (
            ["serve", "--max-clients", "0"],
            {},
            "tcpchat serve: --max-clients: '0' is out of range (expected a whole number, 1 or more)"
            + SEE_SERVE_HELP,
        ),
        (
            # (More days reach back past the first year a date holds: /seen and pruning
            # failed.)
            ["serve", "--history-max-days", "1000000"],
            {},
            "tcpchat serve: --history-max-days: '1000000' is out of range "
            "(expected a whole number of days from 0 to 36500)" + SEE_SERVE_HELP,
        ),
        (
            ["serve", "--close-timeout", "soon"],
            {},
            "tcpchat serve: --close-timeout: 'soon' is not a number "
            "(expected a number of seconds above 0)" + SEE_SERVE_HELP,
        ),
        (
            ["serve"],
            {"TCPCHAT_REGISTER_TIMEOUT": "nan"},
            "tcpchat serve: TCPCHAT_REGISTER_TIMEOUT: 'nan' is out of range "
            "(expected a number of seconds above 0)" + SEE_SERVE_HELP,
        ),
        (
            ["serve"],
            {"TCPCHAT_FLOOD_CONTROL": "maybe"},
            "tcpchat serve: TCPCHAT_FLOOD_CONTROL: 'maybe' is not a yes/no value "
            "(expected 1/0, true/false, yes/no or on/off)" + SEE_SERVE_HELP,
        ),
        (
            ["serve", "--loop", "fast"],
            {},
            "tcpchat serve: --loop: 'fast' is not a choice here "
            "(expected one of auto, asyncio, uvloop)" + SEE_SERVE_HELP,
        ),
        (
            ["serve"],
            {"TCPCHAT_LOG_LEVEL": "loud"},
            "tcpchat serve: TCPCHAT_LOG_LEVEL: 'loud' is not a choice here "
            "(expected one of debug, info, warning, error)" + SEE_SERVE_HELP,
        ),
        (
            ["serve", "--tls-cert", "/nonexistent/cert.pem", "--tls-key", "key.pem"],
            {},
            "tcpchat serve: --tls-cert: '/nonexistent/cert.pem' is not a readable file "
            "(expected a PEM certificate chain file)" + SEE_SERVE_HELP,
        ),
        (
            ["serve", "--task", "3"],
            {},
            "tcpchat serve: --task: '3' is not a task "
            "(expected 1 for the 1:1 chat or 2 for the room)" + SEE_SERVE_HELP,
        ),
        (
            ["serve", "--no-such-flag"],
            {},
            "tcpchat serve: unrecognized arguments: --no-such-flag" + SEE_SERVE_HELP,
        ),
        (
            ["serve", "--task", "1"],
            {"TCPCHAT_ONCE": "twice"},
            "tcpchat serve: TCPCHAT_ONCE: 'twice' is not a yes/no value "
            "(expected 1/0, true/false, yes/no or on/off)" + SEE_SERVE_HELP,
        ),
        (
            ["connect"],
            {"TCPCHAT_TLS_CA": "/nonexistent/ca.pem"},
            "tcpchat connect: TCPCHAT_TLS_CA: '/nonexistent/ca.pem' is not a readable file "
            "(expected a PEM file of CA certificates)" + SEE_CONNECT_HELP,
        ),
        (
            ["connect", "--reconnect-delay", "0"],
            {},
            "tcpchat connect: --reconnect-delay: '0' is out of range "
            "(expected a number of seconds above 0)" + SEE_CONNECT_HELP,
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_an_unusable_setting_gets_one_line_naming_it(
    argv: list[str],
    environ: dict[str, str],
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bad flag or variable gets one line: its name, the value, what was expected; status 2."""
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == USAGE_ERROR
    assert capsys.readouterr().err == said + "\n"


@pytest.mark.parametrize("columns", [60, 200])
def test_the_help_is_wrapped_at_the_terminals_width(
    columns: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tcpchat serve --help`` fills the terminal's width (COLUMNS) less 2, as argparse's help."""
    monkeypatch.setenv("COLUMNS", str(columns))
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--help"])
    assert exited.value.code == 0
    # Below the usage, whose longest [--flag VALUE] overflows a narrow terminal as argparse lets it.
    _, body = capsys.readouterr().out.split("\n\n", 1)
    assert max(len(line) for line in body.splitlines()) == columns - 2


@contextlib.asynccontextmanager
async def operator_console(tmp_path: Path, *flags: str) -> AsyncIterator[Program]:
    """`tcpchat serve --task 1` on a free port, its console piped; ended after use."""
    environ = {**os.environ, "XDG_STATE_HOME": str(tmp_path), "PYTHONWARNINGS": "error"}
    environ.pop("TCPCHAT_LOG_LEVEL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "tcpchat", "serve", "--task", "1", "--port", "0", *flags),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environ,
    )
    try:
        yield Program(process)
    finally:
        if process.returncode is None:
            process.kill()
        await process.communicate()


async def chat_once_and_leave(operator: Program) -> bytes:
    """A client comes and goes; the operator leaves; what the server wrote to stderr."""
    port = int((await operator.expect(r"1:1 chat on 127\.0\.0\.1:(\d+)")).group(1))
    guest = await LineClient.connect(port)
    try:
        await operator.expect(r"connected; you are chatting")
        await guest.send("/exit")
        await operator.expect(r"left \(quit\)")
    finally:
        await guest.close()
    assert operator.process.stdin is not None
    operator.process.stdin.close()
    assert await operator.exit_status() == 0
    assert operator.process.stderr is not None
    return await operator.process.stderr.read()


async def test_the_1to1_console_shows_each_event_once(tmp_path: Path) -> None:
    """By default the 1:1 operator sees arrivals as chat only, with no log line to stderr."""
    async with operator_console(tmp_path) as operator:
        assert await chat_once_and_leave(operator) == b""


async def test_the_1to1_console_logs_when_asked(tmp_path: Path) -> None:
    """--log-level info brings the 1:1 chat's log lines back to stderr."""
    async with operator_console(tmp_path, "--log-level", "info") as operator:
        logged = await chat_once_and_leave(operator)
    assert b"INFO tcpchat.direct: connection from 127.0.0.1:" in logged


def test_start_up_objects_are_kept_out_of_full_collections() -> None:
    """After start-up, the objects made so far sit in the collector's permanent generation."""
    assert gc.get_freeze_count() == 0
    try:
        freeze_start_up_objects()
        assert gc.get_freeze_count() > 1_000  # modules, classes, settings
    finally:
        gc.unfreeze()
