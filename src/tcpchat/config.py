"""Settings: every tunable and limit, each with a flag, an environment variable and a default.

A setting is declared once, as a dataclass field made by :func:`setting`; the
command line, the environment, the configuration file (:mod:`tcpchat.config_file`)
and the README's configuration table all come from that one declaration. A flag
beats the environment, which beats the file, which beats the default.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, TypeVar

from tcpchat.core.admission import DEFAULT_MAX_CLIENTS, DEFAULT_MAX_PER_IP
from tcpchat.core.errors import TcpchatError
from tcpchat.core.hub import DEFAULT_MAX_QUEUE_BYTES
from tcpchat.core.protocol import DEFAULT_MAX_LINE_BYTES
from tcpchat.core.ratelimit import DEFAULT_FLOOD_BURST, DEFAULT_FLOOD_RATE
from tcpchat.core.rooms import (
    DEFAULT_MAX_ROOMS,
    DEFAULT_MAX_ROOMS_PER_MEMBER,
    DEFAULT_MAX_TOPIC_CHARS,
    DEFAULT_QUIET_JOINS_ABOVE,
    DEFAULT_ROOM,
    RoomRules,
    validate_room,
)
from tcpchat.net.loops import LOOP_CHOICES
from tcpchat.net.sockopts import (
    DEFAULT_KEEPALIVE_COUNT,
    DEFAULT_KEEPALIVE_IDLE,
    DEFAULT_KEEPALIVE_INTERVAL,
)
from tcpchat.store.base import MAX_PAGE
from tcpchat.store.historian import DEFAULT_MAX_DAYS, DEFAULT_MAX_ROWS, MAX_HISTORY_DAYS

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


YES_WORDS = ("1", "true", "yes", "on")
NO_WORDS = ("0", "false", "no", "off", "")


def parse_bool(text: str) -> bool:
    """A yes/no environment variable (flags are ``--name`` and ``--no-name``)."""
    value = text.strip().lower()
    if value in YES_WORDS:
        return True
    if value in NO_WORDS:
        return False
    raise ValueError(f"{text!r} is not a yes/no value (expected 1/0, true/false, yes/no or on/off)")


@dataclass(frozen=True)
class Number:
    """How a numeric setting is read from text, and the values it accepts.

    Called on a flag's or a variable's text, it returns the number or raises
    ValueError with a sentence that gives the text and what was expected. The
    same bounds are checked when settings are built in code (:func:`check_values`).
    """

    whole: bool
    minimum: float
    maximum: float | None = None
    #: Whether ``minimum`` itself is refused ("above 0" rather than "0 or more").
    above: bool = False
    #: What the number counts: "seconds", "bytes"... ("" for a bare count).
    unit: str = ""
    #: Overrides the generated description of the accepted values ("a port 0-65535").
    described: str = ""

    @property
    def expected(self) -> str:
        if self.described:
            return self.described
        kind = "a whole number" if self.whole else "a number"
        if self.unit:
            kind += f" of {self.unit}"
        low = f"{self.minimum:g}"
        if self.maximum is not None:
            return f"{kind} from {low} to {self.maximum:g}"
        return f"{kind} above {low}" if self.above else f"{kind}, {low} or more"

    def accepts(self, value: float) -> bool:
        if not math.isfinite(value) or (self.maximum is not None and value > self.maximum):
            return False
        return value > self.minimum if self.above else value >= self.minimum

    def __call__(self, text: str) -> int | float:
        try:
            value: int | float = int(text) if self.whole else float(text)
        except ValueError:
            kind = "a whole number" if self.whole else "a number"
            raise ValueError(f"{text!r} is not {kind} (expected {self.expected})") from None
        if not self.accepts(value):
            raise ValueError(f"{text!r} is out of range (expected {self.expected})")
        return value


@dataclass(frozen=True)
class Choice:
    """A setting that is one of a few words, given in any case."""

    choices: tuple[str, ...]

    @property
    def expected(self) -> str:
        return "one of " + ", ".join(self.choices)

    def accepts(self, value: str) -> bool:
        return value in self.choices

    def __call__(self, text: str) -> str:
        value = text.strip().lower()
        if value not in self.choices:
            raise ValueError(f"{text!r} is not a choice here (expected {self.expected})")
        return value


@dataclass(frozen=True)
class ReadableFile:
    """A setting that names a file tcpchat must read; empty means none."""

    described: str

    def __call__(self, text: str) -> str:
        if text and not (os.path.isfile(text) and os.access(text, os.R_OK)):
            raise ValueError(f"{text!r} is not a readable file (expected {self.described})")
        return text


@dataclass(frozen=True)
class RoomName:
    """A setting that names a room: ``#`` and a valid name (see tcpchat.core.rooms)."""

    expected: str = "a room name such as #lobby"

    def accepts(self, value: str) -> bool:
        try:
            return validate_room(value) == value
        except TcpchatError:
            return False

    def __call__(self, text: str) -> str:
        try:
            return validate_room(text)
        except TcpchatError as exc:
            raise ValueError(f"{text!r} is not a room name: {exc}") from None


