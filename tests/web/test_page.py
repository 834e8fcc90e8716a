"""The web client in a real browser: Debian's chromium, driven by Playwright.

One browser is launched for the module; each test opens its own pages (each in
a fresh context, like a separate person) on a server of its own. Every page
fails its test on a console error or an uncaught exception.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Locator,
    Page,
    async_playwright,
    expect,
)

from tcpchat.ai.search import Search
from tcpchat.config import SearchSettings, ServerSettings
from tcpchat.core.events import ModeChange, Seen
from tcpchat.core.render import duration, mode_line, seen_line, to_json
from tcpchat.server.chat import ChatServer
from tcpchat.tui.display import NICK_COLOURS, nick_colour
from tests.support.components import needs
from tests.support.fake_openai import FakeOpenAI, Script
from tests.support.helpers import LineClient
from tests.support.history import history_settings
from tests.support.samples import SAMPLES

#: Debian's chromium: the browser itself, not the /usr/bin/chromium wrapper script.
CHROMIUM = "/usr/lib/chromium/chromium"

#: How long a test waits for the page to show something.
SHOWN = 5_000

#: Set to 1 to rewrite docs/web-client.png, the README's picture of the web client.
SCREENSHOT_VARIABLE = "TCPCHAT_UPDATE_SCREENSHOT"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "web-client.png"

pytestmark = [needs("chromium"), pytest.mark.asyncio(loop_scope="module")]


@dataclass
class Person:
    """One browser page, and everything it said on its console."""

    page: Page
    problems: list[str] = field(default_factory=list)


OpenPage = Callable[..., Awaitable[Person]]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Chromium, once for the module."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def web_server() -> AsyncIterator[ChatServer]:
    """A chat server with its web listener, on ports the kernel picks."""
    async with ChatServer(ServerSettings(host="127.0.0.1", port=0, http_port=0)) as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module")
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """Open the web client as a new person: ``await open_page(server.web_url)``."""
    contexts: list[BrowserContext] = []
    people: list[Person] = []

    async def open_person(url: str, *, width: int = 1000, height: int = 640) -> Person:
        # In UTC, as the server's text rendering is compared with in UTC.
        context = await browser.new_context(
            viewport={"width": width, "height": height}, timezone_id="UTC"
        )
        contexts.append(context)
        page = await context.new_page()
        person = Person(page)
        people.append(person)

        def on_console(message: ConsoleMessage) -> None:
            if message.type in ("error", "warning"):
                person.problems.append(f"console {message.type}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: person.problems.append(f"page error: {error}"))
        page.on("dialog", lambda dialog: person.problems.append(f"dialog: {dialog.message}"))
        await page.goto(url)
        return person

    yield open_person
    for context in contexts:
        with contextlib.suppress(Error):
            await context.close()
    problems = [problem for person in people for problem in person.problems]
    assert problems == [], problems


async def join(person: Person, nick: str) -> None:
    """Choose ``nick`` in the page's prompt and wait until it is in the chat."""
    page = person.page
    await page.locator("#nick").fill(nick)
    await page.locator("#login-button").click()
    await expect(page.locator("#link")).to_have_text(f"online as {nick}", timeout=SHOWN)


async def say(person: Person, line: str) -> None:
    await person.page.locator("#input").fill(line)
    await person.page.locator("#input").press("Enter")


def shown(person: Person) -> Locator:
    """The messages of the room on screen."""
    return person.page.locator(".log:not([hidden])")


async def tcp_client(server: ChatServer, nick: str) -> LineClient:
    client = await LineClient.connect(server.port)
    await client.expect("Choose a nickname")
    await client.register(nick)
    return client


