"""The hardening settings: flags, environment variables, defaults and refusals."""

from __future__ import annotations

import argparse

import pytest

from tcpchat.config import ServerSettings, add_arguments, from_sources
from tcpchat.server.chat import ChatServer
from tests.support.faults import hardened_settings


def parse(argv: list[str], environ: dict[str, str]) -> ServerSettings:
    parser = argparse.ArgumentParser()
    add_arguments(parser, ServerSettings)
    return from_sources(ServerSettings, parser.parse_args(argv), environ)


def test_documented_defaults() -> None:
    """The defaults in docs/security.md are the defaults in the code."""
    settings = ServerSettings()
    assert settings.max_line_bytes == 4096
    assert settings.max_queue_bytes == 1024 * 1024
    assert (settings.flood_control, settings.flood_burst, settings.flood_rate) == (True, 10, 5.0)
    assert (settings.max_clients, settings.max_per_ip, settings.limit_loopback) == (
        10_000,
        32,
        False,
    )
    assert settings.register_timeout == 60.0
    assert (settings.keepalive_idle, settings.keepalive_interval, settings.keepalive_count) == (
        60,
        10,
        3,
    )
    assert settings.send_buffer_bytes == 0
    assert (settings.tls_cert, settings.tls_key, settings.password) == ("", "", "")


def test_settings_come_from_the_environment_and_flags_win() -> None:
    """TCPCHAT_* variables set the limits; a flag beats its variable."""
    environ = {
        "TCPCHAT_FLOOD_CONTROL": "off",
        "TCPCHAT_MAX_PER_IP": "4",
        "TCPCHAT_PASSWORD": "hunter2",
        "TCPCHAT_KEEPALIVE_IDLE": "30",
    }
    settings = parse(["--max-per-ip", "8", "--limit-loopback"], environ)
    assert settings.flood_control is False
    assert settings.max_per_ip == 8
    assert settings.limit_loopback is True
    assert settings.password == "hunter2"
    assert settings.keepalive_idle == 30


def test_the_password_never_shows_in_the_settings_repr() -> None:
    """A logged or printed settings object does not give the password away."""
    assert "hunter2" not in repr(ServerSettings(password="hunter2"))


@pytest.mark.parametrize(
    "overrides",
    [
        {"flood_burst": 0},
        {"flood_rate": 0.0},
        {"max_clients": 0},
        {"max_per_ip": 0},
        {"password": "   "},
        {"max_line_bytes": 0},
        {"max_queue_bytes": 0},
        {"register_timeout": 0.0},
        {"register_timeout": float("nan")},
        {"flood_rate": float("inf")},
        {"log_level": "loud"},
        {"close_timeout": -1.0},
        {"keepalive_idle": 0},
        {"keepalive_count": 0},
        {"send_buffer_bytes": -1},
        {"port": 70000},
        {"tls_cert": "cert.pem"},
    ],
)
def test_nonsense_limits_are_refused_before_serving(overrides: dict[str, object]) -> None:
    """A limit that could never let anyone in is a configuration error at start-up."""
    with pytest.raises(ValueError, match=r"must|empty"):
        ChatServer(hardened_settings(**overrides))
