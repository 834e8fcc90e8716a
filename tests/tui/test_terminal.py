"""The front ends: prompt_toolkit driven through a pipe input, and the piped line mode."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from tcpchat.tui.display import system_line
from tcpchat.tui.terminal import (
    MAX_BACKLOG_LINES,
    MAX_DRAW_BATCH_LINES,
    ChatCompleter,
    PipedFrontend,
    PromptFrontend,
    open_history,
    state_dir,
)

COMMANDS = ("/exit", "/help", "/me", "/msg", "/nick", "/quit", "/users")
NICKS = ["alice", "Bob", "bobby"]
ROOMS = {"": ["#dev", "#design", "#lobby"], "/part": ["#dev", "#lobby"]}


@pytest.fixture
def pipe_input() -> Iterator[PipeInput]:
    with create_pipe_input() as pipe:
        yield pipe


def make_frontend(
    pipe: PipeInput,
    history: History | None = None,
    keys: Mapping[str, Callable[[], None]] | None = None,
) -> PromptFrontend:
    return PromptFrontend(
        prompt=lambda: "alice> ",
        toolbar=lambda: [("class:toolbar", " server ")],
        completer=ChatCompleter(lambda: COMMANDS, lambda: NICKS),
        history=history or InMemoryHistory(),
        keys=keys,
        input=pipe,
        output=DummyOutput(),
    )


def rooms_after(command: str) -> list[str]:
    return ROOMS.get(command, ROOMS[""])


def completions(text: str) -> list[str]:
    completer = ChatCompleter(lambda: COMMANDS, lambda: NICKS, rooms_after)
    found = completer.get_completions(Document(text), CompleteEvent(completion_requested=True))
    return [completion.text for completion in found]


async def test_prompt_returns_the_typed_line(pipe_input: PipeInput) -> None:
    """Enter hands the typed line to the client."""
    frontend = make_frontend(pipe_input)
    pipe_input.send_text("hello there\r")
    async with asyncio.timeout(5):
        assert await frontend.read_line() == "hello there"


async def test_ctrl_d_and_ctrl_c_at_an_empty_prompt_mean_leave(pipe_input: PipeInput) -> None:
    """Ctrl-D on an empty line and Ctrl-C on an empty line both end the input."""
    frontend = make_frontend(pipe_input)
    pipe_input.send_text("\x04")
    async with asyncio.timeout(5):
        assert await frontend.read_line() is None
    pipe_input.send_text("\x03")
    async with asyncio.timeout(5):
        assert await frontend.read_line() is None


async def test_ctrl_c_clears_a_half_typed_line(pipe_input: PipeInput) -> None:
    """Ctrl-C with text at the prompt clears it instead of leaving; the prompt stays."""
    frontend = make_frontend(pipe_input)
    pipe_input.send_text("half-typed\x03again\r")
    async with asyncio.timeout(5):
        assert await frontend.read_line() == "again"


def test_tab_completes_commands_at_the_start() -> None:
    """A first word starting with '/' completes to the matching commands."""
    assert completions("/m") == ["/me ", "/msg "]
    assert completions("/EX") == ["/exit "]
    assert completions("hi /m") == []


def test_tab_completes_online_nicknames() -> None:
    """Nicknames complete in any case; as the first word they get ': ' after them."""
    assert completions("bo") == ["Bob: ", "bobby: "]
    assert completions("hello AL") == ["alice "]
    assert completions("/msg b") == ["Bob ", "bobby "]
    assert completions("hello ") == []


def test_tab_completes_room_names() -> None:
    """A word starting with '#' completes to a room anywhere; after /join, /part and /users
    the first argument does without it; /part offers only the user's rooms."""
    assert completions("/join #d") == ["#dev ", "#design "]
    assert completions("/join de") == ["#dev ", "#design "]
    assert completions("/join ") == ["#dev ", "#design ", "#lobby "]
    assert completions("/part #") == ["#dev ", "#lobby "]
    assert completions("/users #L") == ["#lobby "]
    assert completions("/topic see #des") == ["#design "]
    assert completions("/msg #de") == ["#dev ", "#design "]
    assert completions("come to #lo") == ["#lobby "]