async def test_two_pages_and_an_nc_user_chat_in_the_lobby_then_in_a_room(
    web_server: ChatServer, open_page: OpenPage
) -> None:
    """Browser, browser and TCP talk in #lobby, then in #dev with unread counts on the side."""
    alice = await open_page(web_server.web_url)
    bob = await open_page(web_server.web_url)
    await join(alice, "alice")
    await join(bob, "bob")
    carol = await tcp_client(web_server, "carol")
    try:
        await say(alice, "hello from a browser")
        await carol.expect(r"<alice> hello from a browser$")
        await expect(shown(bob)).to_contain_text("hello from a browser", timeout=SHOWN)
        await carol.send("hi from nc")
        await expect(shown(alice)).to_contain_text("hi from nc", timeout=SHOWN)
        await expect(shown(bob)).to_contain_text("hi from nc", timeout=SHOWN)
        await expect(alice.page.locator("#members")).to_contain_text("carol")

        await say(alice, "/join #dev")
        await expect(alice.page.locator("#room-name")).to_have_text("#dev", timeout=SHOWN)
        await bob.page.locator("#join-input").fill("dev")
        await bob.page.locator("#join-form button").click()
        await expect(bob.page.locator("#room-name")).to_have_text("#dev", timeout=SHOWN)
        await carol.send("/join #dev")
        await carol.expect(r"you are now talking in #dev")
        await say(bob, "/me waves")
        await expect(shown(alice)).to_contain_text("* bob waves", timeout=SHOWN)
        await carol.expect(r"#dev \* bob waves$")
        await carol.send("/msg #lobby back in the lobby")
        await expect(alice.page.locator("#rooms .unread")).to_have_text("1", timeout=SHOWN)
        await carol.send("in dev now")
        await expect(shown(alice)).to_contain_text("in dev now", timeout=SHOWN)
        await expect(shown(bob)).to_contain_text("in dev now", timeout=SHOWN)
        await alice.page.locator("#rooms .room", has_text="#lobby").click()
        await expect(alice.page.locator("#room-name")).to_have_text("#lobby", timeout=SHOWN)
        await expect(shown(alice)).to_contain_text("back in the lobby")
        await expect(alice.page.locator("#rooms .unread")).to_have_count(0)
    finally:
        await carol.close()


async def test_a_taken_nickname_is_refused_in_the_page_with_the_reason(
    web_server: ChatServer, open_page: OpenPage
) -> None:
    """The prompt shows the server's words, and a second choice gets in."""
    carol = await tcp_client(web_server, "carol")
    try:
        page = await open_page(web_server.web_url)
        await page.page.locator("#nick").fill("Carol")
        await page.page.locator("#login-button").click()
        await expect(page.page.locator("#login-error")).to_contain_text("is taken", timeout=SHOWN)
        await join(page, "carol2")
    finally:
        await carol.close()


async def test_input_history_and_nick_completion(
    web_server: ChatServer, open_page: OpenPage
) -> None:
    """Up recalls the last line; Tab completes a nickname of the room."""
    bob = await open_page(web_server.web_url)
    await join(bob, "bob")
    alice = await open_page(web_server.web_url)
    await join(alice, "alice")
    await expect(alice.page.locator("#members")).to_contain_text("bob", timeout=SHOWN)
    entry = alice.page.locator("#input")
    await say(alice, "first line")
    await entry.press("ArrowUp")
    await expect(entry).to_have_value("first line")
    await entry.fill("b")
    await entry.press("Tab")
    await expect(entry).to_have_value("bob: ")


@pytest_asyncio.fixture(loop_scope="module")
async def web_server_with_history(tmp_path: Path) -> AsyncIterator[ChatServer]:
    """A chat server with its web listener that keeps history in a file of its own (flood
    control off: a test says thirty lines at once)."""
    settings = ServerSettings(host="127.0.0.1", port=0, http_port=0, flood_control=False)
    async with ChatServer(settings, history=history_settings(tmp_path / "tcpchat.db")) as server:
        yield server


async def test_history_is_replayed_after_a_reload(
    web_server_with_history: ChatServer, open_page: OpenPage
) -> None:
    """A reloaded page shows what was said before it came back, replayed on joining."""
    alice = await open_page(web_server_with_history.web_url)
    await join(alice, "alice")
    await say(alice, "said before the reload")
    await alice.page.reload()
    await join(alice, "alice")
    await expect(shown(alice)).to_contain_text("said before the reload", timeout=SHOWN)


