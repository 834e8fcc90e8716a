"""The log as JSON lines: the shape of a line, and what the server's lines hold and never hold."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tcpchat.logs import JsonFormatter, announce
from tests.support.helpers import LineClient

PASSWORD = "correct-horse-battery"
SECRET_TEXT = "the launch code is 0000"
#: Seconds to wait for the server subprocess to start, or to exit.
WAIT = 10.0


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own whose lines go, as JSON, to a string."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tcpchat-test-json")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def test_a_json_line_has_time_level_logger_message_and_fields(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    """One object a line: the four standard keys, then the fields given in ``extra``."""
    logger, stream = json_log
    logger.info("connection from %s", "127.0.0.1:4000", extra={"address": "127.0.0.1:4000"})
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert list(entry) == ["time", "level", "logger", "message", "address"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    assert entry["level"] == "info"
    assert entry["logger"] == "tcpchat-test-json"
    assert entry["message"] == "connection from 127.0.0.1:4000"
    assert entry["address"] == "127.0.0.1:4000"


def test_a_json_line_stays_one_line(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    """Newlines and control characters in a message or a field are escaped."""
    logger, stream = json_log
    logger.warning("two\nlines\x1b[2J", extra={"reason": "a\nb"})
    (line,) = stream.getvalue().splitlines()
    assert "\x1b" not in line
    assert json.loads(line)["reason"] == "a\nb"


def test_a_json_line_carries_the_traceback(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    """An exception's traceback is a field of the same line."""
    logger, stream = json_log
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("internal error")
    (line,) = stream.getvalue().splitlines()
    assert "RuntimeError: boom" in json.loads(line)["exception"]


def test_announce_in_json_is_a_log_line() -> None:
    """The "listening on" line is a JSON object too, so that a shipper reads every line."""
    stream = io.StringIO()
    announce("listening on 127.0.0.1:5002", "json", stream, address="127.0.0.1:5002")
    entry = json.loads(stream.getvalue())
    assert (entry["level"], entry["message"], entry["address"]) == (
        "info",
        "listening on 127.0.0.1:5002",
        "127.0.0.1:5002",
    )


async def _json_server(tmp_path: Path) -> tuple[asyncio.subprocess.Process, int]:
    """``tcpchat serve`` logging JSON, its password in a private config file."""
    config = tmp_path / "tcpchat.toml"
    config.write_text(f'[serve]\nlog-format = "json"\npassword = "{PASSWORD}"\n')
    config.chmod(0o600)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TCPCHAT_")}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tcpchat", "serve", "--port", "0", "--config", str(config)),
        *("--db", str(tmp_path / "tcpchat.db")),
        stdin=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**environ, "PYTHONWARNINGS": "error"},
    )
    assert process.stderr is not None
    async with asyncio.timeout(WAIT):
        while True:
            line = await process.stderr.readline()
            assert line, "the server exited before listening"
            entry = json.loads(line)
            if entry["message"].startswith("listening on "):
                return process, int(entry["address"].rpartition(":")[2])


async def _chat_and_stop(tmp_path: Path) -> list[dict[str, Any]]:
    """Alice gives the password, says something, leaves; the server stops; its log."""
    process, port = await _json_server(tmp_path)
    try:
        alice = await LineClient.connect(port)
        try:
            await alice.expect("password")
            await alice.send(PASSWORD)
            await alice.expect("Choose a nickname")
            await alice.register("alice")
            await alice.send(SECRET_TEXT, "/exit")
            await alice.expect_eof()
        finally:
            await alice.close()
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(WAIT):
            _, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    return [json.loads(line) for line in stderr.decode().splitlines()]


async def test_the_servers_json_log_names_the_connection_and_keeps_secrets(
    tmp_path: Path,
) -> None:
    """Every line is JSON, connection lines name address, door, nick and reason; no secret."""
    log = await _chat_and_stop(tmp_path)
    closed = [entry for entry in log if re.search(r" closed: ", entry["message"])]
    assert len(closed) == 1
    assert closed[0]["door"] == "line"
    assert closed[0]["nick"] == "alice"
    assert closed[0]["reason"] == "quit"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", closed[0]["address"])
    opened = [entry for entry in log if entry["message"].startswith("connection from ")]
    assert [(entry["address"], entry["door"]) for entry in opened] == [
        (closed[0]["address"], "line")
    ]
    everything = json.dumps(log)
    assert PASSWORD not in everything
    assert SECRET_TEXT not in everything
