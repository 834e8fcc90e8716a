"""`tcpchat connect` and `tcpchat serve --task 1` in piped mode, as real subprocesses.

Both read stdin as plain lines and print events as plain lines when stdin is
not a terminal, so scripts (and these tests) can drive them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tcpchat.config import ServerSettings
from tcpchat.server.chat import ChatServer
from tests.conftest import ClientFactory
from tests.support.helpers import LineClient
from tests.support.programs import Program

LINES_EACH_WAY = 20
WAIT = 10.0


Launcher = Callable[..., Awaitable[Program]]


@pytest.fixture
async def launch(tmp_path: Path) -> AsyncIterator[Launcher]:
    """Start `python -m tcpchat ARGS…` with pipes (or the ``stdin`` and ``stdout`` given);
    every process is ended after the test."""
    processes: list[asyncio.subprocess.Process] = []
    environ = {**os.environ, "XDG_STATE_HOME": str(tmp_path), "PYTHONWARNINGS": "error"}

    async def start(
        *args: str, stdin: int = asyncio.subprocess.PIPE, stdout: int = asyncio.subprocess.PIPE
    ) -> Program:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tcpchat",
            *args,
            stdin=stdin,
            stdout=stdout,
            stderr=asyncio.subprocess.PIPE,
            env=environ,
        )
        processes.append(process)
        return Program(process)

    yield start
    for process in processes:
        if process.returncode is None:
            process.kill()
        await process.communicate()


def numbered(prefix: str) -> list[str]:
    return [f"{prefix} {number:02d}" for number in range(LINES_EACH_WAY)]


async def test_connect_piped_both_ways_at_once(
    server: ChatServer, client: ClientFactory, launch: Launcher
) -> None:
    """20 lines each way at once arrive once each, in order; /exit gives status 0."""
    bob = await client("bob")
    alice = await launch("connect", "--port", str(server.port), "--nick", "alice")
    await bob.expect(r"\*\*\* alice joined")
    alice.type(*numbered("from alice"))
    await bob.send(*numbered("from bob"))
    for line in numbered("from alice"):
        await bob.expect(rf"<alice> {line}$")
    for line in numbered("from bob"):
        await alice.expect(rf"<bob> {line}$")
    alice.type("/exit")
    assert await alice.exit_status() == 0
    received = [line for line in bob.seen if "<alice> from alice" in line]
    assert [line.split("> ", 1)[1] for line in received] == numbered("from alice")
    shown = [line for line in alice.output if "<bob> from bob" in line]
    assert [line.split("> ", 1)[1] for line in shown] == numbered("from bob")
    assert alice.process.stderr is not None
    assert await alice.process.stderr.read() == b""  # no prompt_toolkit warnings


async def test_connect_piped_asks_for_a_nickname(server: ChatServer, launch: Launcher) -> None:
    """Without --nick, the first line is the nickname; end of input leaves with status 0."""
    program = await launch("connect", "--port", str(server.port))
    program.type("dora", "hello")
    assert program.process.stdin is not None
    program.process.stdin.close()
    assert await program.exit_status() == 0
    assert any("Welcome, dora!" in line for line in program.output)
    assert any(line.endswith("<dora> hello") for line in program.output)


async def test_serve_task_1_piped_both_ways_and_busy(launch: Launcher) -> None:
    """The 1:1 operator and client send 20 lines each at once; a second client is refused."""
    operator = await launch("serve", "--task", "1", "--port", "0")
    port = int((await operator.expect(r"1:1 chat on 127\.0\.0\.1:(\d+)")).group(1))
    guest = await LineClient.connect(port)
    try:
        await guest.expect("You are connected to the operator")
        await operator.expect(r"connected; you are chatting")
        operator.type(*numbered("from the operator"))
        await guest.send(*numbered("from the guest"))
        for line in numbered("from the operator"):
            await guest.expect(rf"<operator> {line}$")
        for line in numbered("from the guest"):
            await operator.expect(rf"<guest> {line}$")

        intruder = await LineClient.connect(port)
        assert "!!! the operator is already in a 1:1 chat" in (await intruder.expect_eof())[0]
        await intruder.close()
        await guest.send("after the intruder")
        await operator.expect(r"<guest> after the intruder$")

        operator.type("/exit")
        assert await operator.exit_status() == 0
        assert any("operator ended the chat" in line for line in await guest.expect_eof())
    finally:
        await guest.close()
    from_operator = [line for line in guest.seen if "<operator> from" in line]
    assert [line.split("> ", 1)[1] for line in from_operator] == numbered("from the operator")
    from_guest = [line for line in operator.output if "<guest> from" in line]
    assert [line.split("> ", 1)[1] for line in from_guest] == numbered("from the guest")


async def test_connect_task_1_against_serve_task_1(launch: Launcher) -> None:
    """The 1:1 client and server programs talk; the client ends with 0 when the chat ends."""
    operator = await launch("serve", "--task", "1", "--port", "0", "--once")
    port = int((await operator.expect(r"1:1 chat on 127\.0\.0\.1:(\d+)")).group(1))
    guest = await launch("connect", "--task", "1", "--port", str(port))
    await guest.expect(r"Connected to 127\.0\.0\.1:\d+")
    guest.type("hello from the client")
    await operator.expect(r"<guest> hello from the client$")
    guest.type("/exit")
    assert await guest.exit_status() == 0
    assert guest.output[-1].endswith("*** The chat has ended.")
    assert await operator.exit_status() == 0
    assert any("left (quit); exiting" in line for line in operator.output)


# Flood control would pace the 250 lines at 5 a second; that pacing is tested elsewhere.
@pytest.mark.parametrize(
    "settings", [ServerSettings(host="127.0.0.1", port=0, flood_control=False)]
)
async def test_connect_piped_sends_a_long_script_whole(
    server: ChatServer, client: ClientFactory, launch: Launcher
) -> None:
    """More lines than may wait for the connection are all sent: stdin is read as room allows."""
    bob = await client("bob")
    robot = await launch("connect", "--port", str(server.port), "--nick", "robot")
    lines = [f"line {number:03d}" for number in range(250)]
    robot.type(*lines, "/exit")
    assert await robot.exit_status() == 0
    for line in lines:
        await bob.expect(rf"<robot> {line}$")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
async def test_connect_piped_leaves_on_a_signal_while_stdin_stays_open(
    server: ChatServer, client: ClientFactory, launch: Launcher, signum: int
) -> None:
    """A signal ends a piped client waiting on an open stdin: it leaves, with status 0."""
    bob = await client("bob")
    robot = await launch("connect", "--port", str(server.port), "--nick", "robot")
    await bob.expect(r"\*\*\* robot joined")
    robot.process.send_signal(signum)
    assert await robot.exit_status() == 0
    await bob.expect(r"\*\*\* robot left \(quit\)$")


async def test_serve_task_1_piped_ends_cleanly_on_sigterm(launch: Launcher) -> None:
    """SIGTERM ends a piped 1:1 operator console waiting on stdin, without a traceback."""
    operator = await launch("serve", "--task", "1", "--port", "0")
    await operator.expect(r"waiting for a client")
    operator.process.send_signal(signal.SIGTERM)
    assert await operator.exit_status() == 0
    assert operator.process.stderr is not None
    assert b"Traceback" not in await operator.process.stderr.read()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
async def test_connect_with_stdin_from_dev_null_receives_until_a_signal(
    server: ChatServer, client: ClientFactory, launch: Launcher, signum: int
) -> None:
    """`</dev/null` (cron, systemd, nohup, ssh -n): the client only receives, and a signal
    makes it leave cleanly with status 0."""
    bob = await client("bob")
    robot = await launch(
        "connect", "--port", str(server.port), "--nick", "robot", stdin=asyncio.subprocess.DEVNULL
    )
    await bob.expect(r"\*\*\* robot joined")
    await bob.send("anyone listening?")
    await robot.expect(r"<bob> anyone listening\?$")
    robot.process.send_signal(signum)
    assert await robot.exit_status() == 0
    await bob.expect(r"\*\*\* robot left \(quit\)$")
    assert robot.process.stderr is not None
    errors = (await robot.process.stderr.read()).decode()
    assert "Traceback" not in errors
    assert "receiving only" in errors


async def test_connect_leaves_cleanly_when_its_output_is_closed(
    server: ChatServer, client: ClientFactory, launch: Launcher
) -> None:
    """`tcpchat connect … | head -1`: once stdout's reader is gone, the client sends /exit
    and exits 0, without a traceback."""
    bob = await client("bob")
    read_end, write_end = os.pipe()
    try:
        robot = await launch(
            "connect", "--port", str(server.port), "--nick", "robot", stdout=write_end
        )
    finally:
        os.close(write_end)
    loop = asyncio.get_running_loop()
    output = asyncio.StreamReader()
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(output), pipe
        )
        try:
            async with asyncio.timeout(WAIT):
                assert b"Welcome, robot!" in await output.readline()
        finally:
            transport.close()  # the reader goes away, as `head -1` does
    await bob.expect(r"\*\*\* robot joined")
    await bob.send("is anyone reading?")
    await bob.expect(r"\*\*\* robot left \(quit\)$")
    async with asyncio.timeout(WAIT):
        assert await robot.process.wait() == 0
    assert robot.process.stderr is not None
    errors = await robot.process.stderr.read()
    assert b"Traceback" not in errors
    assert b"Exception ignored" not in errors


async def test_connect_with_stdin_from_dev_null_ends_when_the_server_does(
    settings: ServerSettings, launch: Launcher
) -> None:
    """A receive-only client ends, with status 1 and no traceback, when its server stops."""
    chat_server = ChatServer(settings)
    await chat_server.start()
    try:
        robot = await launch(
            "connect",
            "--port",
            str(chat_server.port),
            "--nick",
            "robot",
            stdin=asyncio.subprocess.DEVNULL,
        )
        await robot.expect(r"Welcome, robot!")
    finally:
        await chat_server.close()
    assert await robot.exit_status() == 1
    assert any("--reconnect" in line for line in robot.output)
    assert robot.process.stderr is not None
    assert b"Traceback" not in await robot.process.stderr.read()