async def test_moderation_find_seen_and_whois_are_shown_in_the_page(
    web_server_with_history: ChatServer, open_page: OpenPage
) -> None:
    """What the server tells a browser of a room's moderation (a mute, a kick, /bans) and
    the answers to /find, /seen and /whois are shown in the words of the text rendering;
    kicked, the page leaves the room as on /part, and says who did it and why."""
    server = web_server_with_history
    carol = await tcp_client(server, "carol")
    try:
        await carol.send("/join #dev", "release on friday")
        await carol.expect(r"<carol> release on friday$|now talking in #dev")
        web = await open_page(server.web_url)
        await join(web, "webby")
        await say(web, "/join #dev")
        await expect(web.page.locator("#room-name")).to_have_text("#dev", timeout=SHOWN)
        await carol.expect(r"webby joined")
        await carol.send("/mute webby 10m calm down", "/whois carol")
        await expect(shown(web)).to_contain_text(
            "carol muted webby in #dev for 10m 0s (calm down)", timeout=SHOWN
        )
        await say(web, "/find friday")
        await expect(shown(web)).to_contain_text("1 line of #dev matches friday:", timeout=SHOWN)
        await expect(shown(web)).to_contain_text("<carol> release on friday")
        await say(web, "/seen carol")
        await expect(shown(web)).to_contain_text("carol was last seen in #dev", timeout=SHOWN)
        await expect(shown(web)).to_contain_text("saying: release on friday; online now")
        await say(web, "/whois carol")
        await expect(shown(web)).to_contain_text(
            re.compile(r"carol: in (@#dev, #lobby|#lobby, @#dev); connected \d+s"), timeout=SHOWN
        )
        await say(web, "/bans")
        await expect(shown(web)).to_contain_text("no bans in #dev", timeout=SHOWN)
        await carol.send("/kick webby enough")
        await expect(web.page.locator("#room-name")).to_have_text("#lobby", timeout=SHOWN)
        await expect(shown(web)).to_contain_text("carol kicked you out of #dev (enough)")
        await expect(web.page.locator("#rooms .room", has_text="#dev")).to_have_count(0)
    finally:
        await carol.close()


async def test_a_page_in_no_room_says_so_and_lists_no_room(
    web_server: ChatServer, open_page: OpenPage
) -> None:
    """Parting every room leaves the page in no room: what the server says then is shown
    on the page's own log, not in a room it made up (before, a hidden #lobby appeared in
    the list, and the lines went there), and joining a room brings its log back."""
    web = await open_page(web_server.web_url)
    await join(web, "solo")
    await say(web, "/part")
    await expect(web.page.locator("#room-name")).to_have_text("no room", timeout=SHOWN)
    await expect(shown(web)).to_contain_text("you are in no room; /join #room", timeout=SHOWN)
    await say(web, "hello?")
    no_room = shown(web).locator("li", has_text="you are in no room; /join #room")
    await expect(no_room).to_have_count(2, timeout=SHOWN)  # the page's own, then the error
    await expect(web.page.locator("#rooms .room")).to_have_count(0)
    await say(web, "/join #dev")
    await expect(web.page.locator("#room-name")).to_have_text("#dev", timeout=SHOWN)
    await expect(shown(web)).to_have_count(1)
    await expect(shown(web)).to_contain_text("you joined #dev")
    await expect(shown(web)).not_to_contain_text("no room")
    await expect(web.page.locator("#rooms .room")).to_have_text(["#dev"])


async def test_load_earlier_puts_older_lines_above_dimmed(
    web_server_with_history: ChatServer, open_page: OpenPage
) -> None:
    """After a reload shows the last lines, "load earlier" puts the older ones above them."""
    bob = await tcp_client(web_server_with_history, "bob")
    for number in range(1, 31):  # more than the 20 replayed on joining
        await bob.send(f"line {number:02d}")
    await bob.send("/users")
    await bob.expect("online: bob$")  # the server has read every line before it
    alice = await open_page(web_server_with_history.web_url)
    await join(alice, "alice")
    lines = shown(alice).locator(".line")
    await expect(shown(alice)).to_contain_text("line 30", timeout=SHOWN)
    await expect(shown(alice)).not_to_contain_text("line 10")
    await alice.page.locator("#load-earlier").click()
    await expect(lines.first).to_contain_text("line 01", timeout=SHOWN)
    await expect(lines.first).to_have_class(re.compile(r"\bhistory\b"))
    await expect(lines.last).not_to_contain_text("line 01")
    await bob.close()


async def test_load_earlier_without_history_says_so(
    web_server: ChatServer, open_page: OpenPage
) -> None:
    """Until the server keeps history, "load earlier" says so quietly and turns itself off."""
    alice = await open_page(web_server.web_url)
    await join(alice, "alice")
    await alice.page.locator("#load-earlier").click()
    await expect(alice.page.locator("#history-note")).to_have_text(
        "this server keeps no history yet", timeout=SHOWN
    )
    await expect(alice.page.locator("#load-earlier")).to_be_disabled()