def test_nicknames_still_complete_after_room_commands() -> None:
    """/msg completes nicknames as before, and /join's second word is not a room."""
    assert completions("/msg bo") == ["Bob ", "bobby "]
    assert completions("/topic hi b") == ["Bob ", "bobby "]


async def test_a_key_of_the_caller_runs_its_action_and_keeps_the_line(
    pipe_input: PipeInput,
) -> None:
    """Ctrl-N and Ctrl-P run the actions given for them; the half-typed line stays."""
    pressed: list[str] = []
    keys = {"c-n": lambda: pressed.append("next"), "c-p": lambda: pressed.append("previous")}
    frontend = make_frontend(pipe_input, keys=keys)
    pipe_input.send_text("half\x0e\x10 done\r")
    async with asyncio.timeout(5):
        assert await frontend.read_line() == "half done"
    assert pressed == ["next", "previous"]


async def test_ctrl_n_walks_an_open_completion_menu(pipe_input: PipeInput) -> None:
    """While Tab's menu is open, Ctrl-N moves to the next completion instead of its action."""
    pressed: list[str] = []
    frontend = make_frontend(pipe_input, keys={"c-n": lambda: pressed.append("next")})
    buffer = frontend.session.default_buffer
    menu_open = asyncio.Event()
    buffer.on_completions_changed += lambda _: menu_open.set() if buffer.complete_state else None
    reading = asyncio.create_task(frontend.read_line())
    pipe_input.send_text("/m\t")
    async with asyncio.timeout(5):
        await menu_open.wait()
        pipe_input.send_text("\x0e\x0ex\r")
        assert await reading == "/msg x"
    assert pressed == []


async def test_tab_in_the_prompt_inserts_the_completion(pipe_input: PipeInput) -> None:
    """Pressing Tab at the prompt completes the only matching nickname."""
    frontend = make_frontend(pipe_input)
    completed = asyncio.Event()
    buffer = frontend.session.default_buffer
    buffer.on_text_changed += lambda _: completed.set() if buffer.text == "alice: " else None
    reading = asyncio.create_task(frontend.read_line())
    pipe_input.send_text("al\t")
    async with asyncio.timeout(5):
        await completed.wait()
        pipe_input.send_text("hi\r")
        assert await reading == "alice: hi"


async def test_up_walks_the_input_history(pipe_input: PipeInput) -> None:
    """Up recalls the earlier lines, newest first."""
    frontend = make_frontend(pipe_input)
    async with asyncio.timeout(5):
        for line in ("first", "second"):
            pipe_input.send_text(line + "\r")
            assert await frontend.read_line() == line
        pipe_input.send_text("\x1b[A\x1b[A\r")
        assert await frontend.read_line() == "first"


async def test_history_persists_in_the_state_directory(
    tmp_path: Path, pipe_input: PipeInput
) -> None:
    """Lines entered in one run are in the history file of the next."""
    environ = {"XDG_STATE_HOME": str(tmp_path)}
    history = open_history("history", environ)
    frontend = make_frontend(pipe_input, history)
    pipe_input.send_text("remember me\r")
    async with asyncio.timeout(5):
        assert await frontend.read_line() == "remember me"
    path = tmp_path / "tcpchat" / "history"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "tcpchat").stat().st_mode & 0o777 == 0o700
    assert list(open_history("history", environ).load_history_strings()) == ["remember me"]


def test_state_directory_follows_xdg() -> None:
    """$XDG_STATE_HOME is used when set; ~/.local/state otherwise."""
    assert state_dir({"XDG_STATE_HOME": "/x"}) == Path("/x/tcpchat")
    assert state_dir({}) == Path.home() / ".local" / "state" / "tcpchat"


