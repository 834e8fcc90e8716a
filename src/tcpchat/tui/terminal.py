"""The terminal front end shared by ``tcpchat connect`` and the 1:1 operator console.

Two implementations of one small :class:`Frontend` interface:

* :class:`PromptFrontend` for a terminal: prompt_toolkit's ``prompt_async()``
  keeps the input line at the bottom while :meth:`~PromptFrontend.show` prints
  incoming lines above it, so typing and receiving never wait for each other.
  It completes commands, rooms and nicknames with Tab, keeps a persistent input
  history in the user's state directory and shows a bottom toolbar.
* :class:`PipedFrontend` when stdin is not a terminal: plain lines in from
  stdin, plain lines out to stdout, no prompt_toolkit at all (and so none of
  its warnings about a missing terminal).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import selectors
import stat
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Protocol

from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app, run_in_terminal
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition, has_completions
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.output import Output
from prompt_toolkit.patch_stdout import patch_stdout
from prompt_toolkit.renderer import print_formatted_text

from tcpchat.core.nicks import nick_key
from tcpchat.core.protocol import LineSplitter
from tcpchat.core.rooms import ROOM_MARK, room_key
from tcpchat.tui.display import STYLE, Fragments, Shown, plain

#: Longest line read from stdin in piped mode; longer lines are cut off.
MAX_PIPED_LINE_BYTES = 64 * 1024

#: Lines, and characters, waiting to be drawn above the prompt past which the screen is
#: "behind": :meth:`PromptFrontend.wait_for_room` then holds the receiving side back
#: (it stops reading the socket, and TCP pushes back on the server).
MAX_BACKLOG_LINES = 2000
MAX_BACKLOG_CHARS = 1024 * 1024

#: Most lines drawn in one pass (one print with one redraw of the prompt); between
#: passes the keyboard is read, so typing stays responsive during a flood.
MAX_DRAW_BATCH_LINES = 500


class Frontend(Protocol):
    """Where the user's lines come from and where the chat is shown.

    ``interactive`` is true for a person at a terminal, false for a script's pipe.
    """

    @property
    def interactive(self) -> bool: ...

    async def read_line(self) -> str | None:
        """The user's next line; None when the user leaves (EOF, Ctrl-D, Ctrl-C)."""

    def show(self, shown: Shown) -> None:
        """Show lines above the input, ringing the bell if ``shown.alert``. Never waits."""

    async def wait_for_room(self) -> None:
        """Wait while the screen is behind with what :meth:`show` was given (backpressure
        for the receiving side); return at once when it is not."""

    def refresh(self) -> None:
        """Redraw the prompt and toolbar after the state they show has changed."""

    def close_input(self) -> None:
        """Make the pending and every later :meth:`read_line` return None (a signal arrived)."""

    def conceal_input(self, concealed: bool) -> None:
        """While ``concealed``, hide what the user types (a password) and keep it out of
        the input history."""


def state_dir(environ: dict[str, str] | None = None) -> Path:
    """tcpchat's directory for the user's state: ``$XDG_STATE_HOME/tcpchat``.

    The XDG default, ``~/.local/state/tcpchat``, applies when the variable is unset or empty.
    """
    environ = dict(os.environ) if environ is None else environ
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tcpchat"


def open_history(name: str, environ: dict[str, str] | None = None) -> History:
    """The persistent input history ``name`` in the state directory.

    The directory is private to the user. If it cannot be created, the history
    lives in memory for this run only rather than stopping the client.
    """
    directory = state_dir(environ)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = directory / name
        path.touch(mode=0o600, exist_ok=True)
    except OSError as exc:
        logging.getLogger("tcpchat").warning("input history not saved: %s", exc)
        return InMemoryHistory()
    return FileHistory(str(path))


def screen_width() -> int:
    """The width, in columns, of the terminal the running prompt draws on (for its toolbar)."""
    return get_app().output.get_size().columns


#: The commands whose first argument is a room, and nothing else: Tab offers rooms there
#: even before a ``#`` is typed (``/join de`` completes to ``/join #dev``).
ROOM_COMMANDS = frozenset({"/join", "/part", "/users"})