XSS_LINES = (
    "<img src=x onerror=\"window.pwned=1;console.error('pwned')\">",
    "<script>window.pwned=2</script>",
    "[click](javascript:window.pwned=3) javascript:window.pwned=4",
    "\u202etxt.exe abc",
)


async def test_hostile_text_is_shown_as_inert_text(
    web_server: ChatServer, open_page: OpenPage
) -> None:
    """Markup, javascript: links and bidi overrides are text: no element, no script, no error."""
    alice = await open_page(web_server.web_url)
    await join(alice, "alice")
    mallory = await tcp_client(web_server, "mallory")
    try:
        await mallory.send(*XSS_LINES)
        await expect(shown(alice)).to_contain_text("txt.exe abc", timeout=SHOWN)
    finally:
        await mallory.close()
    page = alice.page
    texts = await page.locator(".log .message .text").all_text_contents()
    assert texts[:3] == list(XSS_LINES[:3])
    assert "\u202e" not in texts[3]  # the server strips bidi overrides before anyone sees them
    assert await page.locator("#logs img, #logs script, #logs a").count() == 0
    assert await page.evaluate("window.pwned") is None
    safe = await page.evaluate(
        "[tcpchat.safeUrl('javascript:alert(1)'), tcpchat.safeUrl('https://example.org/a')]"
    )
    assert safe == [None, "https://example.org/a"]