#: What a server name on IRC may be: one word a reply's source can carry.
SERVER_NAME_RULE = "1 to 63 ASCII letters, digits, '.' and '-', starting with a letter or digit"
#: The server's name on IRC when the host name is not one IRC can carry.
FALLBACK_SERVER_NAME = "tcpchat.local"
_SERVER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}")


def is_server_name(text: str) -> bool:
    """Whether ``text`` can be the server's name on IRC (the source of its replies)."""
    return _SERVER_NAME.fullmatch(text) is not None


@dataclass(frozen=True)
class OriginList:
    """A setting that lists web origins, comma-separated: ``https://chat.example.org``.

    Each origin is a scheme (http or https), ``://`` and a host, with an optional
    port: what a browser sends in its ``Origin`` header. The value is kept
    normalised: lower case, separated by ``,`` alone.
    """

    expected: str = "origins such as https://chat.example.org,http://10.0.0.2:8080"

    def accepts(self, value: str) -> bool:
        try:
            self(value)
        except ValueError:
            return False
        return True

    def __call__(self, text: str) -> str:
        origins = [item.strip().lower() for item in text.split(",") if item.strip()]
        for origin in origins:
            scheme, _, rest = origin.partition("://")
            if scheme not in ("http", "https") or not rest or any(c in rest for c in "/?#@ "):
                raise ValueError(f"{origin!r} is not a web origin (expected {self.expected})")
        return ",".join(origins)


def check_values(settings: object) -> None:
    """Refuse a number, a choice or a name out of its setting's bounds, naming the flag."""
    for f in settings_fields(type(settings)):
        parse, value = f.metadata["parse"], getattr(settings, f.name)
        checked = isinstance(parse, Number | Choice | RoomName | OriginList)
        if checked and value is not None and not parse.accepts(value):
            raise ValueError(f"{f.metadata['flag']} must be {parse.expected} (got {value!r})")


PORT = Number(whole=True, minimum=0, maximum=65535, described="a port 0-65535")
#: A port to connect to: 0 means "any free port" only when listening.
REMOTE_PORT = Number(whole=True, minimum=1, maximum=65535, described="a port 1-65535")
POSITIVE_COUNT = Number(whole=True, minimum=1)
POSITIVE_BYTES = Number(whole=True, minimum=1, unit="bytes")
POSITIVE_SECONDS = Number(whole=False, minimum=0, above=True, unit="seconds")
WHOLE_SECONDS = Number(whole=True, minimum=1, unit="seconds")

LOG_LEVELS = ("debug", "info", "warning", "error")
#: How log lines are written: for people (text) or for log shippers (one JSON object a line).
LOG_FORMATS = ("text", "json")
#: The log level when none is given: the 1:1 chat's console already shows each
#: connection and departure as chat, so it logs only what goes wrong.
TASK_LOG_LEVELS = {1: "warning", 2: "info"}


