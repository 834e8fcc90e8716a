"""The configuration file: its tables and keys, precedence, refusals, the example, secrets."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from tcpchat import config
from tcpchat.cli import USAGE_ERROR, main
from tcpchat.config import (
    ClientSettings,
    SearchSettings,
    ServerSettings,
    add_arguments,
    from_sources,
    settings_fields,
)
from tcpchat.config_file import (
    COMMAND_SETTINGS,
    ConfigFileError,
    example,
    read_config,
)

#: A line of the example that sets a value, commented out: ``# key = value``.
COMMENTED_SETTING = re.compile(r"^# ([a-z0-9-]+ = .+)$", re.MULTILINE)


def write(tmp_path: Path, text: str, *, mode: int = 0o600) -> Path:
    path = tmp_path / "tcpchat.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def serve_settings(
    argv: list[str], environ: dict[str, str], path: Path
) -> tuple[ServerSettings, SearchSettings]:
    """What ``tcpchat serve`` would build from these flags, variables and file."""
    parser = argparse.ArgumentParser()
    add_arguments(parser, ServerSettings)
    add_arguments(parser, SearchSettings)
    args = parser.parse_args(argv)
    values = read_config(str(path)).values("serve")
    return (
        from_sources(ServerSettings, args, environ, values),
        from_sources(SearchSettings, args, environ, values),
    )


def settings_from_file(path: Path) -> dict[type[Any], Any]:
    """Every settings class, built from the file alone (no flags, no environment)."""
    loaded = read_config(str(path))
    return {
        cls: from_sources(cls, argparse.Namespace(), {}, loaded.values(command))
        for command, classes in COMMAND_SETTINGS.items()
        for cls in classes
    }


# -- precedence -----------------------------------------------------------------


def test_the_file_beats_the_default(tmp_path: Path) -> None:
    """A setting in [serve] replaces its default, in its declared type."""
    path = write(tmp_path, '[serve]\nmax-line-bytes = 8192\nflood-rate = 2\nai-model = "m"\n')
    settings, search = serve_settings([], {}, path)
    assert settings.max_line_bytes == 8192
    assert settings.flood_rate == 2.0
    assert isinstance(settings.flood_rate, float)
    assert search.model == "m"


def test_the_environment_beats_the_file(tmp_path: Path) -> None:
    """A variable replaces what the file says."""
    path = write(tmp_path, "[serve]\nmax-line-bytes = 8192\n")
    settings, _ = serve_settings([], {"TCPCHAT_MAX_LINE_BYTES": "1024"}, path)
    assert settings.max_line_bytes == 1024


def test_a_flag_beats_the_environment_and_the_file(tmp_path: Path) -> None:
    """A flag replaces both its variable and the file."""
    path = write(tmp_path, "[serve]\nmax-line-bytes = 8192\nflood-control = false\n")
    environ = {"TCPCHAT_MAX_LINE_BYTES": "1024", "TCPCHAT_FLOOD_CONTROL": "off"}
    settings, _ = serve_settings(["--max-line-bytes", "512", "--flood-control"], environ, path)
    assert settings.max_line_bytes == 512
    assert settings.flood_control is True


def test_each_command_reads_its_own_table(tmp_path: Path) -> None:
    """[connect] host is the client's; [serve] host the server's."""
    path = write(tmp_path, '[serve]\nhost = "0.0.0.0"\n\n[connect]\nhost = "chat.example"\n')
    built = settings_from_file(path)
    assert built[ServerSettings].host == "0.0.0.0"
    assert built[ClientSettings].host == "chat.example"


def test_every_settings_class_has_a_table() -> None:
    """A new class of settings in tcpchat.config cannot be left out of the file."""
    declared = {
        cls
        for _, cls in inspect.getmembers(config, inspect.isclass)
        if dataclasses.is_dataclass(cls) and settings_fields(cls)
    }
    tabled = {cls for classes in COMMAND_SETTINGS.values() for cls in classes}
    assert declared == tabled


# -- refusals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "[serve]\nmax-line-byte = 10\n",
            "[serve] max-line-byte: not a setting of tcpchat serve (did you mean max-line-bytes?)",
        ),
        (
            '[serve]\nmax-line-bytes = "4096"\n',
            '[serve] max-line-bytes: "4096" is not a whole number '
            "(expected a whole number of bytes, 1 or more)",
        ),
        (
            "[serve]\nmax-clients = 0\n",
            "[serve] max-clients: 0 is out of range (expected a whole number, 1 or more)",
        ),
        (
            "[serve]\nmax-clients = 1.5\n",
            "[serve] max-clients: 1.5 is not a whole number (expected a whole number, 1 or more)",
        ),
        (
            "[serve]\nmax-clients = true\n",
            "[serve] max-clients: true is not a whole number (expected a whole number, 1 or more)",
        ),
        (
            '[serve]\nflood-control = "off"\n',
            '[serve] flood-control: "off" is not a yes/no value (expected true or false)',
        ),
        (
            '[serve]\nloop = "fast"\n',
            '[serve] loop: "fast" is not a choice here (expected one of auto, asyncio, uvloop)',
        ),
        (
            "[serve]\nhost = 127\n",
            "[serve] host: 127 is not text (expected text in quotes)",
        ),
        (
            '[connect]\ntls-ca = "/nonexistent/ca.pem"\n',
            '[connect] tls-ca: "/nonexistent/ca.pem" is not a readable file '
            "(expected a PEM file of CA certificates)",
        ),
        (
            "[connect]\nonce = true\n",
            "[connect] once: not a setting of tcpchat connect "
            "(tcpchat config example lists them all)",
        ),
        (
            "[server]\nport = 1\n",
            "[server] is not a table tcpchat knows (expected [serve] or [connect])",
        ),
        (
            "port = 1\n",
            "port is outside any table (expected it under [serve] or [connect])",
        ),
        (
            "[serve]\nport = \n",
            "not valid TOML: Invalid value (at line 2, column 8)",
        ),
    ],
    ids=lambda value: value.splitlines()[-1] if "\n" in value else None,
)
def test_a_bad_file_stops_serve_with_one_line(
    text: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file, the key and what was expected, in one line; status 2, before listening."""
    path = write(tmp_path, text)
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--port", "0", "--config", str(path)])
    assert exited.value.code == USAGE_ERROR
    err = capsys.readouterr().err
    assert err == f"tcpchat serve: {path}: {said}; see tcpchat serve --help\n"