class ChatCompleter(Completer):
    """Tab completion of slash commands (first word), room names and nicknames.

    A word that starts with ``#`` completes to a room name anywhere (after
    ``/topic`` and ``/msg`` too), and so does the first argument of ``/join``,
    ``/part`` and ``/users`` without it; ``rooms`` is asked for the names to
    offer after a given command (``""`` when the line is not a command). Any
    other word completes to a nickname; one completed as the first word of a
    line gets ``": "`` after it, the way IRC clients address someone.
    """

    def __init__(
        self,
        commands: Callable[[], Sequence[str]],
        nicks: Callable[[], Iterable[str]],
        rooms: Callable[[str], Iterable[str]] | None = None,
    ) -> None:
        self._commands = commands
        self._nicks = nicks
        self._rooms = rooms or (lambda command: ())

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        before = document.text_before_cursor
        words = before.split(" ")
        word = words[-1]
        first_word = len(words) == 1
        if first_word and word.startswith("/"):
            for command in self._commands():
                if command.startswith(word.lower()):
                    yield Completion(command + " ", start_position=-len(word), display=command)
            return
        command = words[0].lower() if words[0].startswith("/") else ""
        room_argument = len(words) == 2 and command in ROOM_COMMANDS
        if word.startswith(ROOM_MARK) or room_argument:
            key = room_key(word if word.startswith(ROOM_MARK) else ROOM_MARK + word)
            for room in self._rooms(command):
                if room_key(room).startswith(key):
                    yield Completion(room + " ", start_position=-len(word), display=room)
            return
        if not word:
            return
        key = nick_key(word)
        for nick in self._nicks():
            if nick_key(nick).startswith(key):
                suffix = ": " if first_word else " "
                yield Completion(nick + suffix, start_position=-len(word), display=nick)


