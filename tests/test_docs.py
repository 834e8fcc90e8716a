"""The documentation says what the code does."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpchat.config import all_settings_table
from tcpchat.config_file import example
from tcpchat.core.commands import COMMANDS, Command
from tcpchat.core.events import EVENT_TYPES, Event
from tcpchat.core.protocol import JSON_OPENING_LINE

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text()


def test_readme_configuration_table_matches_the_settings() -> None:
    """The README's configuration table is the one the settings declare
    (regenerate it with tools/settings_table.py)."""
    assert all_settings_table() in README


def test_the_shipped_example_config_matches_the_settings() -> None:
    """contrib/tcpchat.example.toml is what `tcpchat config example` prints
    (regenerate it with tools/settings_table.py)."""
    assert (ROOT / "contrib" / "tcpchat.example.toml").read_text() == example()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_every_command_is_documented(command: Command) -> None:
    """README and docs/protocol.md both name every command."""
    name = f"/{command.name}"
    assert name in README
    assert name in PROTOCOL


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
def test_every_event_is_documented(event_type: type[Event]) -> None:
    """docs/protocol.md has a row for every event type."""
    assert f"| `{event_type.kind}` |" in PROTOCOL


def test_json_opening_line_is_documented() -> None:
    """The opening line that switches to JSON is the one the protocol page names."""
    assert JSON_OPENING_LINE in PROTOCOL