def task_log_level(level: str | None, task: int) -> str:
    """``level`` if one was given, else the task's own: info for the room, warning for 1:1."""
    return TASK_LOG_LEVELS[task] if level is None else level


@dataclass(frozen=True)
class ServerSettings:
    """How a chat server listens, and the limits it enforces."""

    host: str = setting("127.0.0.1", "--host", "TCPCHAT_HOST", "address to listen on")
    port: int | None = setting(
        None,
        "--port",
        "TCPCHAT_PORT",
        "port to listen on (unset: 5002, or 5001 for --task 1; 0: any free port)",
        PORT,
    )
    log_level: str | None = setting(
        None,
        "--log-level",
        "TCPCHAT_LOG_LEVEL",
        "what is logged to stderr: debug, info, warning or error (unset: info, or warning for "
        "--task 1, whose console already shows who comes and goes)",
        Choice(LOG_LEVELS),
    )
    log_format: str = setting(
        "text",
        "--log-format",
        "TCPCHAT_LOG_FORMAT",
        "how log lines are written: text, or json (one object a line, for log shippers)",
        Choice(LOG_FORMATS),
    )
    max_line_bytes: int = setting(
        DEFAULT_MAX_LINE_BYTES,
        "--max-line-bytes",
        "TCPCHAT_MAX_LINE_BYTES",
        "longest accepted input line, in bytes; longer lines are discarded whole",
        POSITIVE_BYTES,
    )
    max_queue_bytes: int = setting(
        DEFAULT_MAX_QUEUE_BYTES,
        "--max-queue-bytes",
        "TCPCHAT_MAX_QUEUE_BYTES",
        "unsent bytes a client may fall behind before it is disconnected",
        POSITIVE_BYTES,
    )
    register_timeout: float = setting(
        60.0,
        "--register-timeout",
        "TCPCHAT_REGISTER_TIMEOUT",
        "seconds a new connection has to choose a nickname",
        POSITIVE_SECONDS,
    )
    close_timeout: float = setting(
        2.0,
        "--close-timeout",
        "TCPCHAT_CLOSE_TIMEOUT",
        "seconds to flush a closing connection before it is cut",
        POSITIVE_SECONDS,
    )
    # -- speed --
    loop: str = setting(
        "auto",
        "--loop",
        "TCPCHAT_LOOP",
        "event loop: auto (uvloop when installed, from the 'speed' extra), asyncio or uvloop",
        Choice(LOOP_CHOICES),
    )
    # -- rooms --
    default_room: str = setting(
        DEFAULT_ROOM,
        "--default-room",
        "TCPCHAT_DEFAULT_ROOM",
        "the room every connection joins when it registers (it never disappears)",
        RoomName(),
    )
    max_rooms: int = setting(
        DEFAULT_MAX_ROOMS,
        "--max-rooms",
        "TCPCHAT_MAX_ROOMS",
        "most rooms on the server, the default room included; /join of a new one is refused",
        POSITIVE_COUNT,
    )
    max_rooms_per_member: int = setting(
        DEFAULT_MAX_ROOMS_PER_MEMBER,
        "--max-rooms-per-member",
        "TCPCHAT_MAX_ROOMS_PER_MEMBER",
        "most rooms one connection may be in at once",
        POSITIVE_COUNT,
    )
    max_topic_chars: int = setting(
        DEFAULT_MAX_TOPIC_CHARS,
        "--max-topic-chars",
        "TCPCHAT_MAX_TOPIC_CHARS",
        "longest room topic; a longer one is refused",
        Number(whole=True, minimum=1, unit="characters"),
    )
    quiet_joins_above: int = setting(
        DEFAULT_QUIET_JOINS_ABOVE,
        "--quiet-joins-above",
        "TCPCHAT_QUIET_JOINS_ABOVE",
        "in a room of more than this many members, joins, parts and quits are not "
        "announced, and a joiner is told the count rather than every name (0: always "
        "announce)",
        Number(whole=True, minimum=0, unit="members"),
    )
    # -- IRC (docs/irc.md) --
    irc_port: int | None = setting(
        None,
        "--irc-port",
        "TCPCHAT_IRC_PORT",
        "also serve IRC on this port, for irssi, WeeChat and bots (unset: off; 6667 is "
        "IRC's; 0: any free port)",
        PORT,
    )
    irc_tls_port: int | None = setting(
        None,
        "--irc-tls-port",
        "TCPCHAT_IRC_TLS_PORT",
        "also serve IRC over TLS on this port, with --tls-cert and --tls-key (unset: off; "
        "6697 is IRC's)",
        PORT,
    )
    server_name: str = setting(
        "",
        "--server-name",
        "TCPCHAT_SERVER_NAME",
        "the server's name on IRC: ASCII letters, digits, '.' and '-' (empty: the machine's "
        "host name)",
    )
    irc_ping_interval: float = setting(
        120.0,
        "--irc-ping-interval",
        "TCPCHAT_IRC_PING_INTERVAL",
        "seconds of silence before an IRC client is sent PING; as many again without a "
        "line and it is disconnected",
        POSITIVE_SECONDS,
    )
    # -- the web front door (docs/web.md) --
    http_port: int | None = setting(
        None,
        "--http-port",
        "TCPCHAT_HTTP_PORT",
        "port of the web client and its WebSocket endpoint /ws, on --host, with TLS when "
        "configured (unset: off; 8080 is conventional; 0: any free port)",
        PORT,
    )
    http_allowed_origins: str = setting(
        "",
        "--http-allowed-origins",
        "TCPCHAT_HTTP_ALLOWED_ORIGINS",
        "web origins besides the page's own whose pages may open /ws, comma-separated "
        "(https://chat.example.org); other origins get 403",
        OriginList(),
    )
    http_host: str = setting(
        "",
        "--http-host",
        "TCPCHAT_HTTP_HOST",
        "address of the web listener (--http-port), its /metrics, /healthz and /readyz "
        "(empty: --host); 127.0.0.1 keeps them off the network",
    )
    metrics_token: str = setting(
        "",
        "--metrics-token",
        "TCPCHAT_METRICS_TOKEN",
        "token /metrics asks for, as 'Authorization: Bearer TOKEN' (empty: /metrics is open "
        "to whoever reaches --http-host; prefer the environment variable)",
        secret=True,
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
        POSITIVE_COUNT,
    )
    flood_rate: float = setting(
        DEFAULT_FLOOD_RATE,
        "--flood-rate",
        "TCPCHAT_FLOOD_RATE",
        "lines a second a client may send once its burst is spent",
        Number(whole=False, minimum=0, above=True),
    )
    max_clients: int = setting(
        DEFAULT_MAX_CLIENTS,
        "--max-clients",
        "TCPCHAT_MAX_CLIENTS",
        "most simultaneous connections; more are refused with a reason",
        POSITIVE_COUNT,
    )
    max_per_ip: int = setting(
        DEFAULT_MAX_PER_IP,
        "--max-per-ip",
        "TCPCHAT_MAX_PER_IP",
        "most simultaneous connections from one IP address",
        POSITIVE_COUNT,
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
        WHOLE_SECONDS,
    )
    keepalive_interval: int = setting(
        DEFAULT_KEEPALIVE_INTERVAL,
        "--keepalive-interval",
        "TCPCHAT_KEEPALIVE_INTERVAL",
        "seconds between unanswered keepalive probes",
        WHOLE_SECONDS,
    )
    keepalive_count: int = setting(
        DEFAULT_KEEPALIVE_COUNT,
        "--keepalive-count",
        "TCPCHAT_KEEPALIVE_COUNT",
        "unanswered keepalive probes after which a peer counts as gone",
        POSITIVE_COUNT,
    )
    send_buffer_bytes: int = setting(
        0,
        "--send-buffer-bytes",
        "TCPCHAT_SEND_BUFFER_BYTES",
        "kernel send buffer per connection (SO_SNDBUF), on top of --max-queue-bytes; "
        "0 lets the kernel size it",
        Number(whole=True, minimum=0, unit="bytes"),
    )
    tls_cert: str = setting(
        "",
        "--tls-cert",
        "TCPCHAT_TLS_CERT",
        "serve TLS with this PEM certificate chain file",
        ReadableFile("a PEM certificate chain file"),
    )
    tls_key: str = setting(
        "",
        "--tls-key",
        "TCPCHAT_TLS_KEY",
        "the PEM private key file for --tls-cert",
        ReadableFile("a PEM private key file"),
    )
    password: str = setting(
        "",
        "--password",
        "TCPCHAT_PASSWORD",
        "password clients must give before choosing a nickname (prefer the environment "
        "variable: a flag shows in the process list)",
        secret=True,
    )

    oper_password: str = setting(
        "",
        "--oper-password",
        "TCPCHAT_OPER_PASSWORD",
        "password that makes a member a server operator with /oper (unset: no operators; "
        "prefer the environment variable)",
        secret=True,
    )

    def __post_init__(self) -> None:
        """Refuse limits that could never work, before anyone connects."""
        check_values(self)
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("TLS needs both --tls-cert and --tls-key: one must not come alone")
        if self.password and not self.password.strip():
            raise ValueError("--password must not be blank")
        if self.irc_tls_port is not None and not self.tls_cert:
            raise ValueError("--irc-tls-port needs --tls-cert and --tls-key")
        if self.server_name and not is_server_name(self.server_name):
            raise ValueError(f"--server-name must be {SERVER_NAME_RULE} (got {self.server_name!r})")
        if self.metrics_token and not self.metrics_token.strip():
            raise ValueError("--metrics-token must not be blank")
        if self.oper_password and not self.oper_password.strip():
            raise ValueError("--oper-password must not be blank")
        if self.oper_password and self.oper_password.strip() == self.password.strip():
            raise ValueError("--oper-password must differ from --password: every member has that")

    @property
    def irc_server_name(self) -> str:
        """The server's name on IRC: ``--server-name``, else the host name if IRC can carry it."""
        if self.server_name:
            return self.server_name
        host = socket.gethostname()
        return host if is_server_name(host) else FALLBACK_SERVER_NAME

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """``--http-allowed-origins`` as a tuple (the page's own origin is always allowed)."""
        return tuple(
            origin for origin in OriginList()(self.http_allowed_origins).split(",") if origin
        )

    @property
    def web_host(self) -> str:
        """The address of the web listener: ``--http-host``, else ``--host``."""
        return self.http_host or self.host

    @property
    def room_rules(self) -> RoomRules:
        """The default room and the room limits, as the hub and the sessions take them."""
        return RoomRules(
            self.default_room,
            self.max_rooms,
            self.max_rooms_per_member,
            self.max_topic_chars,
            self.quiet_joins_above,
        )