def test_a_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that cannot be read stops start-up, naming it and why."""
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(SystemExit) as exited:
        main(["connect", "--config", str(missing)])
    assert exited.value.code == USAGE_ERROR
    assert capsys.readouterr().err == (
        f"tcpchat connect: {missing}: cannot be read (No such file or directory); "
        "see tcpchat connect --help\n"
    )


def test_tcpchat_config_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """TCPCHAT_CONFIG is read when --config is not given."""
    path = write(tmp_path, "[serve]\nmax-clients = 0\n")
    monkeypatch.setenv("TCPCHAT_CONFIG", str(path))
    with pytest.raises(SystemExit):
        main(["serve", "--port", "0"])
    assert f"{path}: [serve] max-clients: 0 is out of range" in capsys.readouterr().err


def test_a_secret_value_is_never_shown(tmp_path: Path) -> None:
    """A wrong password value is refused without being repeated."""
    path = write(tmp_path, "[serve]\npassword = 12345678\n")
    with pytest.raises(ConfigFileError) as refused:
        read_config(str(path))
    assert "12345678" not in str(refused.value)
    assert "not shown: it is secret" in str(refused.value)


# -- tcpchat config check and tcpchat config example ------------------------------------


def test_config_check_says_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A good file: one "ok" line on stdout, status 0."""
    path = write(tmp_path, "[serve]\nmax-clients = 100\n")
    assert main(["config", "check", str(path)]) == 0
    assert capsys.readouterr() == (f"{path}: ok (settings given: [serve] 1, [connect] 0)\n", "")


def test_config_check_gives_the_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad file: the error line on stderr, status 2."""
    path = write(tmp_path, '[serve]\ntls-cert = "/etc/hostname"\n')
    assert main(["config", "check", str(path)]) == USAGE_ERROR
    assert capsys.readouterr().err == (
        f"tcpchat config check: {path}: "
        "TLS needs both --tls-cert and --tls-key: one must not come alone\n"
    )


def test_the_example_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The printed example, saved, passes `config check` and yields the default settings."""
    assert main(["config", "example"]) == 0
    path = write(tmp_path, capsys.readouterr().out)
    assert main(["config", "check", str(path)]) == 0
    assert capsys.readouterr().out.endswith(": ok (settings given: [serve] 0, [connect] 0)\n")
    built = settings_from_file(path)
    assert built == {cls: cls() for cls in built}


def test_the_example_values_are_the_defaults(tmp_path: Path) -> None:
    """Every line of the example, uncommented, is valid and sets its setting's default."""
    uncommented = COMMENTED_SETTING.sub(r"\1", example())
    path = write(tmp_path, uncommented)
    given = read_config(str(path))
    for command, classes in COMMAND_SETTINGS.items():
        with_default = [f for cls in classes for f in settings_fields(cls) if f.default is not None]
        assert len(given.values(command)) == len(with_default)
    built = settings_from_file(path)
    assert built == {cls: cls() for cls in built}


def test_the_example_names_every_setting() -> None:
    """Each setting's flag, variable and help are in the example, under its key."""
    text = example()
    for classes in COMMAND_SETTINGS.values():
        for f in (f for cls in classes for f in settings_fields(cls)):
            key = f.metadata["flag"].removeprefix("--")
            assert re.search(rf"^# {re.escape(key)} =", text, re.MULTILINE), key
            assert f"# {f.metadata['flag']}, {f.metadata['env']}" in text


# -- secrets in the file ------------------------------------------------------------


def test_a_secret_readable_by_others_is_warned_about(tmp_path: Path) -> None:
    """A password in a file others may read gets a warning that says how to fix it."""
    path = write(tmp_path, '[serve]\npassword = "hunter2"\n', mode=0o644)
    warning = read_config(str(path)).exposure_warning()
    assert warning == (
        f"{path} holds a secret ([serve] password) and other users can read it: "
        f"make it private with chmod 600 {path}"
    )
    assert "hunter2" not in warning


def test_a_private_file_with_a_secret_is_not_warned_about(tmp_path: Path) -> None:
    """Mode 0600: no warning."""
    path = write(tmp_path, '[serve]\nai-api-key = "sk-test"\n', mode=0o600)
    assert read_config(str(path)).exposure_warning() is None


def test_a_readable_file_without_secrets_is_not_warned_about(tmp_path: Path) -> None:
    """Mode 0644 is fine for a file that holds no secret."""
    path = write(tmp_path, "[serve]\nmax-clients = 5\n", mode=0o644)
    assert read_config(str(path)).exposure_warning() is None


def test_config_check_warns_about_an_exposed_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`config check` still says ok, and warns on stderr."""
    path = write(tmp_path, '[serve]\npassword = "hunter2"\n', mode=0o640)
    assert main(["config", "check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{path}: ok")
    assert err.startswith(f"tcpchat config check: warning: {path} holds a secret")