async def test_an_ai_answer_streams_in_with_its_sources_as_safe_links(
    open_page: OpenPage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ai_delta pieces show as they come; the answer ends with its http(s) sources as links."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    async with FakeOpenAI() as fake:
        script = Script(
            text="Rayleigh scattering makes the sky blue.",
            sources=(("https://en.wikipedia.org/wiki/Rayleigh_scattering", "Rayleigh"),),
        )
        fake.queue(script)
        search = Search(
            SearchSettings(api_key="sk-test", base_url=fake.base_url, max_retries=0, cooldown=0.0)
        )
        settings = ServerSettings(host="127.0.0.1", port=0, http_port=0)
        async with ChatServer(settings, search=search) as server:
            alice = await open_page(server.web_url)
            await join(alice, "alice")
            await say(alice, "/search why is the sky blue?")
            answer = alice.page.locator(".line.ai")
            await expect(answer).to_contain_text("Rayleigh scattering", timeout=10_000)
            await expect(answer).not_to_have_class(re.compile("streaming"), timeout=SHOWN)
            link = answer.locator(".sources a")
            await expect(link).to_have_attribute("rel", "noopener noreferrer")
            href = await link.get_attribute("href")
            assert href == "https://en.wikipedia.org/wiki/Rayleigh_scattering"


async def test_the_page_reconnects_after_the_server_restarts(open_page: OpenPage) -> None:
    """The page shows it is offline, then comes back by itself under the same nickname."""
    first = ChatServer(ServerSettings(host="127.0.0.1", port=0, http_port=0))
    await first.start()
    settings = replace(first.settings, port=first.port, http_port=first.http_port)
    try:
        alice = await open_page(first.web_url)
        await join(alice, "alice")
    finally:
        await first.close()
    link = alice.page.locator("#link")
    await expect(link).to_have_attribute("data-state", "offline", timeout=SHOWN)
    await expect(shown(alice)).to_contain_text("disconnected")
    async with ChatServer(settings) as second:
        await expect(link).to_have_text("online as alice", timeout=10_000)
        assert second.hub.nicks() == ("alice",)


async def test_the_nick_colours_are_the_terminal_clients(
    web_server: ChatServer, open_page: OpenPage
) -> None:
    """The page colours a nickname by the same rule as tcpchat connect."""
    names = ["alice", "Bob", "bob", "Ｂｏｂ", "straße", "Σίσυφος", "Дима2", "علی", "x_y-z"]
    person = await open_page(web_server.web_url)
    in_page = await person.page.evaluate("(names) => names.map(tcpchat.nickColour)", names)
    assert in_page == [NICK_COLOURS.index(nick_colour(name)) for name in names]


async def test_the_page_words_moderation_as_the_text_rendering_does(
    web_server: ChatServer, open_page: OpenPage
) -> None:
    """Every change of a room's moderation and every /seen answer in the protocol's
    samples, and spans of time across each unit, read in the page as the server's text
    rendering words them."""
    changes = [event for event, _ in SAMPLES if isinstance(event, ModeChange)]
    sightings = [event for event, _ in SAMPLES if isinstance(event, Seen)]
    spans = [0, 5, 59, 60, 61, 3599, 3600, 3661, 86399, 86400, 90061, 10**7]
    person = await open_page(web_server.web_url)
    in_page = await person.page.evaluate(
        "([events, seen, spans]) => [events.map(tcpchat.modeLine), seen.map(tcpchat.seenLine),"
        " spans.map(tcpchat.duration)]",
        [[to_json(event) for event in changes], [to_json(s) for s in sightings], spans],
    )
    assert in_page == [
        [mode_line(event) for event in changes],
        [seen_line(event, tz=UTC) for event in sightings],
        [duration(s) for s in spans],
    ]


async def test_the_page_is_readable_at_phone_width(
    web_server: ChatServer, open_page: OpenPage
) -> None:
    """At 360 px the sidebar folds away behind a menu button, and nothing scrolls sideways."""
    phone = await open_page(web_server.web_url, width=360, height=700)
    await join(phone, "alice")
    page = phone.page
    await expect(page.locator("#menu")).to_be_visible()
    await expect(page.locator("#input")).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await page.locator("#menu").click()
    await expect(page.locator("#sidebar")).to_be_in_viewport()


async def test_a_screenshot_of_the_web_client(
    web_server: ChatServer, open_page: OpenPage, tmp_path: Path
) -> None:
    """A conversation renders; with TCPCHAT_UPDATE_SCREENSHOT=1 it becomes the README's picture."""
    bob = await open_page(web_server.web_url)
    await join(bob, "bob")
    alice = await open_page(web_server.web_url, width=1000, height=560)
    await join(alice, "alice")
    carol = await tcp_client(web_server, "carol")
    try:
        await carol.send("/topic release on friday: please test the web client")
        await say(bob, "morning! the web client is up on port 8080")
        await carol.send("nice, I am on nc and see you both")
        await say(bob, "/me waves from a phone")
        await say(alice, "it even completes nicknames with Tab")
        await carol.send("/away lunch")
        await expect(shown(alice)).to_contain_text("waves from a phone", timeout=SHOWN)
        await say(alice, "/join #dev")
        await expect(alice.page.locator("#room-name")).to_have_text("#dev", timeout=SHOWN)
        await alice.page.locator("#rooms .room", has_text="#lobby").click()
        await expect(alice.page.locator("#room-name")).to_have_text("#lobby", timeout=SHOWN)
        await carol.send("/join #dev", "is #dev for the release?")
        await expect(alice.page.locator("#rooms .unread")).to_have_text("1", timeout=SHOWN)
        await say(alice, "/users")
        await expect(alice.page.locator("#members")).to_contain_text("(away)", timeout=SHOWN)
        await expect(shown(alice)).to_contain_text("3 in #lobby", timeout=SHOWN)
        target = tmp_path / "web-client.png"
        await alice.page.screenshot(path=str(target))
        assert target.stat().st_size > 10_000
        if os.environ.get(SCREENSHOT_VARIABLE) == "1":
            shutil.copyfile(target, SCREENSHOT)
    finally:
        await carol.close()


async def test_a_big_room_shows_its_count_until_users_lists_everyone(open_page: OpenPage) -> None:
    """Past --quiet-joins-above, the page heads People with the server's count and says
    how to see everyone; /users then fills the list and the note goes."""
    settings = ServerSettings(host="127.0.0.1", port=0, http_port=0, quiet_joins_above=2)
    async with ChatServer(settings) as server:
        clients = [await tcp_client(server, nick) for nick in ("ann", "ben", "cat")]
        try:
            dora = await open_page(server.web_url)
            await join(dora, "dora")
            page = dora.page
            await expect(page.locator("#members-heading")).to_have_text("People (4)", timeout=SHOWN)
            note = page.locator("#members-note")
            await expect(note).to_be_visible(timeout=SHOWN)
            await expect(note).to_contain_text("/users lists everyone")
            await say(dora, "/users")
            await expect(page.locator("#members li")).to_have_count(4, timeout=SHOWN)
            await expect(note).to_be_hidden(timeout=SHOWN)
            await expect(page.locator("#members-heading")).to_have_text("People (4)")
        finally:
            for client in clients:
                await client.close()
