"""The ``tcpchat`` command: ``tcpchat serve``, ``tcpchat connect`` and ``tcpchat config``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from tcpchat import __version__
from tcpchat.config import (
    ClientSettings,
    ClusterSettings,
    DirectSettings,
    HistorySettings,
    SearchSettings,
    ServerSettings,
    add_arguments,
    from_sources,
    task_log_level,
    task_port,
)
from tcpchat.config_file import (
    COMMAND_SETTINGS,
    CONFIG_ENV,
    CONFIG_FLAG,
    ConfigFile,
    ConfigFileError,
    example,
    read_config,
)
from tcpchat.core.errors import StoreError
from tcpchat.logs import announce, configure_logging
from tcpchat.net import loops
from tcpchat.server.chat import ChatServer

log = logging.getLogger("tcpchat")


#: The exit status for a command line or a setting that cannot be used, as argparse's.
USAGE_ERROR = 2


class CommandLineParser(argparse.ArgumentParser):
    """argparse, but a mistake gets one line: what was wrong, and where the help is.

    argparse would print the whole usage (25 lines for ``serve``) above its one
    line of error, so the error itself scrolls out of sight.
    """

    def error(self, message: str) -> NoReturn:
        message = message.removeprefix("argument ")
        self.exit(USAGE_ERROR, f"{self.prog}: {message}; see {self.prog} --help\n")


def parse_task(text: str) -> int:
    """``--task``: 1 or 2."""
    if text.strip() not in ("1", "2"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a task (expected 1 for the 1:1 chat or 2 for the room)"
        )
    return int(text)


def building_formatter(*, prog: str) -> argparse.HelpFormatter:
    """The formatter a parser uses while ``build_parser`` adds its arguments.

    argparse makes a formatter for every argument added, to check its metavar,
    and its own asks ``shutil`` for the terminal's width: importing ``shutil``
    maps zlib, bz2 and lzma (0.5 MiB of a server's start-up memory), which
    tcpchat never uses. Checking a metavar needs no width, so this one is given
    one; ``build_parser`` puts argparse's own back for the help.
    """
    return argparse.HelpFormatter(prog, width=80)


def build_parser() -> CommandLineParser:
    parser = CommandLineParser(
        prog="tcpchat",
        description="A self-hostable terminal chat over TCP.",
        formatter_class=building_formatter,
    )
    parser.add_argument("--version", action="version", version=f"tcpchat {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        formatter_class=building_formatter,
        help="run a chat server",
        description="Run a chat server: --task 2 is the multi-client room (the default), "
        "--task 1 a 1:1 chat between this console and one client.",
    )
    serve.set_defaults(command_parser=serve)
    serve.add_argument(
        "--task",
        type=parse_task,
        default=2,
        help="1: 1:1 chat with one client; 2: multi-client room (default 2)",
    )
    add_config_argument(serve)
    add_arguments(serve, ServerSettings)
    add_arguments(serve, SearchSettings)
    add_arguments(serve, HistorySettings)
    add_arguments(serve, ClusterSettings)
    add_arguments(serve, DirectSettings)

    connect = commands.add_parser(
        "connect",
        formatter_class=building_formatter,
        help="join a chat server",
        description="Join a tcpchat server: --task 2 joins the multi-client room (the default), "
        "--task 1 the 1:1 chat with a server's operator. Reads stdin as plain lines when it "
        "is not a terminal.",
    )
    connect.set_defaults(command_parser=connect)
    connect.add_argument(
        "--task",
        type=parse_task,
        default=2,
        help="1: the 1:1 chat (no nickname); 2: the multi-client room (default 2)",
    )
    add_config_argument(connect)
    add_arguments(connect, ClientSettings)

    config = commands.add_parser(
        "config",
        formatter_class=building_formatter,
        help="write or check a configuration file",
        description="Write an example configuration file, or check one.",
    )
    config.set_defaults(command_parser=config)
    actions = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    example_parser = actions.add_parser(
        "example",
        formatter_class=building_formatter,
        help="print a complete, commented configuration file, every setting at its default",
    )
    example_parser.set_defaults(command_parser=example_parser)
    check = actions.add_parser(
        "check",
        help="check a configuration file: 'ok', or the first problem and status 2",
        formatter_class=building_formatter,
    )
    check.set_defaults(command_parser=check)
    check.add_argument("file", metavar="FILE", help="the TOML file to check")
    for built in (parser, serve, connect, config, example_parser, check):
        built.formatter_class = argparse.HelpFormatter  # the help, at the terminal's width
    return parser


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        CONFIG_FLAG,
        dest="config",
        metavar="FILE",
        default=None,
        help=f"read settings from this TOML file; a flag or an environment variable beats it "
        f"(`tcpchat config example` writes one) [env {CONFIG_ENV}]",
    )


def load_config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ConfigFile | None:
    """The configuration file named by --config or TCPCHAT_CONFIG, checked; or None."""
    path = args.config if args.config is not None else os.environ.get(CONFIG_ENV, "")
    if not path:
        return None
    try:
        return read_config(path)
    except ConfigFileError as exc:
        parser.error(str(exc))


def file_values(config: ConfigFile | None, command: str) -> dict[str, object]:
    return dict(config.values(command)) if config is not None else {}


def warn_if_exposed(config: ConfigFile | None) -> None:
    """Warn when the configuration file holds a secret that other users may read."""
    warning = config.exposure_warning() if config is not None else None
    if warning is not None:
        log.warning("%s", warning)


def release_freed_memory() -> None:
    """Hand the memory that start-up used and freed back to the system (glibc only).

    Importing and setting up leaves freed blocks inside the C heap, which glibc
    keeps for reuse: about 1 MiB of a server's resident memory at start-up that
    no chat will need. ``malloc_trim(0)`` returns it. Elsewhere it does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # here: only a server that is about to listen needs it

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc (musl, say): nothing to give back this way


def freeze_start_up_objects() -> None:
    """Keep the cycle collector's full passes off the objects start-up made.

    Modules, classes and settings (some 26,000 objects) live as long as the
    server; without this, every full collection walks them all again, a pause
    of several milliseconds for every member that shows up as latency.
    """
    gc.freeze()


async def run_server(
    settings: ServerSettings,
    search_settings: SearchSettings,
    history: HistorySettings,
    cluster: ClusterSettings | None = None,
) -> None:
    """Run the multi-client server until SIGINT or SIGTERM, then shut down gracefully."""
    from tcpchat.ai.search import Search  # here: tcpchat connect has no use for it

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if not search_settings.enabled:
        log.warning("/search is off: set OPENAI_API_KEY to enable it")
    try:
        search = Search(search_settings)
        async with ChatServer(settings, search=search, history=history, cluster=cluster) as server:
            release_freed_memory()
            freeze_start_up_objects()
            announce(f"listening on {server.address}", settings.log_format, address=server.address)
            if server.web_url is not None:
                announce(f"web client at {server.web_url}", settings.log_format, url=server.web_url)
            await stop.wait()
            log.info("shutting down")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    args, unknown = build_parser().parse_known_args(argv)
    # Errors from here on are about the command's own settings: its --help is the one to read.
    parser: argparse.ArgumentParser = args.command_parser
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "config":
        return config_command(parser, args)
    config = load_config(parser, args)
    if args.command == "serve":
        values = file_values(config, "serve")
        try:
            settings = from_sources(ServerSettings, args, os.environ, values)
            search_settings = from_sources(SearchSettings, args, os.environ, values)
            history = from_sources(HistorySettings, args, os.environ, values)
            cluster = from_sources(ClusterSettings, args, os.environ, values)
            loops.loop_factory(settings.loop)  # refuse --loop uvloop early when it is missing
        except ValueError as exc:
            parser.error(str(exc))
        configure_logging(task_log_level(settings.log_level, args.task), settings.log_format)
        warn_if_exposed(config)
        settings = dataclasses.replace(settings, port=task_port(settings.port, args.task))
        if args.task == 1 and settings.password:
            # One operator, one guest: a password would only lock the guest out of a
            # chat the operator accepts by hand. TLS works for both tasks.
            parser.error("--password is for the multi-client room (--task 2), not --task 1")
        try:
            if args.task == 1:
                return serve_direct(parser, args, settings, values)
            log.info("event loop: %s", loops.loop_name(settings.loop))
            if cluster.enabled and history.history and history.db != HistorySettings().db:
                # One history for every node: Redis's (docs/scaling.md), never a local file.
                log.warning("--db %s is ignored: a cluster keeps its history on Redis", history.db)
            loops.run(run_server(settings, search_settings, history, cluster), settings.loop)
        except StoreError as exc:  # the history file or Redis: one line, before listening
            print(f"tcpchat serve: {exc}", file=sys.stderr)
            return USAGE_ERROR
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            print(
                f"tcpchat: cannot serve on {settings.host}:{settings.port}: {exc}", file=sys.stderr
            )
            return 1
        return 0
    return connect(parser, args, config)


def config_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``tcpchat config example`` and ``tcpchat config check FILE``."""
    if args.action == "example":
        sys.stdout.write(example())
        return 0
    try:
        config = read_config(args.file)
        counts = []
        for command, classes in COMMAND_SETTINGS.items():
            values = config.values(command)
            for cls in classes:
                # Built from the file alone, so that settings that cannot go together show.
                from_sources(cls, argparse.Namespace(), {}, values)
            counts.append(f"[{command}] {len(values)}")
    except ConfigFileError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except ValueError as exc:
        print(f"{parser.prog}: {args.file}: {exc}", file=sys.stderr)
        return USAGE_ERROR
    warning = config.exposure_warning()
    if warning is not None:
        print(f"{parser.prog}: warning: {warning}", file=sys.stderr)
    print(f"{args.file}: ok (settings given: {', '.join(counts)})")
    return 0


# -- tcpchat connect and tcpchat serve --task 1 (the interactive programs) -------


def serve_direct(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    settings: ServerSettings,
    values: dict[str, object],
) -> int:
    """Run the 1:1 chat with this console as the operator."""
    from tcpchat.server.console import run_direct

    try:
        direct = from_sources(DirectSettings, args, os.environ, values)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        return asyncio.run(run_direct(settings, direct))
    except KeyboardInterrupt:
        return 0  # Ctrl-C while no prompt was up: the operator left


def connect(
    parser: argparse.ArgumentParser, args: argparse.Namespace, config: ConfigFile | None
) -> int:
    """Run the terminal client until the user leaves (0) or the server is gone (1)."""
    from tcpchat.client.console import run_client

    try:
        settings = from_sources(ClientSettings, args, os.environ, file_values(config, "connect"))
        configure_logging("warning")
    except ValueError as exc:
        parser.error(str(exc))
    warn_if_exposed(config)
    if settings.password_env and settings.password_env not in os.environ:
        parser.error(f"--password-env: the variable {settings.password_env} is not set")
    settings = dataclasses.replace(settings, port=task_port(settings.port, args.task))
    try:
        return asyncio.run(run_client(settings, direct=args.task == 1))
    except KeyboardInterrupt:
        return 0  # Ctrl-C while no prompt was up: the user left


if __name__ == "__main__":
    raise SystemExit(main())
