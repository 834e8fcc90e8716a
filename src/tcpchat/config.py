"""Settings: every tunable and limit, each with a flag, an environment variable and a default.

A setting is declared once, as a dataclass field made by :func:`setting`; the
command line, the environment and the README's configuration table all come
from that one declaration. A flag beats the environment, which beats the default.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, TypeVar

from tcpchat.admission import DEFAULT_MAX_CLIENTS, DEFAULT_MAX_PER_IP
from tcpchat.hub import DEFAULT_MAX_QUEUE_BYTES
from tcpchat.loops import parse_loop
from tcpchat.protocol import DEFAULT_MAX_LINE_BYTES
from tcpchat.ratelimit import DEFAULT_FLOOD_BURST, DEFAULT_FLOOD_RATE
from tcpchat.sockopts import (
    DEFAULT_KEEPALIVE_COUNT,
    DEFAULT_KEEPALIVE_IDLE,
    DEFAULT_KEEPALIVE_INTERVAL,
)

T = TypeVar("T")

TASK_PORTS = {1: 5001, 2: 5002}


def task_port(port: int | None, task: int) -> int:
    """``port`` if one was given, else the task's own: 5001 for the 1:1 chat, 5002 for the room."""
    return TASK_PORTS[task] if port is None else port


def setting(
    default: T,
    flag: str,
    env: str,
    help: str,
    parse: Callable[[str], Any] = str,
    *,
    fallback_env: str | None = None,
    secret: bool = False,
) -> T:
    """Declare one setting: its default, its flag, its environment variable and what it does.

    ``fallback_env`` is a second, well-known variable read when ``env`` is unset
    (``OPENAI_API_KEY``, say). A ``secret`` setting is left out of the settings' repr.
    """
    metadata = {
        "flag": flag,
        "env": env,
        "help": help,
        "parse": parse,
        "fallback_env": fallback_env,
        "secret": secret,
    }
    return field(default=default, metadata=metadata, repr=not secret)


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
    port: int | None = setting(
        None,
        "--port",
        "TCPCHAT_PORT",
        "port to listen on (unset: 5002, or 5001 for --task 1; 0: any free port)",
        int,
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

    # -- Hardening: flood control, connection caps, keepalive, TLS, password --------
    # docs/security.md has the threat model and the table of these limits.
    flood_control: bool = setting(
        True,
        "--flood-control",
        "TCPCHAT_FLOOD_CONTROL",
        "slow down clients that send lines faster than the flood rate (off: for benchmarks)",
        parse_bool,
    )
    flood_burst: int = setting(
        DEFAULT_FLOOD_BURST,
        "--flood-burst",
        "TCPCHAT_FLOOD_BURST",
        "lines a client may send at once before flood control slows it down",
        int,
    )
    flood_rate: float = setting(
        DEFAULT_FLOOD_RATE,
        "--flood-rate",
        "TCPCHAT_FLOOD_RATE",
        "lines a second a client may send once its burst is spent",
        float,
    )
    max_clients: int = setting(
        DEFAULT_MAX_CLIENTS,
        "--max-clients",
        "TCPCHAT_MAX_CLIENTS",
        "most simultaneous connections; more are refused with a reason",
        int,
    )
    max_per_ip: int = setting(
        DEFAULT_MAX_PER_IP,
        "--max-per-ip",
        "TCPCHAT_MAX_PER_IP",
        "most simultaneous connections from one IP address",
        int,
    )
    limit_loopback: bool = setting(
        False,
        "--limit-loopback",
        "TCPCHAT_LIMIT_LOOPBACK",
        "apply --max-per-ip to loopback addresses too (exempt by default)",
        parse_bool,
    )
    keepalive_idle: int = setting(
        DEFAULT_KEEPALIVE_IDLE,
        "--keepalive-idle",
        "TCPCHAT_KEEPALIVE_IDLE",
        "seconds of silence before TCP keepalive probes a connection",
        int,
    )
    keepalive_interval: int = setting(
        DEFAULT_KEEPALIVE_INTERVAL,
        "--keepalive-interval",
        "TCPCHAT_KEEPALIVE_INTERVAL",
        "seconds between unanswered keepalive probes",
        int,
    )
    keepalive_count: int = setting(
        DEFAULT_KEEPALIVE_COUNT,
        "--keepalive-count",
        "TCPCHAT_KEEPALIVE_COUNT",
        "unanswered keepalive probes after which a peer counts as gone",
        int,
    )
    send_buffer_bytes: int = setting(
        0,
        "--send-buffer-bytes",
        "TCPCHAT_SEND_BUFFER_BYTES",
        "kernel send buffer per connection (SO_SNDBUF), on top of --max-queue-bytes; "
        "0 lets the kernel size it",
        int,
    )
    tls_cert: str = setting(
        "", "--tls-cert", "TCPCHAT_TLS_CERT", "serve TLS with this PEM certificate chain file"
    )
    tls_key: str = setting(
        "", "--tls-key", "TCPCHAT_TLS_KEY", "the PEM private key file for --tls-cert"
    )
    password: str = setting(
        "",
        "--password",
        "TCPCHAT_PASSWORD",
        "password clients must give before choosing a nickname (prefer the environment "
        "variable: a flag shows in the process list)",
        secret=True,
    )

    def __post_init__(self) -> None:
        """Refuse limits that could never work, before anyone connects."""
        positive = {
            "--max-line-bytes": self.max_line_bytes,
            "--max-queue-bytes": self.max_queue_bytes,
            "--register-timeout": self.register_timeout,
            "--close-timeout": self.close_timeout,
            "--flood-burst": self.flood_burst,
            "--flood-rate": self.flood_rate,
            "--max-clients": self.max_clients,
            "--max-per-ip": self.max_per_ip,
            "--keepalive-idle": self.keepalive_idle,
            "--keepalive-interval": self.keepalive_interval,
            "--keepalive-count": self.keepalive_count,
        }
        for flag, value in positive.items():
            if value <= 0:
                raise ValueError(f"{flag} must be positive (got {value})")
        if self.send_buffer_bytes < 0:
            raise ValueError("--send-buffer-bytes must not be negative (0 lets the kernel decide)")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise ValueError(f"--port must be 0 to 65535 (got {self.port})")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("TLS needs both --tls-cert and --tls-key: one must not come alone")
        if self.password and not self.password.strip():
            raise ValueError("--password must not be blank")


def settings_fields(cls: type[Any]) -> list[Field[Any]]:
    """The settings of ``cls``, in declaration order."""
    return [f for f in fields(cls) if "flag" in f.metadata]


def add_arguments(parser: argparse.ArgumentParser, cls: type[Any]) -> None:
    """Add one flag per setting of ``cls``; each defaults to None (meaning: not given)."""
    for f in settings_fields(cls):
        default = f.default if f.default is not MISSING else None
        variables = f.metadata["env"]
        if f.metadata.get("fallback_env"):
            variables += f" or {f.metadata['fallback_env']}"
        help_text = f"{f.metadata['help']} [env {variables}; default {default!r}]"
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
            continue
        for variable in (f.metadata["env"], f.metadata.get("fallback_env")):
            if variable is None or variable not in environ:
                continue
            raw = environ[variable]
            try:
                values[f.name] = f.metadata["parse"](raw)
            except ValueError as exc:
                shown = "(hidden)" if f.metadata.get("secret") else repr(raw)
                raise ValueError(f"{variable}={shown}: {exc}") from None
            break
    return cls(**values)


def settings_table(*classes: type[Any]) -> str:
    """The settings of ``classes`` as a Markdown table, for the README."""
    rows = ["| flag | environment variable | default | what it sets |", "|---|---|---|---|"]
    for cls in classes:
        for f in settings_fields(cls):
            default = f.default if f.default is not MISSING else None
            shown = "(none)" if default in (None, "") else f"`{default}`"
            flag, env, help_text = f.metadata["flag"], f.metadata["env"], f.metadata["help"]
            if f.metadata["parse"] is parse_bool:
                flag = flag.replace("--", "--[no-]", 1)
                shown = "on" if default else "off"
            env_cell = f"`{env}`"
            if f.metadata.get("fallback_env"):
                env_cell += f", else `{f.metadata['fallback_env']}`"
            rows.append(f"| `{flag}` | {env_cell} | {shown} | {help_text} |")
    return "\n".join(rows)


# -- /search ------------------------------------------------------------------

AI_APIS = ("responses", "chat")


def parse_ai_api(text: str) -> str:
    value = text.strip().lower()
    if value not in AI_APIS:
        raise ValueError(f"not one of {', '.join(AI_APIS)}: {text!r}")
    return value


@dataclass(frozen=True)
class SearchSettings:
    """How ``/search`` reaches the AI model, and the limits that keep it cheap and fair.

    Without an API key the server still runs; ``/search`` then says how to enable it.
    """

    api_key: str = setting(
        "",
        "--ai-api-key",
        "TCPCHAT_AI_API_KEY",
        "API key for the AI service (prefer the environment: a flag shows in `ps`)",
        fallback_env="OPENAI_API_KEY",
        secret=True,
    )
    base_url: str = setting(
        "",
        "--ai-base-url",
        "TCPCHAT_AI_BASE_URL",
        "OpenAI-compatible API root, such as http://localhost:11434/v1 (empty: OpenAI's)",
        fallback_env="OPENAI_BASE_URL",
    )
    api: str = setting(
        "responses",
        "--ai-api",
        "TCPCHAT_AI_API",
        "responses (OpenAI, with web search) or chat (Chat Completions, for local servers)",
        parse_ai_api,
    )
    model: str = setting("gpt-5.4-mini", "--ai-model", "TCPCHAT_AI_MODEL", "model that answers")
    web_search: bool = setting(
        True,
        "--ai-web-search",
        "TCPCHAT_AI_WEB_SEARCH",
        "let the model search the web and cite sources (responses API only)",
        parse_bool,
    )
    timeout: float = setting(
        30.0,
        "--ai-timeout",
        "TCPCHAT_AI_TIMEOUT",
        "seconds a whole search may take, streaming included",
        float,
    )
    max_retries: int = setting(
        1, "--ai-max-retries", "TCPCHAT_AI_MAX_RETRIES", "retries of a failed request (0 to 3)", int
    )
    max_output_tokens: int = setting(
        2048,
        "--ai-max-output-tokens",
        "TCPCHAT_AI_MAX_OUTPUT_TOKENS",
        "most tokens the model may produce for one answer (reasoning included)",
        int,
    )
    cooldown: float = setting(
        20.0,
        "--ai-cooldown",
        "TCPCHAT_AI_COOLDOWN",
        "seconds a user waits between two searches",
        float,
    )
    max_concurrent: int = setting(
        4,
        "--ai-max-concurrent",
        "TCPCHAT_AI_MAX_CONCURRENT",
        "searches running at once on this server; more are told to try again",
        int,
    )
    max_answer_chars: int = setting(
        4000,
        "--ai-max-answer-chars",
        "TCPCHAT_AI_MAX_ANSWER_CHARS",
        "longest answer shown in the room; the rest is cut",
        int,
    )
    room_context: int = setting(
        0,
        "--ai-room-context",
        "TCPCHAT_AI_ROOM_CONTEXT",
        "recent room messages sent with a question, quoted as untrusted (0: none)",
        int,
    )

    def __post_init__(self) -> None:
        parse_ai_api(self.api)
        if self.timeout <= 0:
            raise ValueError("the AI timeout must be positive")
        if not 0 <= self.max_retries <= 3:
            raise ValueError("the AI max retries must be 0 to 3")
        if self.max_output_tokens < 16:
            raise ValueError("the AI max output tokens must be at least 16")
        if self.cooldown < 0:
            raise ValueError("the AI cooldown cannot be negative")
        if self.max_concurrent < 1:
            raise ValueError("the AI max concurrent searches must be at least 1")
        if self.max_answer_chars < 100:
            raise ValueError("the AI max answer length must be at least 100 characters")
        if not 0 <= self.room_context <= 50:
            raise ValueError("the AI room context must be 0 to 50 messages")

    @property
    def enabled(self) -> bool:
        """Whether ``/search`` can run: an API key is set."""
        return bool(self.api_key.strip())


# -- the terminal client (tcpchat connect) and the 1:1 chat (task 1) -----------


@dataclass(frozen=True)
class ClientSettings:
    """Where ``tcpchat connect`` connects, as whom, and how it comes back after a loss."""

    host: str = setting("127.0.0.1", "--host", "TCPCHAT_CONNECT_HOST", "server address to join")
    port: int | None = setting(
        None,
        "--port",
        "TCPCHAT_CONNECT_PORT",
        "server port (unset: 5002, or 5001 for --task 1)",
        int,
    )
    nick: str | None = setting(
        None, "--nick", "TCPCHAT_NICK", "nickname to register (asked for when not given)"
    )
    reconnect: bool = setting(
        False,
        "--reconnect",
        "TCPCHAT_RECONNECT",
        "when the server goes away, reconnect and re-register instead of exiting",
        parse_bool,
    )
    reconnect_delay: float = setting(
        1.0,
        "--reconnect-delay",
        "TCPCHAT_RECONNECT_DELAY",
        "seconds before the first reconnection attempt; doubles with each failed one",
        float,
    )
    reconnect_max_delay: float = setting(
        30.0,
        "--reconnect-max-delay",
        "TCPCHAT_RECONNECT_MAX_DELAY",
        "longest wait between reconnection attempts, in seconds",
        float,
    )
    connect_timeout: float = setting(
        10.0,
        "--connect-timeout",
        "TCPCHAT_CONNECT_TIMEOUT",
        "seconds to wait for the server to accept the connection and answer",
        float,
    )
    tls: bool = setting(
        False,
        "--tls",
        "TCPCHAT_TLS",
        "connect with TLS, verifying the server against the system's trust store",
        parse_bool,
    )
    tls_ca: str | None = setting(
        None,
        "--tls-ca",
        "TCPCHAT_TLS_CA",
        "verify the server against this PEM CA file instead (implies --tls)",
    )
    insecure: bool = setting(
        False,
        "--insecure",
        "TCPCHAT_INSECURE",
        "TLS without verifying the server: only for self-signed test servers (implies --tls)",
        parse_bool,
    )
    password_env: str | None = setting(
        None,
        "--password-env",
        "TCPCHAT_PASSWORD_ENV",
        "name of the environment variable that holds the server password (else it is asked for)",
    )

    def __post_init__(self) -> None:
        if self.port is not None and not 1 <= self.port <= 65535:
            raise ValueError(f"--port must be 1 to 65535 (got {self.port})")
        times = {
            "--reconnect-delay": self.reconnect_delay,
            "--reconnect-max-delay": self.reconnect_max_delay,
            "--connect-timeout": self.connect_timeout,
        }
        for flag, value in times.items():
            if not 0 < value < math.inf:  # refuses NaN too
                raise ValueError(f"{flag} must be a positive number of seconds (got {value})")

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.insecure or self.tls_ca is not None


@dataclass(frozen=True)
class DirectSettings:
    """Settings of the 1:1 chat server (``tcpchat serve --task 1``) beyond ServerSettings."""

    once: bool = setting(
        False,
        "--once",
        "TCPCHAT_ONCE",
        "task 1: exit when the first chat ends instead of waiting for the next client",
        parse_bool,
    )


def all_settings_table() -> str:
    """The README's configuration tables: one for ``serve``, one for ``connect``."""
    return (
        "### `tcpchat serve`\n\n"
        + settings_table(ServerSettings, SearchSettings, DirectSettings)
        + "\n\n### `tcpchat connect`\n\n"
        + settings_table(ClientSettings)
    )
