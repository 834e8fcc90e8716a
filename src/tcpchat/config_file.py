"""The configuration file: a TOML file of settings, its checks, and its example.

A file has one table per command, ``[serve]`` and ``[connect]``, and each
setting sits in its command's table under its flag's name without the dashes
(``max-line-bytes = 4096`` for ``--max-line-bytes``). Every setting declared in
:mod:`tcpchat.config` belongs to a table with no further work: the tables, the
checks and the example (:func:`example`) all come from the declarations.

A value in the file is checked as strictly as a flag: the TOML type must be
the setting's (a whole number is not a string, a yes/no is ``true`` or
``false``), and a number or a choice must be within the setting's declared
bounds. The first problem stops everything, as :class:`ConfigFileError`, in
one line that names the file, the key and what was expected.

Precedence, applied by :func:`tcpchat.config.from_sources`: a flag, then its
environment variable, then the file, then the default.
"""

from __future__ import annotations

import json
import os
import stat
import textwrap
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass
from typing import Any

from tcpchat.config import (
    Choice,
    ClientSettings,
    ClusterSettings,
    DirectSettings,
    HistorySettings,
    Number,
    ReadableFile,
    SearchSettings,
    ServerSettings,
    file_key,
    parse_bool,
    settings_fields,
)

#: The flag and the environment variable that name a configuration file.
CONFIG_FLAG = "--config"
CONFIG_ENV = "TCPCHAT_CONFIG"

#: Each command's table in the file, and the settings classes it holds. The
#: flags of one command are unique, so a key names one setting of its table.
COMMAND_SETTINGS: dict[str, tuple[type[Any], ...]] = {
    "serve": (ServerSettings, SearchSettings, HistorySettings, ClusterSettings, DirectSettings),
    "connect": (ClientSettings,),
}

#: Permission bits that let someone other than the owner read a file.
READABLE_BY_OTHERS = stat.S_IRGRP | stat.S_IROTH


class ConfigFileError(ValueError):
    """A configuration file that cannot be used; the message is one line for the operator."""


def command_fields(command: str) -> dict[str, Field[Any]]:
    """The settings of ``command``'s table, by key, in declaration order."""
    return {file_key(f): f for cls in COMMAND_SETTINGS[command] for f in settings_fields(cls)}


@dataclass(frozen=True)
class ConfigFile:
    """A configuration file that was read and checked: each table's values, by key."""

    path: str
    tables: Mapping[str, Mapping[str, Any]]

    def values(self, command: str) -> Mapping[str, Any]:
        """What the file sets for ``command`` (``from_sources``'s ``file_values``)."""
        return self.tables.get(command, {})

    def secrets(self) -> list[str]:
        """The keys of the secret settings the file gives a value, as ``[table] key``."""
        return [
            f"[{command}] {key}"
            for command, values in self.tables.items()
            for key, f in command_fields(command).items()
            if f.metadata["secret"] and values.get(key)
        ]

    def readable_by_others(self) -> bool:
        """Whether the file's group or other users may read it."""
        try:
            mode = os.stat(self.path).st_mode
        except OSError:
            return False
        return bool(mode & READABLE_BY_OTHERS)

    def exposure_warning(self) -> str | None:
        """A warning when the file holds a secret that others may read, else None."""
        secrets = self.secrets()
        if not secrets or not self.readable_by_others():
            return None
        return (
            f"{self.path} holds a secret ({', '.join(secrets)}) and other users can read it: "
            f"make it private with chmod 600 {self.path}"
        )


def read_config(path: str) -> ConfigFile:
    """Read and check the file at ``path``; raise ConfigFileError at the first problem."""
    import tomllib  # here: a server started without a file never needs the parser

    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{path}: not valid TOML: {exc}") from None
    return ConfigFile(path, check_document(path, document))


