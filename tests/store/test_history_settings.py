"""The history settings: their defaults, and values refused before the server starts."""

from __future__ import annotations

import argparse

import pytest

from tcpchat.cli import USAGE_ERROR, main
from tcpchat.config import HistorySettings, add_arguments, from_sources


def history_settings(argv: list[str], environ: dict[str, str] | None = None) -> HistorySettings:
    parser = argparse.ArgumentParser()
    add_arguments(parser, HistorySettings)
    return from_sources(HistorySettings, parser.parse_args(argv), environ or {})


def test_history_is_on_by_default_in_tcpchat_db() -> None:
    """With nothing said, history is kept in ./tcpchat.db with the documented retention."""
    assert history_settings([]) == HistorySettings(
        history=True,
        db="tcpchat.db",
        history_on_join=20,
        history_max_days=90,
        history_max_rows=100_000,
    )


def test_no_history_turns_it_off_by_flag_or_environment() -> None:
    """--no-history and TCPCHAT_HISTORY=no both turn the store off."""
    assert not history_settings(["--no-history"]).history
    assert not history_settings([], {"TCPCHAT_HISTORY": "no"}).history


def test_an_empty_db_path_is_refused_while_history_is_on() -> None:
    """--db "" with history on is a mistake said at start-up; with --no-history it is moot."""
    with pytest.raises(ValueError, match="--db must name a file"):
        history_settings(["--db", ""])
    assert not history_settings(["--db", "", "--no-history"]).history


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--history-on-join", "101"], "'101' is out of range (expected a whole number of"),
        (["--history-max-days", "-1"], "'-1' is out of range (expected a whole number of days"),
        (["--history-max-rows", "lots"], "'lots' is not a whole number"),
    ],
)
def test_a_bad_history_setting_stops_tcpchat_serve(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """tcpchat serve refuses a bad history setting in one line naming it, with status 2."""
    with pytest.raises(SystemExit) as exited:
        main(["serve", *argv])
    assert exited.value.code == USAGE_ERROR
    assert f"{argv[0]}: {said}" in capsys.readouterr().err


def test_a_bad_history_variable_stops_tcpchat_serve(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad TCPCHAT_HISTORY_* variable is refused at start-up too, naming the variable."""
    monkeypatch.setenv("TCPCHAT_HISTORY_ON_JOIN", "500")
    with pytest.raises(SystemExit) as exited:
        main(["serve"])
    assert exited.value.code == USAGE_ERROR
    assert "TCPCHAT_HISTORY_ON_JOIN: '500' is out of range" in capsys.readouterr().err
