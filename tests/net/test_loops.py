"""Choosing the event loop: --loop auto|asyncio|uvloop."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from tcpchat.cli import build_parser
from tcpchat.config import ServerSettings, from_sources
from tcpchat.net import loops

HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None


def test_asyncio_means_asyncios_own_loop() -> None:
    """--loop asyncio runs on asyncio's default event loop."""
    assert loops.loop_factory("asyncio") is None
    assert loops.loop_name("asyncio") == "asyncio"


def test_auto_uses_uvloop_exactly_when_it_is_installed() -> None:
    """--loop auto (the default) picks uvloop when it can be imported."""
    assert loops.loop_name("auto") == ("uvloop" if HAVE_UVLOOP else "asyncio")


def test_an_unknown_loop_is_refused_when_settings_are_read() -> None:
    """A misspelt loop name is a configuration error, naming the variable."""
    args = build_parser().parse_args(["serve"])
    with pytest.raises(ValueError, match="TCPCHAT_LOOP"):
        from_sources(ServerSettings, args, {"TCPCHAT_LOOP": "trio"})


def test_loop_flag_reaches_the_settings() -> None:
    """--loop asyncio is read into ServerSettings.loop."""
    args = build_parser().parse_args(["serve", "--loop", "asyncio"])
    assert from_sources(ServerSettings, args, {}).loop == "asyncio"


def test_run_returns_the_coroutines_result() -> None:
    """loops.run runs a coroutine to completion on the chosen loop."""

    async def answer() -> str:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__

    module = loops.run(answer(), "auto")
    assert module.startswith("uvloop") == HAVE_UVLOOP


@pytest.mark.skipif(HAVE_UVLOOP, reason="uvloop is installed here")
def test_asking_for_uvloop_without_it_says_how_to_install_it() -> None:
    """--loop uvloop without uvloop names the extra that provides it."""
    with pytest.raises(ValueError, match=r"pip install -e '\.\[speed\]'"):
        loops.loop_factory("uvloop")