def check_document(path: str, document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each table's values, checked and converted; raise ConfigFileError at the first problem."""
    names = [f"[{command}]" for command in COMMAND_SETTINGS]
    tables = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
    checked: dict[str, dict[str, Any]] = {}
    for command, table in document.items():
        if command not in COMMAND_SETTINGS:
            if isinstance(table, dict):
                raise ConfigFileError(
                    f"{path}: [{command}] is not a table tcpchat knows (expected {tables})"
                )
            raise ConfigFileError(
                f"{path}: {command} is outside any table (expected it under {tables})"
            )
        if not isinstance(table, dict):
            raise ConfigFileError(f"{path}: {command} must be a table (expected [{command}])")
        known = command_fields(command)
        checked[command] = {}
        for key, value in table.items():
            where = f"{path}: [{command}] {key}"
            if key not in known:
                raise ConfigFileError(f"{where}: {unknown_key(command, key, known)}")
            try:
                checked[command][key] = file_value(known[key], value)
            except ValueError as exc:
                raise ConfigFileError(f"{where}: {exc}") from None
    return checked


def unknown_key(command: str, key: str, known: Mapping[str, Field[Any]]) -> str:
    """Why ``key`` is refused, with the nearest real key when there is one."""
    import difflib  # here: only a misspelt key needs it

    said = f"not a setting of tcpchat {command}"
    close = difflib.get_close_matches(key.replace("_", "-"), list(known), n=1)
    if close:
        return f"{said} (did you mean {close[0]}?)"
    return f"{said} (tcpchat config example lists them all)"


def file_value(f: Field[Any], value: object) -> Any:
    """One value from the file, checked against its setting's type and bounds.

    Raises ValueError with a sentence that gives the value (unless it is secret)
    and what was expected, in the words the flags use.
    """
    parse = f.metadata["parse"]
    secret: bool = f.metadata["secret"]
    shown = "the value (not shown: it is secret)" if secret else toml_literal(value)
    if parse is parse_bool:
        if not isinstance(value, bool):
            raise ValueError(f"{shown} is not a yes/no value (expected true or false)")
        return value
    if isinstance(parse, Number):
        return number_value(parse, value, shown)
    if not isinstance(value, str):
        expected = parse.expected if isinstance(parse, Choice) else "text in quotes"
        raise ValueError(f"{shown} is not text (expected {expected})")
    try:
        return parse(value)
    except ValueError as exc:
        if secret:
            raise ValueError(f"{shown} is not valid") from None
        # The parsers' sentences quote the text as Python does: quote it as the file does.
        raise ValueError(str(exc).replace(repr(value), shown, 1)) from None


def number_value(number: Number, value: object, shown: str) -> int | float:
    """A TOML integer (or, for a non-whole setting, a float) within ``number``'s bounds."""
    kind = "a whole number" if number.whole else "a number"
    # bool is an int in Python, but `true` is not a number in TOML.
    allowed = (int,) if number.whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, allowed):
        raise ValueError(f"{shown} is not {kind} (expected {number.expected})")
    if not number.accepts(value):
        raise ValueError(f"{shown} is out of range (expected {number.expected})")
    return value if number.whole else float(value)


def toml_literal(value: object) -> str:
    """``value`` written as it would be in a TOML file (what the operator typed)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"  # dates and times


# -- tcpchat config example ---------------------------------------------------

#: The example's comments are wrapped to this many columns.
EXAMPLE_WIDTH = 88

EXAMPLE_HEADER = f"""\
# tcpchat configuration file: every setting, commented out at its default.
# Made by `tcpchat config example` from the settings' own declarations.
#
# Use it with `tcpchat serve {CONFIG_FLAG} FILE` or `tcpchat connect {CONFIG_FLAG} FILE`,
# or name it in the environment: {CONFIG_ENV}=FILE.
# Check it with `tcpchat config check FILE`.
#
# Each setting sits in its command's table, under its flag's name without the dashes.
# A flag beats its environment variable, which beats this file, which beats the default.
# Uncomment a line to change a setting; a setting left out keeps its default.
#
# This file may hold secrets (the server password, the AI API key): keep it
# readable by you alone (chmod 600 FILE). tcpchat warns when others can read one.
"""


def example() -> str:
    """A complete, commented configuration file: every setting at its default."""
    parts = [EXAMPLE_HEADER]
    for command, classes in COMMAND_SETTINGS.items():
        parts.append(f"\n[{command}]\n")
        for cls in classes:
            summary = (cls.__doc__ or cls.__name__).strip().splitlines()[0].replace("``", "`")
            parts.append(f"\n# -- {summary}\n")
            for f in settings_fields(cls):
                parts.append("\n" + example_entry(f))
    return "".join(parts)


def example_entry(f: Field[Any]) -> str:
    """One setting in the example: what it does, its flag and variable, the line itself."""
    key = file_key(f)
    variables = f.metadata["env"]
    if f.metadata.get("fallback_env"):
        variables += f" or {f.metadata['fallback_env']}"
    default = f.default if f.default is not MISSING else None
    about = [f.metadata["help"]]
    if f.metadata["secret"]:
        about.append("Secret: prefer the environment variable, or keep this file private.")
    unset = "; unset by default" if default is None else ""
    about.append(f"{f.metadata['flag']}, {variables}: {accepted(f)}{unset}")
    lines = [
        f"# {line}" for sentence in about for line in textwrap.wrap(sentence, EXAMPLE_WIDTH - 2)
    ]
    lines.append(f"# {key} =" if default is None else f"# {key} = {toml_literal(default)}")
    return "\n".join(lines) + "\n"


def accepted(f: Field[Any]) -> str:
    """The values a setting accepts, in words, for the example."""
    parse = f.metadata["parse"]
    if parse is parse_bool:
        return "true or false"
    if isinstance(parse, Number | Choice):
        return parse.expected
    if isinstance(parse, ReadableFile):
        return f"the path of {parse.described} (empty: none)"
    return "text"
