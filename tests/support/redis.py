"""A real ``redis-server`` for tests: on a free loopback port, in a temporary directory.

Each server is Debian's ``redis-server``, started by the test run itself, bound
to 127.0.0.1 on a port the kernel had free, with persistence off (``--save ""
--appendonly no``), so that a restart comes back empty. It is stopped with
SIGTERM, then SIGKILL past a deadline. Nothing here ever connects to a Redis
that someone else started: every command goes to the port of a process this
module started, checked to be alive.

Fixtures (a test module imports the ones it uses into its ``conftest.py``):

- ``redis_server``: one server for the whole run (cheap: started once);
- ``redis_url``: that server's URL, emptied (FLUSHALL) before the test;
- ``own_redis``: a server of the test's own, to stop or restart mid-test.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Iterator

import pytest

from tests.support.components import components_required

PROGRAM = "redis-server"
#: Seconds a server has to say it is ready, and to stop after SIGTERM before SIGKILL.
START_DEADLINE = 10.0
STOP_DEADLINE = 5.0
#: Ports tried before giving up, when another program takes the free one first.
PORT_TRIES = 5
READY = "Ready to accept connections"
#: Lines of the server's log kept to explain a failure.
LOG_LINES = 200


class RedisServer:
    """One ``redis-server`` process that this test run started and owns.

    ``password`` turns on ``requirepass``. :meth:`stop` and :meth:`restart`
    are the faults: Redis gone, and Redis back on the same port, empty.
    """

    def __init__(self, *, password: str | None = None) -> None:
        self.password = password
        self.port = 0
        self._directory = tempfile.TemporaryDirectory(prefix="tcpchat-redis-")
        self._process: subprocess.Popen[str] | None = None
        self._log: deque[str] = deque(maxlen=LOG_LINES)

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:PORT/0``."""
        secret = f":{self.password}@" if self.password else ""
        return f"redis://{secret}127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        """The running redis-server's process id."""
        assert self._process is not None, "this redis-server is not running"
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start on a free port (another one if something takes it first); wait for PING."""
        for _ in range(PORT_TRIES):
            if self._start_on(free_port()):
                return
        raise RuntimeError(f"redis-server found no free port in {PORT_TRIES} tries")

    def restart(self) -> None:
        """Stop, then start again on the same port: Redis came back, empty."""
        self.stop()
        if not self._start_on(self.port):
            raise RuntimeError(f"redis-server could not get port {self.port} back")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within STOP_DEADLINE. Idempotent."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def hang(self, hung: bool) -> None:
        """Freeze the running redis-server (SIGSTOP: connections stay open, nothing is
        answered), or let it go on (SIGCONT)."""
        assert self._process is not None, "this redis-server is not running"
        self._process.send_signal(signal.SIGSTOP if hung else signal.SIGCONT)

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        self._directory.cleanup()

    def command(self, *args: str) -> str:
        """Send one command to this server and return its reply's first line (``+OK``)."""
        if not self.running:
            raise RuntimeError("this redis-server is not running")
        return resp_command(self.port, *args, password=self.password)

    def _start_on(self, port: int) -> bool:
        """Start on ``port``; False if the port was taken, RuntimeError on any other failure."""
        argv = [
            PROGRAM,
            *("--port", str(port), "--bind", "127.0.0.1"),
            *("--dir", self._directory.name, "--save", "", "--appendonly", "no"),
            *("--logfile", "", "--loglevel", "notice", "--daemonize", "no"),
        ]
        if self.password:
            argv += ["--requirepass", self.password]
        self._log.clear()
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()
        reader = threading.Thread(
            target=self._read_log, args=(process, ready), name="redis-server log", daemon=True
        )
        reader.start()
        if ready.wait(START_DEADLINE) and process.poll() is None:
            self._process, self.port = process, port
            if self.command("PING") == "+PONG":
                return True
        self._process = None
        process.kill()  # a no-op if it has exited
        process.wait()
        reader.join(STOP_DEADLINE)
        if any("Address already in use" in line for line in self._log):
            return False
        raise RuntimeError("redis-server did not start:\n" + "\n".join(self._log))

    def _read_log(self, process: subprocess.Popen[str], ready: threading.Event) -> None:
        """Keep the server's last lines, and say when it is ready (or gone)."""
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                self._log.append(line.rstrip("\n"))
                if READY in line:
                    ready.set()
        ready.set()  # it exited: the starter looks at why


def free_port() -> int:
    """A loopback port the kernel had free a moment ago (redis-server needs a number)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def resp_command(port: int, *args: str, password: str | None = None) -> str:
    """One command in RESP to 127.0.0.1:``port``, AUTH first if need be; the reply's first line."""
    commands = ([("AUTH", password)] if password else []) + [args]
    payload = b"".join(_encode(command) for command in commands)
    with socket.create_connection(("127.0.0.1", port), timeout=STOP_DEADLINE) as connection:
        connection.sendall(payload)
        with connection.makefile("rb") as replies:
            lines = [replies.readline().decode().rstrip("\r\n") for _ in commands]
    return lines[-1]


def _encode(command: tuple[str, ...]) -> bytes:
    parts = [f"*{len(command)}\r\n".encode()]
    for arg in command:
        data = arg.encode()
        parts.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    return b"".join(parts)


def _require_program() -> None:
    if shutil.which(PROGRAM) is None and not components_required():
        pytest.skip(f"{PROGRAM} not installed (make test installs it when run as root)")


@contextlib.contextmanager
def running_redis(*, password: str | None = None) -> Iterator[RedisServer]:
    """A started RedisServer, stopped and removed on the way out."""
    _require_program()
    server = RedisServer(password=password)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the whole test run."""
    with running_redis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The shared server's URL, emptied before the test."""
    if not redis_server.running:  # a test must not stop the shared one, but say so if it did
        raise RuntimeError("the shared redis-server has stopped; use own_redis to stop one")
    assert redis_server.command("FLUSHALL") == "+OK"
    return redis_server.url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own: it may stop or restart it."""
    with running_redis() as server:
        yield server
