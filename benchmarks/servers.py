"""The servers under test: how to start each one, pinned to its CPU, and stop it.

Every server is started fresh for each round, on a free loopback port, pinned
with ``taskset`` to :data:`SERVER_CPU` while the load generator runs on
:data:`GENERATOR_CPU`. A cluster node's redis-server runs on the generator's
core too: in a deployment Redis has a core (or a machine) of its own, and left
to the kernel it is woken on the node's core, where it takes CPU from the node
under test (docs/scaling-measured.md, "Where Redis runs in the benchmark"). Flood
protection is off everywhere: for tcpchat through :func:`tcpchat_flood_off_args`,
for ngIRCd in ``ngircd.conf.in``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support.redis import PROGRAM as REDIS_PROGRAM
from tests.support.redis import RedisServer

from benchmarks.build import BUILD_DIR, compile_c
from tcpchat.config import ServerSettings, settings_fields

BENCH_DIR = Path(__file__).resolve().parent

#: CPUs the server and the generator are pinned to (the machine has at least two).
SERVER_CPU = 1
GENERATOR_CPU = 0

#: The setting (its flag, a yes/no ``ServerSettings`` field) that turns tcpchat's
#: flood limiter off for the benchmark, as ngIRCd's penalties are off: the one
#: place to change if the setting is renamed.
TCPCHAT_FLOOD_SETTING_FLAG = "--flood-control"


def tcpchat_flood_off_args() -> tuple[str, ...]:
    """The flags that turn tcpchat's flood limiter off; none for a tcpchat without one."""
    for item in settings_fields(ServerSettings):
        if item.metadata["flag"] == TCPCHAT_FLOOD_SETTING_FLAG:
            return ("--no-" + TCPCHAT_FLOOD_SETTING_FLAG.removeprefix("--"),)
    return ()


#: Seconds a server has to start listening.
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class ServerKind:
    """One contender: its name in the report and the protocol it speaks."""

    name: str
    proto: str  # the generator's --proto: text, json, irc or ws
    label: str  # a longer description for RESULTS.md
    rooms: bool = True  # whether it has rooms (channels) for the rooms scenario
    history: bool = False  # tcpchat: keep history (else --no-history)
    metrics: bool = False  # tcpchat: --http-port on, /metrics scraped every SCRAPE_INTERVAL
    web: bool = False  # tcpchat: --http-port on, the generator's members on its /ws
    redis: bool = False  # tcpchat: a cluster node (--redis-url) on a redis-server of the run


TCPCHAT_ASYNCIO = ServerKind("tcpchat-asyncio", "text", "tcpchat on asyncio's event loop")
TCPCHAT_UVLOOP = ServerKind("tcpchat-uvloop", "text", "tcpchat on uvloop (`tcpchat[speed]`)")
#: tcpchat-asyncio's pair: the same server keeping history, every room event recorded,
#: and whoever registers replayed the default room's last 20 lines (HISTORY_SEED_LINES).
TCPCHAT_HISTORY = ServerKind(
    "tcpchat-asyncio-history",
    "text",
    "tcpchat on asyncio keeping history (SQLite; a 20-line replay on joining)",
    history=True,
)
#: tcpchat-asyncio's other pair: the same server with its web listener on and /metrics
#: scraped every second, as Prometheus would: what counting costs (docs/deploy.md).
TCPCHAT_METRICS = ServerKind(
    "tcpchat-asyncio-metrics",
    "text",
    "tcpchat on asyncio with `--http-port` on and /metrics scraped every second",
    metrics=True,
)
#: tcpchat-asyncio with every member on the web front door's WebSocket (``/ws``, one JSON
#: event a frame) instead of TCP: what a browser member costs (docs/web.md).
TCPCHAT_WEB = ServerKind(
    "tcpchat-web",
    "ws",
    "tcpchat on asyncio, every member on the WebSocket of `--http-port` (`/ws`)",
    web=True,
)
#: tcpchat-asyncio as a node of a cluster: its room's events go through a redis-server
#: started with it (fresh each round, on the generator's core, no persistence) and come
#: back before any member hears them (docs/scaling.md): what the backplane costs one node.
TCPCHAT_REDIS = ServerKind(
    "tcpchat-redis",
    "text",
    "tcpchat on asyncio as a cluster node (`--redis-url`), on a redis-server of its own",
    redis=True,
)
NAIVE = ServerKind(
    "naive-baseline",
    "text",
    "BASELINE: thread per client, sendall() to every other client",
    rooms=False,
)
#: tcpchat's IRC port (--irc-port), driven by the generator's IRC mode as ngIRCd is.
TCPCHAT_IRC = ServerKind(
    "tcpchat-irc", "irc", "tcpchat's IRC port (`--irc-port`), on uvloop when installed"
)
NGIRCD = ServerKind("ngircd", "irc", "ngIRCd (Debian package), flood penalties off")
#: Not a contender: the generator's yardstick (benchmarks/calibrate.py).
CALIBRATION = ServerKind(
    "calibration-fanout",
    "text",
    "CALIBRATION: baselines/fanout_server.c, a bare C fan-out loop",
    rooms=False,
)