class PromptFrontend:
    """The interactive front end: prompt_toolkit input below, the chat scrolling above.

    Use inside :meth:`running` (which patches stdout so that stray prints and
    log lines also appear above the prompt instead of breaking it).

    While the prompt is up, :meth:`show` does not draw at once: lines wait in a
    backlog, and one drawing task prints up to :data:`MAX_DRAW_BATCH_LINES` of
    them per pass, in one print and one redraw of the prompt, reading the
    keyboard between passes. A flood of events is thus drawn in a few large
    prints rather than one prompt redraw per line (which kept the keyboard
    detached nearly all the time), and :meth:`wait_for_room` lets the client
    stop reading while the backlog is full, so memory stays bounded.
    """

    def __init__(
        self,
        *,
        prompt: Callable[[], str],
        toolbar: Callable[[], Fragments],
        completer: Completer | None,
        history: History,
        keys: Mapping[str, Callable[[], None]] | None = None,
        input: Input | None = None,
        output: Output | None = None,
    ) -> None:
        self._concealed = False
        self.session: PromptSession[str] = PromptSession(
            message=prompt,
            is_password=Condition(lambda: self._concealed),
            bottom_toolbar=lambda: FormattedText(toolbar()),
            completer=completer,
            complete_while_typing=False,
            erase_when_done=True,  # the line comes back above, shown as sent
            history=_ConcealableHistory(history, lambda: self._concealed),
            key_bindings=_chat_keys(keys or {}),
            style=STYLE,
            input=input,
            output=output,
        )
        self._closed = False
        self._backlog: collections.deque[Shown] = collections.deque()
        self._backlog_lines = 0
        self._backlog_chars = 0
        self._room = asyncio.Event()
        self._drawer: asyncio.Task[None] | None = None

    @property
    def interactive(self) -> bool:
        return True

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Patch stdout and stderr, and point log handlers at the patched stderr.

        On the way out, whatever is still waiting to be drawn is drawn.
        """
        with patch_stdout():
            handlers = [
                handler
                for handler in logging.getLogger().handlers
                if isinstance(handler, logging.StreamHandler)
                and handler.stream in (sys.__stderr__, sys.__stdout__)
            ]
            previous = [handler.setStream(sys.stderr) for handler in handlers]
            try:
                yield
            finally:
                await self._stop_drawing()
                for handler, stream in zip(handlers, previous, strict=True):
                    if stream is not None:
                        handler.setStream(stream)

    async def read_line(self) -> str | None:
        if self._closed:
            return None
        try:
            return await self.session.prompt_async()
        except (EOFError, KeyboardInterrupt):
            return None

    def show(self, shown: Shown) -> None:
        if not shown.lines:
            return
        if not self._backlog and not self.session.app.is_running:
            self._draw([shown])  # no prompt to draw around: print it now
            return
        self._backlog.append(shown)
        self._backlog_lines += len(shown.lines)
        self._backlog_chars += sum(len(text) for line in shown.lines for _, text in line)
        if self._drawer is None or self._drawer.done():
            self._drawer = asyncio.create_task(self._draw_backlog(), name="tcpchat-draw")

    @property
    def waiting_lines(self) -> int:
        """Lines given to :meth:`show` and not drawn yet."""
        return self._backlog_lines

    @property
    def behind(self) -> bool:
        """Whether the backlog of lines to draw is full (see :data:`MAX_BACKLOG_LINES`)."""
        return self._backlog_lines >= MAX_BACKLOG_LINES or self._backlog_chars >= MAX_BACKLOG_CHARS

    async def wait_for_room(self) -> None:
        while self.behind:
            self._room.clear()
            await self._room.wait()

    async def _draw_backlog(self) -> None:
        """Draw the backlog in batches until it is empty, reading the keyboard in between."""
        while self._backlog:
            # Lines leave the backlog only inside the print, so a cancelled pass loses none.
            await run_in_terminal(self._draw_batch)
            await asyncio.sleep(0)  # a pass of the event loop: keys, the socket

    def _draw_batch(self) -> None:
        batch: list[Shown] = []
        lines = 0
        while self._backlog and (not batch or lines < MAX_DRAW_BATCH_LINES):
            shown = self._backlog.popleft()
            batch.append(shown)
            lines += len(shown.lines)
            self._backlog_lines -= len(shown.lines)
            self._backlog_chars -= sum(len(text) for line in shown.lines for _, text in line)
        self._draw(batch)
        if not self.behind:
            self._room.set()

    def _draw(self, batch: Sequence[Shown]) -> None:
        """Print ``batch`` in one go, ringing the bell once if any of it alerts."""
        fragments: Fragments = []
        for shown in batch:
            fragments += [*shown.fragments(), ("", "\n")]
        output = self.session.output
        print_formatted_text(output, FormattedText(fragments), STYLE)
        if any(shown.alert for shown in batch):
            output.bell()
            output.flush()

    async def _stop_drawing(self) -> None:
        """End the drawing task, then draw what is left (the prompt is gone by now)."""
        if self._drawer is not None:
            self._drawer.cancel()
            await asyncio.gather(self._drawer, return_exceptions=True)
            self._drawer = None
        if self._backlog:
            self._draw(list(self._backlog))
            self._backlog.clear()
            self._backlog_lines = self._backlog_chars = 0
        self._room.set()

    def refresh(self) -> None:
        if self.session.app.is_running:
            self.session.app.invalidate()

    def close_input(self) -> None:
        self._closed = True
        if self.session.app.is_running:
            self.session.app.exit(exception=EOFError())

    def conceal_input(self, concealed: bool) -> None:
        self._concealed = concealed
        self.refresh()


def _chat_keys(actions: Mapping[str, Callable[[], None]]) -> KeyBindings:
    """Ctrl-C as in shells, irssi and WeeChat: it clears a half-typed line, and only
    at an empty prompt does it leave (Ctrl-D on an empty line leaves too).

    ``actions`` are the caller's own keys (prompt_toolkit's names: ``"c-n"``), which
    leave the half-typed line as it is. While a completion menu is open they keep
    their usual meaning there (Ctrl-N and Ctrl-P walk the menu).
    """
    keys = KeyBindings()
    for key, action in actions.items():
        keys.add(key, filter=~has_completions)(_calling(action))

    @keys.add("c-c")
    def _clear_or_leave(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.text:
            buffer.reset()
        else:
            event.app.exit(exception=KeyboardInterrupt())

    return keys


def _calling(action: Callable[[], None]) -> Callable[[KeyPressEvent], None]:
    def handler(event: KeyPressEvent) -> None:
        action()

    return handler


class _ConcealableHistory(History):
    """A history that forgets what is typed while input is concealed (a password)."""

    def __init__(self, history: History, concealed: Callable[[], bool]) -> None:
        super().__init__()
        self._history = history
        self._concealed = concealed

    def append_string(self, string: str) -> None:
        if not self._concealed():
            super().append_string(string)

    def load_history_strings(self) -> Iterable[str]:
        return self._history.load_history_strings()

    def store_string(self, string: str) -> None:
        self._history.store_string(string)


class PipedFrontend:
    """The plain line mode for scripts: lines from a pipe or file, plain text out.

    Events are printed as sanitised plain lines, without styles or bell.

    A stdin that cannot be read or watched (``/dev/null``, as cron, systemd,
    ``nohup`` and ``ssh -n`` give, or a closed one) gives no lines and no end:
    the program only receives, until :meth:`close_input` (a signal). When
    stdout's reader goes away (``| head -1``), ``on_output_closed`` is called
    once (default: :meth:`close_input`) and later lines are dropped.
    """

    def __init__(
        self,
        stdin: IO[bytes] | None = None,
        stdout: IO[str] | None = None,
        *,
        on_output_closed: Callable[[], None] | None = None,
    ) -> None:
        if stdin is None and sys.stdin is not None:  # None: Python found fd 0 closed
            stdin = sys.stdin.buffer
        self._stdin = stdin
        self._stdout = stdout if stdout is not None else sys.stdout
        self._on_output_closed = on_output_closed or self.close_input
        self._output_closed = False
        self._no_input = False
        self._splitter = LineSplitter(MAX_PIPED_LINE_BYTES)
        self._ready: list[str] = []
        self._reader: asyncio.StreamReader | None = None
        self._transport: asyncio.ReadTransport | None = None
        self._regular_file = False
        self._eof = False
        self._closed = asyncio.Event()

    @property
    def interactive(self) -> bool:
        return False

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        kind = _stdin_kind(self._stdin)
        if kind == "pollable":
            assert self._stdin is not None
            transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), self._stdin
            )
            self._transport = transport
        elif kind == "file":
            # A regular file cannot be watched by the event loop, but reading it never blocks.
            self._regular_file = True
        else:
            self._no_input = True
            logging.getLogger("tcpchat").warning(
                "stdin cannot be read (%s): receiving only; SIGTERM or SIGINT leaves", kind
            )
        self._reader = reader

    async def _read_chunk(self) -> bytes:
        if self._reader is None:
            await self._open()
        if self._no_input:
            await self._closed.wait()
            return b""
        if self._regular_file:
            assert self._stdin is not None
            return os.read(self._stdin.fileno(), 64 * 1024)
        assert self._reader is not None
        read = asyncio.ensure_future(self._reader.read(64 * 1024))
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({read, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not read.done():
                # cancel() only asks: wait until the read has really ended.
                read.cancel()
                await asyncio.gather(read, return_exceptions=True)
        return b"" if read.cancelled() else read.result()

    async def read_line(self) -> str | None:
        while not self._ready:
            if self._eof or self._closed.is_set():
                return None
            chunk = await self._read_chunk()
            if not chunk:
                self._eof = True
                if self._splitter.buffered:
                    # A last line without its newline still counts.
                    self._ready += [
                        item.decode(errors="replace")
                        for item in self._splitter.feed(b"\n")
                        if isinstance(item, bytes)
                    ]
                continue
            self._ready += [
                item.decode(errors="replace")
                for item in self._splitter.feed(chunk)
                if isinstance(item, bytes)
            ]
        return self._ready.pop(0)

    def show(self, shown: Shown) -> None:
        if self._output_closed:
            return
        try:
            for line in shown.lines:
                self._stdout.write(plain(line) + "\n")
            self._stdout.flush()
        except BrokenPipeError:
            self._output_closed = True
            _discard_further_output(self._stdout)
            self._on_output_closed()

    async def wait_for_room(self) -> None:
        pass  # writing to stdout blocks until the reader of the pipe takes it

    def refresh(self) -> None:
        pass

    def close_input(self) -> None:
        self._closed.set()

    def conceal_input(self, concealed: bool) -> None:
        pass  # a pipe echoes nothing and keeps no history

    def close(self) -> None:
        """Stop watching stdin."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None


def _stdin_kind(stdin: IO[bytes] | None) -> str:
    """How stdin can be read: "pollable" (a pipe, socket or terminal the event loop can
    watch), "file" (a regular file, read directly), or else why it cannot be read."""
    if stdin is None:
        return "it is closed"
    try:
        fd = stdin.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):
        return "it is closed"
    if stat.S_ISREG(mode):
        return "file"
    with selectors.DefaultSelector() as probe:
        try:
            probe.register(fd, selectors.EVENT_READ)
        except (OSError, ValueError):
            # epoll refuses /dev/null; asyncio would log the error and then wait forever.
            return "it cannot be watched: /dev/null?"
    return "pollable"


def _discard_further_output(stream: IO[str]) -> None:
    """Point ``stream``'s descriptor at /dev/null, so that what is still buffered (and
    Python's last flush at exit) goes nowhere instead of failing with EPIPE again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)