def settings_fields(cls: type[Any]) -> list[Field[Any]]:
    """The settings of ``cls``, in declaration order."""
    return [f for f in fields(cls) if "flag" in f.metadata]


def file_key(f: Field[Any]) -> str:
    """A setting's key in a configuration file: its flag without the dashes."""
    flag: str = f.metadata["flag"]
    return flag.removeprefix("--")


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
                type=_flag_parser(f.metadata["parse"]),
                default=None,
                help=help_text,
                metavar=f.name.upper(),
            )


def _flag_parser(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` for argparse, whose error then says our sentence rather than "invalid value"."""

    def parse_flag(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse_flag


S = TypeVar("S")


def from_sources(
    cls: type[S],
    args: argparse.Namespace,
    environ: Mapping[str, str],
    file_values: Mapping[str, Any] | None = None,
) -> S:
    """Build ``cls`` from flags first, then the environment, then a file, then the defaults.

    ``file_values`` are a configuration file's checked values for this command,
    by flag name without the dashes (:mod:`tcpchat.config_file`). Raises
    ValueError, naming the variable, for an environment value that does not parse
    or is out of bounds; the settings' own checks raise it for values that cannot go together.
    """
    values: dict[str, Any] = {}
    for f in settings_fields(cls):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
            continue
        if file_values is not None and file_key(f) in file_values:
            values[f.name] = file_values[file_key(f)]
        for variable in (f.metadata["env"], f.metadata.get("fallback_env")):
            if variable is None or variable not in environ:
                continue
            raw = environ[variable]
            try:
                values[f.name] = f.metadata["parse"](raw)
            except ValueError as exc:
                said = (
                    "not a valid value (not shown: it is secret)" if f.metadata["secret"] else exc
                )
                raise ValueError(f"{variable}: {said}") from None
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
        Choice(AI_APIS),
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
        POSITIVE_SECONDS,
    )
    max_retries: int = setting(
        1,
        "--ai-max-retries",
        "TCPCHAT_AI_MAX_RETRIES",
        "retries of a failed request (0 to 3)",
        Number(whole=True, minimum=0, maximum=3),
    )
    max_output_tokens: int = setting(
        2048,
        "--ai-max-output-tokens",
        "TCPCHAT_AI_MAX_OUTPUT_TOKENS",
        "most tokens the model may produce for one answer (reasoning included)",
        Number(whole=True, minimum=16, unit="tokens"),
    )
    cooldown: float = setting(
        20.0,
        "--ai-cooldown",
        "TCPCHAT_AI_COOLDOWN",
        "seconds between two searches from one client address (on loopback: per nickname)",
        Number(whole=False, minimum=0, unit="seconds"),
    )
    max_concurrent: int = setting(
        4,
        "--ai-max-concurrent",
        "TCPCHAT_AI_MAX_CONCURRENT",
        "searches running at once on this server; more are told to try again",
        POSITIVE_COUNT,
    )
    max_answer_chars: int = setting(
        4000,
        "--ai-max-answer-chars",
        "TCPCHAT_AI_MAX_ANSWER_CHARS",
        "longest answer shown in the room; the rest is cut",
        Number(whole=True, minimum=100, unit="characters"),
    )
    room_context: int = setting(
        0,
        "--ai-room-context",
        "TCPCHAT_AI_ROOM_CONTEXT",
        "recent room messages sent with a question, quoted as untrusted (0: none)",
        Number(whole=True, minimum=0, maximum=50, unit="messages"),
    )

    def __post_init__(self) -> None:
        check_values(self)

    @property
    def enabled(self) -> bool:
        """Whether ``/search`` can run: an API key is set."""
        return bool(self.api_key.strip())


# -- room history (docs/history.md) -------------------------------------------


@dataclass(frozen=True)
class HistorySettings:
    """Where the rooms' history is kept, how much of it, and how much a joiner is shown."""

    history: bool = setting(
        True,
        "--history",
        "TCPCHAT_HISTORY",
        "keep each room's history in the --db file (--no-history: no store and no file)",
        parse_bool,
    )
    db: str = setting(
        "tcpchat.db",
        "--db",
        "TCPCHAT_DB",
        "the history database, an SQLite file created when missing (relative to the "
        "working directory); not used by a node of a cluster (--redis-url)",
    )
    history_on_join: int = setting(
        20,
        "--history-on-join",
        "TCPCHAT_HISTORY_ON_JOIN",
        f"messages replayed to whoever joins a room (0 to {MAX_PAGE}; 0: none)",
        Number(whole=True, minimum=0, maximum=MAX_PAGE, unit="messages"),
    )
    history_max_days: int = setting(
        DEFAULT_MAX_DAYS,
        "--history-max-days",
        "TCPCHAT_HISTORY_MAX_DAYS",
        f"days history is kept before it is pruned (0: no age limit; at most {MAX_HISTORY_DAYS:,})",
        Number(whole=True, minimum=0, maximum=MAX_HISTORY_DAYS, unit="days"),
    )
    history_max_rows: int = setting(
        DEFAULT_MAX_ROWS,
        "--history-max-rows",
        "TCPCHAT_HISTORY_MAX_ROWS",
        "records each room keeps; older ones are pruned (0: no limit)",
        Number(whole=True, minimum=0, unit="records"),
    )

    def __post_init__(self) -> None:
        check_values(self)
        if self.history and not self.db.strip():
            raise ValueError("--db must name a file (or turn history off with --no-history)")


# -- many servers, one chat (docs/scaling.md) ----------------------------------

#: Seconds a node may stay silent before the others count it dead (the --node-timeout default).
DEFAULT_NODE_TIMEOUT = 15.0
#: Events Redis keeps per room for the nodes (the --room-stream-max default): at 100 lines a
#: second, a node may fall 100 s behind before it skips.
DEFAULT_ROOM_STREAM_MAX = 10_000


@dataclass(frozen=True)
class ClusterSettings:
    """Whether this server is one node of a cluster on Redis, and how it behaves as one.

    Without ``--redis-url`` nothing changes: one process, its rooms in its own memory.
    """

    redis_url: str = setting(
        "",
        "--redis-url",
        "TCPCHAT_REDIS_URL",
        "share rooms, nicknames, history and bans with every server on this Redis "
        "(the history is then kept there, not in --db): "
        "redis://[:PASSWORD@]HOST[:PORT][/DB], or rediss:// for TLS (prefer the "
        "environment variable when it holds a password)",
        secret=True,
    )
    node_timeout: float = setting(
        DEFAULT_NODE_TIMEOUT,
        "--node-timeout",
        "TCPCHAT_NODE_TIMEOUT",
        "seconds after which a silent node counts as dead: its users are announced as gone "
        "and their nicknames freed",
        Number(whole=False, minimum=0.5, maximum=3600, unit="seconds"),
    )
    room_stream_max: int = setting(
        DEFAULT_ROOM_STREAM_MAX,
        "--room-stream-max",
        "TCPCHAT_ROOM_STREAM_MAX",
        "events Redis keeps per room for the nodes to read: a node that falls further "
        "behind skips the rest and tells its members",
        Number(whole=True, minimum=100, unit="events"),
    )
    reuse_port: bool = setting(
        False,
        "--reuse-port",
        "TCPCHAT_REUSE_PORT",
        "listen with SO_REUSEPORT (Linux), so that several nodes on one machine share one "
        "address and the kernel spreads connections over them",
        parse_bool,
    )

    def __post_init__(self) -> None:
        check_values(self)
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("--redis-url must start with redis://, rediss:// or unix://")

    @property
    def enabled(self) -> bool:
        """Whether this server is a node of a cluster (``--redis-url`` was given)."""
        return bool(self.redis_url)


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
        REMOTE_PORT,
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
        POSITIVE_SECONDS,
    )
    reconnect_max_delay: float = setting(
        30.0,
        "--reconnect-max-delay",
        "TCPCHAT_RECONNECT_MAX_DELAY",
        "longest wait between reconnection attempts, in seconds",
        POSITIVE_SECONDS,
    )
    connect_timeout: float = setting(
        10.0,
        "--connect-timeout",
        "TCPCHAT_CONNECT_TIMEOUT",
        "seconds to wait for the server to accept the connection and answer",
        POSITIVE_SECONDS,
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
        ReadableFile("a PEM file of CA certificates"),
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
        check_values(self)

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.insecure or bool(self.tls_ca)


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
        + settings_table(
            ServerSettings, SearchSettings, HistorySettings, ClusterSettings, DirectSettings
        )
        + "\n\n### `tcpchat connect`\n\n"
        + settings_table(ClientSettings)
    )
