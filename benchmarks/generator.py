"""Building and driving the C load generator (``loadgen.c``) from Python.

The generator is a separate process pinned to its own CPU. It connects and
registers its clients at start, then obeys one command at a time on its
standard input and answers each with one JSON line.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import IO, Any

from benchmarks.build import BUILD_DIR, compile_c
from benchmarks.servers import GENERATOR_CPU, pinned
from benchmarks.stats import Step

BENCH_DIR = Path(__file__).resolve().parent
SOURCE = BENCH_DIR / "loadgen.c"
DEFAULT_BINARY = BUILD_DIR / "loadgen"


def build(binary: Path = DEFAULT_BINARY) -> Path:
    """Compile the generator with the system's C compiler when the source is newer."""
    return compile_c(SOURCE, binary)


class Generator:
    """One running generator with its clients connected and registered.

    With ``rooms``, the clients are dealt into that many rooms (``#r00``, ``#r01``,
    ...) as they register, each joining its own only, and every member sends in
    its room; without, they all share the server's one default room.
    """

    def __init__(
        self,
        binary: Path,
        *,
        port: int,
        proto: str,
        clients: int,
        senders: int = -1,
        samples: int = 16,
        stalled: int = 0,
        payload_bytes: int = 64,
        server_pid: int = 0,
        register_timeout: float = 120.0,
        rooms: int = 0,
    ) -> None:
        command = [
            str(binary),
            "--port",
            str(port),
            "--proto",
            proto,
            "--clients",
            str(clients),
            "--senders",
            str(senders),
            "--samples",
            str(samples),
            "--stalled",
            str(stalled),
            "--bytes",
            str(payload_bytes),
            "--server-pid",
            str(server_pid),
            "--register-timeout",
            str(register_timeout),
        ]
        if rooms:
            command += ["--rooms", str(rooms)]
        self.process = subprocess.Popen(
            pinned(GENERATOR_CPU, command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready = self._answer()
        if self.ready.get("event") != "ready":
            self.close()
            raise RuntimeError(f"the generator did not start: {self.ready}")

    def _stdin(self) -> IO[str]:
        assert self.process.stdin is not None
        return self.process.stdin

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            raise RuntimeError(f"the generator exited (status {code})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _ask(self, command: str) -> dict[str, Any]:
        self._stdin().write(command + "\n")
        self._stdin().flush()
        return self._answer()

    def step(self, rate: float, seconds: float, drain: float = 0.5, grace: float = 3.0) -> Step:
        """One open-loop step at ``rate`` messages per second in total."""
        return Step.from_report(self._ask(f"run {rate:.3f} {seconds} {drain} {grace}"))

    def stat(self) -> dict[str, Any]:
        """The server's CPU seconds and RSS now."""
        return self._ask("stat")

    def churn(self, seconds: float, concurrency: int) -> dict[str, Any]:
        """Connect, register and disconnect for ``seconds``; count registrations."""
        return self._ask(f"churn {seconds} {concurrency}")

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self._stdin().write("quit\n")
                self._stdin().flush()
                self.process.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Generator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
