"""The ``tcpchat`` command: ``tcpchat serve`` and ``tcpchat connect``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from tcpchat import __version__, loops
from tcpchat.config import TASK_PORTS, ServerSettings, add_arguments, from_sources
from tcpchat.server import ChatServer

log = logging.getLogger("tcpchat")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tcpchat", description="A self-hostable terminal chat over TCP."
    )
    parser.add_argument("--version", action="version", version=f"tcpchat {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run a chat server",
        description="Run a chat server: --task 2 is the multi-client room (the default), "
        "--task 1 a 1:1 chat between this console and one client.",
    )
    serve.add_argument(
        "--task",
        type=int,
        choices=(1, 2),
        default=2,
        help="1: 1:1 chat with one client; 2: multi-client room (default 2)",
    )
    add_arguments(serve, ServerSettings)

    connect = commands.add_parser(
        "connect", help="join a chat server", description="Join a tcpchat server."
    )
    connect.add_argument("--task", type=int, choices=(1, 2), default=2)
    connect.add_argument("--host", default="127.0.0.1")
    connect.add_argument("--port", type=int, default=None)
    connect.add_argument("--nick", default=None)
    return parser


def configure_logging(level_name: str) -> None:
    level = logging.getLevelNamesMapping().get(level_name.upper())
    if level is None:
        raise ValueError(f"unknown log level {level_name!r}")
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def run_server(settings: ServerSettings) -> None:
    """Run the multi-client server until SIGINT or SIGTERM, then shut down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with ChatServer(settings) as server:
            print(f"listening on {server.address}", file=sys.stderr, flush=True)
            await stop.wait()
            log.info("shutting down")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        try:
            settings = from_sources(ServerSettings, args, os.environ)
            configure_logging(settings.log_level)
            loops.loop_factory(settings.loop)  # refuse --loop uvloop early when it is missing
        except ValueError as exc:
            parser.error(str(exc))
        if settings.port == 0 and args.port is None and "TCPCHAT_PORT" not in os.environ:
            settings = ServerSettings(**{**settings.__dict__, "port": TASK_PORTS[args.task]})
        if args.task == 1:
            parser.error("--task 1 is not available yet")
        try:
            log.info("event loop: %s", loops.loop_name(settings.loop))
            loops.run(run_server(settings), settings.loop)
        except OSError as exc:
            print(
                f"tcpchat: cannot serve on {settings.host}:{settings.port}: {exc}", file=sys.stderr
            )
            return 1
        return 0
    parser.error("connect is not available yet")
    return 2  # pragma: no cover - parser.error exits


if __name__ == "__main__":
    raise SystemExit(main())