ALL_KINDS = (
    TCPCHAT_ASYNCIO,
    TCPCHAT_HISTORY,
    TCPCHAT_METRICS,
    TCPCHAT_WEB,
    TCPCHAT_REDIS,
    TCPCHAT_UVLOOP,
    TCPCHAT_IRC,
    NAIVE,
    NGIRCD,
)

#: Seconds between two scrapes of /metrics (Prometheus's default is 15 s: this is harsher).
SCRAPE_INTERVAL = 1.0

#: Lines of the default room's history a history server starts with: each registration
#: replays them (``--history-on-join`` 20, the default).
HISTORY_SEED_LINES = 20


def seed_history(path: Path, lines: int = HISTORY_SEED_LINES) -> None:
    """Write ``lines`` messages of the default room into a new history file."""
    import asyncio

    from tcpchat.core.events import utc_now
    from tcpchat.core.rooms import DEFAULT_ROOM, room_key
    from tcpchat.store.base import Kind, StoredEvent
    from tcpchat.store.sqlite import SQLiteStore

    async def write() -> None:
        store = SQLiteStore(str(path))
        await store.open()
        try:
            store.append(
                StoredEvent(
                    n, utc_now(), DEFAULT_ROOM, room_key(DEFAULT_ROOM), Kind.MESSAGE, "seed", f"{n}"
                )
                for n in range(1, lines + 1)
            )
        finally:
            await store.close()

    asyncio.run(write())


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _raise_open_files_limit() -> None:
    """In the child: allow as many open files as the hard limit does (10,000 clients)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pinned(cpu: int, command: list[str]) -> list[str]:
    """``command`` run on ``cpu`` only, when taskset exists and the CPU does."""
    if shutil.which("taskset") and cpu < (os.cpu_count() or 1):
        return ["taskset", "-c", str(cpu), *command]
    return command


class RunningServer:
    """A started server process; ``pid`` is what the generator watches in /proc.

    The generator connects to ``generator_port``: the chat port, or for a web
    kind the HTTP port, whose ``/ws`` it opens.

    A ``redis`` kind is a cluster node: on the Redis at ``redis_url``, or else
    on a redis-server it starts first and stops last (``redis_url`` then names
    it, for more nodes), on ``redis_cpu`` (None: where the kernel puts it). ``port`` (default: a
    free one) with ``reuse_port`` lets several nodes listen on one address, the
    kernel dealing clients between them.
    """

    def __init__(
        self,
        kind: ServerKind,
        workdir: Path | None = None,
        *,
        port: int | None = None,
        redis_url: str | None = None,
        reuse_port: bool = False,
        redis_cpu: int | None = GENERATOR_CPU,
    ) -> None:
        self.kind = kind
        self.port = port if port is not None else free_port()
        self._reuse_port = reuse_port
        self._redis: RedisServer | None = None
        self.redis_url = redis_url
        if kind.redis and redis_url is None:
            self._redis = started_redis(redis_cpu)
            self.redis_url = self._redis.url
        self._workdir = workdir
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._history_dir: tempfile.TemporaryDirectory[str] | None = None
        # A node's /readyz says when it is up: its chat port may answer already, from
        # another node listening on the same address.
        self.http_port = free_port() if kind.metrics or kind.web or kind.redis else None
        self.generator_port = self.http_port if kind.web and self.http_port else self.port
        self.scrapes = 0
        self._stop_scraping = threading.Event()
        self._scraper: threading.Thread | None = None
        if kind.history:
            self._history_dir = tempfile.TemporaryDirectory(prefix="tcpchat-bench-history-")
            seed_history(self._history_path())
        try:
            self.process = subprocess.Popen(
                pinned(SERVER_CPU, self._command()),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                preexec_fn=_raise_open_files_limit,
            )
            self.pid = self.process.pid  # taskset execs the server, so this is the server
            self._wait_listening()
        except BaseException:
            if self._redis is not None:
                self._redis.close()
            raise
        if self.http_port is not None and self.kind.metrics:
            self._scraper = threading.Thread(target=self._scrape, name="scraper", daemon=True)
            self._scraper.start()

    def _scrape(self) -> None:
        """GET /metrics every SCRAPE_INTERVAL until stopped, as a Prometheus server would."""
        url = f"http://127.0.0.1:{self.http_port}/metrics"
        while not self._stop_scraping.wait(SCRAPE_INTERVAL):
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as answer:
                answer.read()
                self.scrapes += 1

    def _command(self) -> list[str]:
        port = str(self.port)
        if self.kind is TCPCHAT_IRC:
            # The generator talks to the IRC port; the native one listens unused.
            return [
                sys.executable,
                "-m",
                "tcpchat",
                "serve",
                "--port",
                str(free_port()),
                "--irc-port",
                port,
                "--no-history",
                "--log-level",
                "error",
                "--loop",
                "auto",
                *tcpchat_flood_off_args(),
            ]
        if self.kind.name.startswith("tcpchat"):
            loop = self.kind.name.removeprefix("tcpchat-").removesuffix("-history")
            history = ["--db", str(self._history_path())] if self.kind.history else ["--no-history"]
            loop = loop.removesuffix("-metrics")
            if self.kind.web or self.kind.redis:
                loop = "asyncio"
            web = ["--http-port", str(self.http_port)] if self.http_port is not None else []
            if self.redis_url is not None:
                web += ["--redis-url", self.redis_url]
            if self._reuse_port:
                web += ["--reuse-port"]
            return [
                sys.executable,
                "-m",
                "tcpchat",
                "serve",
                "--port",
                port,
                "--log-level",
                "error",
                "--loop",
                loop,
                *history,
                *web,
                *tcpchat_flood_off_args(),
            ]
        if self.kind is NAIVE:
            naive = BENCH_DIR / "baselines" / "naive_server.py"
            return [sys.executable, str(naive), "--port", port]
        if self.kind is CALIBRATION:
            return [str(fanout_server_binary()), port]
        if self.kind is NGIRCD:
            return [ngircd_binary(), "--nodaemon", "--config", str(self._ngircd_config())]
        raise ValueError(f"unknown server {self.kind.name}")

    def _history_path(self) -> Path:
        assert self._history_dir is not None
        return Path(self._history_dir.name) / "tcpchat.db"

    def _ngircd_config(self) -> Path:
        assert self._workdir is not None, "ngIRCd needs a work directory"
        user = pwd.getpwuid(os.getuid()).pw_name
        template = (BENCH_DIR / "ngircd.conf.in").read_text()
        config = self._workdir / f"ngircd-{self.port}.conf"
        config.write_text(
            template.replace("@PORT@", str(self.port))
            .replace("@DIR@", str(self._workdir))
            .replace("@USER@", user)
        )
        return config

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind.name} exited at start:\n{self.output()}")
            if self.kind.redis:
                if self._ready():
                    return
            else:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", self.generator_port), timeout=1),
                ):
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind.name} did not listen within {START_TIMEOUT} s")

    def _ready(self) -> bool:
        """Whether this server's /readyz answers 200: a cluster node is listening, on Redis."""
        url = f"http://127.0.0.1:{self.http_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def output(self) -> str:
        """What the server printed so far."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL after a few seconds."""
        self._stop_scraping.set()
        if self._scraper is not None:
            self._scraper.join()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        if self._history_dir is not None:
            self._history_dir.cleanup()
        if self._redis is not None:
            self._redis.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def started_redis(cpu: int | None = None) -> RedisServer:
    """A redis-server of the benchmark's own, as the tests start theirs: on a free loopback
    port, persistence off, unpinned unless ``cpu`` says where (``make bench`` installs
    Debian's package)."""
    if shutil.which(REDIS_PROGRAM) is None:
        raise RuntimeError("redis-server is not installed: apt-get install redis-server")
    server = RedisServer()
    try:
        server.start()
        if cpu is not None and cpu < (os.cpu_count() or 1):
            for thread in os.listdir(f"/proc/{server.pid}/task"):
                os.sched_setaffinity(int(thread), {cpu})
    except BaseException:
        server.close()
        raise
    return server


def redis_available() -> bool:
    return shutil.which(REDIS_PROGRAM) is not None


def fanout_server_binary() -> Path:
    """The calibration server, compiled into ``build/`` when its source is newer."""
    return compile_c(BENCH_DIR / "baselines" / "fanout_server.c", BUILD_DIR / "fanout_server")


def ngircd_binary() -> str:
    """Where ngIRCd is installed (``make bench`` installs the Debian package)."""
    found = shutil.which("ngircd") or (
        "/usr/sbin/ngircd" if Path("/usr/sbin/ngircd").exists() else None
    )
    if found is None:
        raise RuntimeError("ngircd is not installed: apt-get install ngircd")
    return found


def ngircd_available() -> bool:
    try:
        ngircd_binary()
    except RuntimeError:
        return False
    return True