def test_show_prints_above_the_prompt_and_rings_the_bell() -> None:
    """Shown lines reach the terminal, and an alert writes the bell."""
    written = io.StringIO()

    class Recording(DummyOutput):
        def write(self, data: str) -> None:
            written.write(data)

        def write_raw(self, data: str) -> None:
            written.write(data)

        def bell(self) -> None:
            written.write("\a")

    with create_pipe_input() as pipe:
        frontend = PromptFrontend(
            prompt=lambda: "> ",
            toolbar=list,
            completer=None,
            history=InMemoryHistory(),
            input=pipe,
            output=Recording(),
        )
        shown = system_line("a line")
        frontend.show(shown)
        frontend.show(type(shown)(shown.lines, alert=True))
    assert written.getvalue().count("a line") == 2
    assert written.getvalue().endswith("\a")


class CountingOutput(DummyOutput):
    """An output that counts the lines printed to it."""

    def __init__(self) -> None:
        self.lines = 0

    def write(self, data: str) -> None:
        self.lines += data.count("\n")


async def test_a_full_backlog_holds_the_receiver_back_until_it_is_drawn(
    pipe_input: PipeInput,
) -> None:
    """While the prompt is up, lines wait to be drawn in batches; past the bound,
    wait_for_room waits until drawing has brought the backlog under it."""
    output = CountingOutput()
    frontend = PromptFrontend(
        prompt=lambda: "> ",
        toolbar=list,
        completer=None,
        history=InMemoryHistory(),
        input=pipe_input,
        output=output,
    )
    prompt_up = asyncio.Event()
    frontend.session.app.after_render += lambda _: prompt_up.set()
    async with frontend.running():
        reading = asyncio.create_task(frontend.read_line())
        async with asyncio.timeout(5):
            await prompt_up.wait()
            total = MAX_BACKLOG_LINES + MAX_DRAW_BATCH_LINES
            for number in range(total):
                frontend.show(system_line(f"line {number}"))
            assert frontend.behind
            assert frontend.waiting_lines == total
            await frontend.wait_for_room()
            assert frontend.waiting_lines < MAX_BACKLOG_LINES
            assert output.lines >= total - frontend.waiting_lines
            pipe_input.send_text("\x04")
            assert await reading is None


async def test_piped_frontend_reads_lines_from_a_pipe() -> None:
    """Piped mode reads stdin line by line, a last line without newline included."""
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb", buffering=0) as stdin:
        frontend = PipedFrontend(stdin=stdin, stdout=io.StringIO())
        try:
            os.write(write_end, b"one\r\ntwo\nthree")
            os.close(write_end)
            async with asyncio.timeout(5):
                assert [await frontend.read_line() for _ in range(4)] == [
                    "one",
                    "two",
                    "three",
                    None,
                ]
        finally:
            frontend.close()


async def test_piped_frontend_reads_a_regular_file(tmp_path: Path) -> None:
    """Piped mode also takes stdin redirected from a file."""
    path = tmp_path / "input.txt"
    path.write_bytes(b"from a file\n")
    with path.open("rb") as stdin:
        frontend = PipedFrontend(stdin=stdin, stdout=io.StringIO())
        async with asyncio.timeout(5):
            assert await frontend.read_line() == "from a file"
            assert await frontend.read_line() is None
        frontend.close()


async def test_piped_frontend_prints_plain_lines() -> None:
    """Piped mode prints each shown line as plain text, without styles or bell."""
    out = io.StringIO()
    frontend = PipedFrontend(stdin=io.BytesIO(), stdout=out)
    frontend.show(system_line("joined\nand more"))
    assert out.getvalue().splitlines()[0].endswith("*** joined")
    assert out.getvalue().splitlines()[1].endswith("*** and more")
    assert "\x1b" not in out.getvalue()
