"""A real IRC client: irssi, under tmux, talks with a native nc-style user and the AI."""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tcpchat.ai.search import Search
from tcpchat.config import SearchSettings, ServerSettings
from tcpchat.server.chat import ChatServer
from tests.support.components import needs
from tests.support.fake_openai import FakeOpenAI, Script
from tests.support.helpers import LineClient
from tests.support.tmux import Tmux, tmux

__all__ = ["tmux"]  # the fixture used here

pytestmark = needs("irssi", "tmux")


@pytest.fixture
async def fake_api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeOpenAI]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    async with FakeOpenAI() as fake:
        yield fake


def irssi_command(home: Path, port: int) -> str:
    """irssi with a throwaway home, connecting as bob to the IRC port."""
    home.mkdir()
    # No theme timestamps, so that screen lines start with what was said.
    (home / "config").write_text('settings = { "fe-common/core" = { timestamps = "no"; }; };\n')
    return shlex.join(["irssi", f"--home={home}", "-n", "bob", "-c", "127.0.0.1", "-p", str(port)])


async def test_irssi_chats_with_a_native_user_and_gets_an_ai_answer(
    tmux: Tmux, tmp_path: Path, fake_api: FakeOpenAI
) -> None:
    """irssi joins #lobby, chats both ways with nc, sees /me, gets AI's answer, quits."""
    fake_api.queue(Script(text="IRC is Internet Relay Chat."))
    search = Search(
        SearchSettings(api_key="sk-test", base_url=fake_api.base_url, max_retries=0, cooldown=0.0)
    )
    settings = ServerSettings(host="127.0.0.1", port=0, irc_port=0, server_name="irc.test")
    async with ChatServer(settings, search=search) as server:
        alice = await LineClient.connect(server.port)
        try:
            await alice.register("alice")
            await tmux.start(irssi_command(tmp_path / "irssi", server.irc_port))
            await tmux.wait_for_screen(r"/join #lobby")  # the message of the day
            await tmux.type("/join #lobby")
            await tmux.press("Enter")
            await alice.expect(r"\*\*\* bob joined")
            await tmux.wait_for_screen(r"alice")

            await tmux.type("hello from irssi")
            await tmux.press("Enter")
            await alice.expect(r"<bob> hello from irssi$")
            await alice.send("hello from nc")
            await tmux.wait_for_screen(r"<.?alice> hello from nc")

            await alice.send("/me waves")
            await tmux.wait_for_screen(r"\* alice waves")
            await tmux.type("/me bows")
            await tmux.press("Enter")
            await alice.expect(r"\* bob bows$")

            await tmux.type("!search what is IRC?")
            await tmux.press("Enter")
            await tmux.wait_for_screen(r"<.?AI> IRC is Internet Relay Chat\.")
            await alice.expect(r"<AI> IRC is Internet Relay Chat\.")

            await tmux.type("/quit see you")
            await tmux.press("Enter")
            await alice.expect(r"\*\*\* bob left \(Quit: see you\)")
        finally:
            await alice.close()
