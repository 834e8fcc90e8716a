"""Settings: every tunable and limit, each with a flag, an environment variable and a default.

A setting is declared once, as a dataclass field made by :func:`setting`; the
command line, the environment and the README's configuration table all come
from that one declaration. A flag beats the environment, which beats the default.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, TypeVar

from tcpchat.hub import DEFAULT_MAX_QUEUE_BYTES
from tcpchat.loops import parse_loop
from tcpchat.protocol import DEFAULT_MAX_LINE_BYTES

T = TypeVar("T")

TASK_PORTS = {1: 5001, 2: 5002}


def setting(default: T, flag: str, env: str, help: str, parse: Callable[[str], Any] = str) -> T:
    """Declare one setting: its default, its flag, its environment variable and what it does."""
    metadata = {"flag": flag, "env": env, "help": help, "parse": parse}
    return field(default=default, metadata=metadata)


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a yes/no value: {text!r}")


@dataclass(frozen=True)
class ServerSettings:
    """How a chat server listens, and the limits it enforces."""

    host: str = setting("127.0.0.1", "--host", "TCPCHAT_HOST", "address to listen on")
    port: int = setting(
        0, "--port", "TCPCHAT_PORT", "port to listen on (default: 5002, or 5001 for --task 1)", int
    )
    log_level: str = setting(
        "info", "--log-level", "TCPCHAT_LOG_LEVEL", "debug, info, warning or error"
    )
    max_line_bytes: int = setting(
        DEFAULT_MAX_LINE_BYTES,
        "--max-line-bytes",
        "TCPCHAT_MAX_LINE_BYTES",
        "longest accepted input line, in bytes; longer lines are discarded whole",
        int,
    )
    max_queue_bytes: int = setting(
        DEFAULT_MAX_QUEUE_BYTES,
        "--max-queue-bytes",
        "TCPCHAT_MAX_QUEUE_BYTES",
        "unsent bytes a client may fall behind before it is disconnected",
        int,
    )
    register_timeout: float = setting(
        60.0,
        "--register-timeout",
        "TCPCHAT_REGISTER_TIMEOUT",
        "seconds a new connection has to choose a nickname",
        float,
    )
    close_timeout: float = setting(
        2.0,
        "--close-timeout",
        "TCPCHAT_CLOSE_TIMEOUT",
        "seconds to flush a closing connection before it is cut",
        float,
    )
    # -- speed --
    loop: str = setting(
        "auto",
        "--loop",
        "TCPCHAT_LOOP",
        "event loop: auto (uvloop when installed, from the 'speed' extra), asyncio or uvloop",
        parse_loop,
    )


def settings_fields(cls: type[Any]) -> list[Field[Any]]:
    """The settings of ``cls``, in declaration order."""
    return [f for f in fields(cls) if "flag" in f.metadata]


def add_arguments(parser: argparse.ArgumentParser, cls: type[Any]) -> None:
    """Add one flag per setting of ``cls``; each defaults to None (meaning: not given)."""
    for f in settings_fields(cls):
        default = f.default if f.default is not MISSING else None
        help_text = f"{f.metadata['help']} [env {f.metadata['env']}; default {default!r}]"
        if f.metadata["parse"] is parse_bool:
            parser.add_argument(
                f.metadata["flag"],
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            parser.add_argument(
                f.metadata["flag"],
                dest=f.name,
                type=f.metadata["parse"],
                default=None,
                help=help_text,
                metavar=f.name.upper(),
            )


S = TypeVar("S")


def from_sources(cls: type[S], args: argparse.Namespace, environ: Mapping[str, str]) -> S:
    """Build ``cls`` from flags first, then the environment, then the defaults.

    Raises ValueError, naming the variable, for an environment value that does not parse.
    """
    values: dict[str, Any] = {}
    for f in settings_fields(cls):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
        elif f.metadata["env"] in environ:
            raw = environ[f.metadata["env"]]
            try:
                values[f.name] = f.metadata["parse"](raw)
            except ValueError as exc:
                raise ValueError(f"{f.metadata['env']}={raw!r}: {exc}") from None
    return cls(**values)
