"""How the terminal client draws events: pure functions from events to styled text.

Every function here returns prompt_toolkit *style and text tuples*
(``[("class:time", "[14:03:22] "), ...]``), never markup: remote text is
sanitised with :func:`~tcpchat.core.sanitize.sanitize_text` and then placed in a
tuple as plain text, so it is never parsed by ``HTML()`` or ``ANSI()`` and no
escape sequence from the network can reach the terminal. :func:`plain` turns
the same tuples into the lines the piped mode prints.

The words are those of the text rendering (:mod:`tcpchat.core.render`); this module
adds the styles, the mention highlights, the user's own point of view
("from bob", "to bob") on private messages, and the room a line comes from
when it is not the current one (``[14:03:22] #dev <bob> hi``, as the text
rendering names it for a reader in several rooms).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import datetime, tzinfo

from prompt_toolkit.styles import Style

from tcpchat.core.commands import COMMANDS
from tcpchat.core.events import (
    Action,
    AIAnswer,
    AIDelta,
    AwayReply,
    BanList,
    CurrentRoom,
    Error,
    Event,
    Found,
    HistoryEnd,
    Hit,
    Join,
    Kick,
    Leave,
    Message,
    ModeChange,
    NickChange,
    Notice,
    Part,
    PrivateMessage,
    RoomList,
    SearchFailed,
    SearchStarted,
    Seen,
    Shutdown,
    Topic,
    UserList,
    Welcome,
    Whois,
    utc_now,
)
from tcpchat.core.nicks import AI_NICK, nick_key
from tcpchat.core.render import (
    ERROR_MARK,
    PRIVATE_MARK,
    SYSTEM_MARK,
    HistoryEvent,
    history_timestamp,
    hit_line,
    source_lines,
    system_lines,
    timestamp,
    welcome_line,
)
from tcpchat.core.sanitize import sanitize_lines, sanitize_text

Fragments = list[tuple[str, str]]

#: Colours a nickname may get; chosen to read on dark and light backgrounds alike.
NICK_COLOURS = (
    "ansired",
    "ansigreen",
    "ansiyellow",
    "ansiblue",
    "ansimagenta",
    "ansicyan",
    "ansibrightred",
    "ansibrightgreen",
    "ansibrightyellow",
    "ansibrightblue",
    "ansibrightmagenta",
    "ansibrightcyan",
)

#: The client's style sheet: every class the display functions use.
STYLE = Style.from_dict(
    {
        "time": "ansibrightblack",
        "nick": "bold",
        "own": "bold",
        "system": "ansibrightblack italic",
        "error": "ansired bold",
        "action": "italic",
        "private": "ansimagenta",
        "mention": "reverse",
        "ai": "ansicyan",
        "toolbar": "reverse",
        "toolbar.good": "ansigreen",
        "toolbar.bad": "ansired bold",
        "toolbar.ai": "ansicyan",
        "toolbar.current": "bold underline",
        "toolbar.unread": "bold",
        "room": "ansibrightblue bold",
        # Replayed history, drawn after every other style of its line: dimmed.
        "history": "fg:ansibrightblack noreverse",
        "history.end": "ansibrightblack",
    }
)

#: The rule drawn either side of the end-of-history words.
HISTORY_RULE = "───"


@dataclass(frozen=True, slots=True)
class Shown:
    """What to draw for one event: its lines, and whether to ring the bell."""

    lines: tuple[Fragments, ...]
    alert: bool = False

    def fragments(self) -> Fragments:
        """All lines as one fragment list, separated by newlines (for printing)."""
        result: Fragments = []
        for number, line in enumerate(self.lines):
            if number:
                result.append(("", "\n"))
            result.extend(line)
        return result


def nick_colour(nick: str) -> str:
    """The stable colour of ``nick``: the same name always gets the same colour.

    Names that are the same nickname (``Bob`` and ``bob``) share a colour.
    """
    return NICK_COLOURS[zlib.crc32(nick_key(nick).encode()) % len(NICK_COLOURS)]


def nick_style(nick: str) -> str:
    return f"class:nick fg:{nick_colour(nick)}"


def mentions(text: str, nick: str | None) -> bool:
    """Whether ``text`` names ``nick`` as a whole word (compared as nicknames are)."""
    if not nick:
        return False
    pattern = r"(?<![\w-])" + re.escape(nick_key(nick)) + r"(?![\w-])"
    return re.search(pattern, nick_key(text)) is not None


def plain(fragments: Fragments) -> str:
    """The text of ``fragments`` without its styles."""
    return "".join(text for _, text in fragments)


# The client's welcome names Tab completion, which people on nc do not have, nor a
# script that pipes lines into the client.
_WELCOME_HINT = "Type a message and press Enter; Tab completes, /help lists the commands."
_PIPED_WELCOME_HINT = "Each line is a message; /help lists the commands."


def _stamp(ts: datetime, tz: tzinfo | None) -> tuple[str, str]:
    return ("class:time", timestamp(ts, tz))


def _system(ts: datetime, tz: tzinfo | None, *texts: str) -> Shown:
    return Shown(
        tuple([_stamp(ts, tz), ("class:system", f"{SYSTEM_MARK} {text}")] for text in texts)
    )


def render_event(
    event: Event,
    own_nick: str | None = None,
    tz: tzinfo | None = None,
    *,
    room_mark: str = "",
    keys: bool = True,
) -> Shown:
    """How the client shows ``event`` to the user called ``own_nick``.

    Times are in ``tz`` (default: the user's local time zone). Messages and
    actions that mention ``own_nick``, and private messages from others, are
    highlighted and ring the bell. A ``room_mark`` (the event's room, when it is
    not the current one) is drawn after the time on each line. ``keys``: the user
    types at a terminal (the welcome then names Tab), not through a pipe.
    """
    shown = _render(event, own_nick, tz, keys)
    if isinstance(event, HistoryEvent) and event.history:
        shown = _dimmed(shown, event.ts, tz)
    return in_room(shown, room_mark) if room_mark else shown


def _dimmed(shown: Shown, ts: datetime, tz: tzinfo | None) -> Shown:
    """A replayed line: dimmed, its date shown when it is not today's, and no bell."""
    stamp = ("class:time", history_timestamp(ts, tz))
    return Shown(
        tuple(
            [stamp, *((f"{style} class:history", text) for style, text in line[1:])]
            for line in shown.lines
        )
    )


def in_room(shown: Shown, room: str) -> Shown:
    """``shown`` with ``room`` after the time on each line: ``[14:03:22] #dev <bob> hi``."""
    mark = ("class:room", f"{sanitize_text(room)} ")
    return Shown(tuple([*line[:1], mark, *line[1:]] for line in shown.lines), shown.alert)


def _render(event: Event, own_nick: str | None, tz: tzinfo | None, keys: bool = True) -> Shown:
    stamp = _stamp(event.ts, tz)
    match event:
        case Message(nick=nick, text=text):
            return _chat_line(stamp, nick, sanitize_text(text), own_nick)
        case Action(nick=nick, text=text):
            text = sanitize_text(text)
            alert = nick != own_nick and mentions(text, own_nick)
            style = "class:action class:mention" if alert else "class:action"
            return Shown(
                (
                    [
                        stamp,
                        (style, "* "),
                        (nick_style(nick), sanitize_text(nick)),
                        (style, f" {text}"),
                    ],
                ),
                alert,
            )
        case PrivateMessage(nick=nick, recipient=recipient, text=text):
            incoming = own_nick is None or nick_key(nick) != nick_key(own_nick)
            style = "class:private class:mention" if incoming else "class:private"
            if incoming:
                heading = [
                    (style, f"{PRIVATE_MARK} from "),
                    (nick_style(nick), sanitize_text(nick)),
                ]
            else:
                heading = [
                    (style, f"{PRIVATE_MARK} to "),
                    (nick_style(recipient), sanitize_text(recipient)),
                ]
            return Shown(([stamp, *heading, (style, f": {sanitize_text(text)}")],), incoming)
        case Welcome(nick=nick, users=users, members=members):
            greeting = welcome_line(sanitize_text(nick), map(sanitize_text, users), members)
            return _system(event.ts, tz, greeting, _WELCOME_HINT if keys else _PIPED_WELCOME_HINT)
        case Whois() | RoomList() | Topic() | AwayReply() | CurrentRoom() | Seen():
            return Shown(tuple([stamp, *line] for line in _room_answer(event, tz)))
        case HistoryEnd():
            (words,) = system_lines(event, sanitize_text)
            return Shown(
                ([stamp, ("class:history.end", f"{HISTORY_RULE} {words} {HISTORY_RULE}")],)
            )
        case Found(hits=hits):
            head, *_ = system_lines(event, sanitize_text)
            found = [_highlight(f"{SYSTEM_MARK} {head}", [])]
            found += [_hit(hit, tz) for hit in hits]
            return Shown(tuple([stamp, *line] for line in found))
        case (
            Join()
            | Leave()
            | NickChange()
            | UserList()
            | Notice()
            | SearchStarted()
            | SearchFailed()
            | Part()
            | Shutdown()
            | Kick()
            | ModeChange()
            | BanList()
        ):
            return _system(event.ts, tz, *system_lines(event, sanitize_text))
        case Error(text=text):
            return Shown(
                tuple(
                    [stamp, ("class:error", f"{ERROR_MARK} {line}")]
                    for line in sanitize_lines(text).split("\n")
                )
            )
        case AIDelta():
            return Shown(())  # the whole answer follows as one AIAnswer
        case AIAnswer(text=text, sources=sources):
            ai = [stamp, (nick_style(AI_NICK), f"<{AI_NICK}> ")]
            lines = [
                *sanitize_lines(text).split("\n"),
                *source_lines([sanitize_text(url) for url in sources]),
            ]
            return Shown(tuple([*ai, ("class:ai", line)] for line in lines))
    raise AssertionError(f"no display for {event!r}")  # pragma: no cover


def _hit(hit: Hit, tz: tzinfo | None) -> Fragments:
    """One line ``/find`` found, as its chat line reads, after the day and time it was said."""
    words = hit_line(hit, sanitize_text, tz)
    when_said, _, said = words.partition("] ")
    nick = sanitize_text(hit.nick)
    fragments: Fragments = [("class:time", f"  {when_said}] ")]
    if said.startswith(f"<{nick}> "):
        return [*fragments, (nick_style(hit.nick), f"<{nick}>"), ("", said[len(nick) + 2 :])]
    return [*fragments, *_highlight(said, [hit.nick])]


def _room_answer(
    event: Whois | RoomList | Topic | AwayReply | CurrentRoom | Seen, tz: tzinfo | None = None
) -> list[Fragments]:
    """The answers about rooms and people, in the words of the text rendering, with the
    nicknames in their colours and the room names in the room style, so that they can be
    read at a glance."""
    words = system_lines(event, sanitize_text, tz=tz)
    nicks = [nick for nick in (getattr(event, "nick", ""),) if nick]
    return [_highlight(f"{SYSTEM_MARK} {line}", nicks) for line in words]


# A room name where it stands as a word in a line of the client's own wording.
_ROOM_IN_WORDS = re.compile(r"(?<![\w#])#[\w-]+")


def _highlight(line: str, nicks: list[str]) -> Fragments:
    """``line`` as system text, with the first mention of each of ``nicks`` (at the start
    of a word) in its colour and each room name in the room style."""
    spans: list[tuple[int, int, str]] = []
    for nick in nicks:
        shown = sanitize_text(nick)
        match = re.search(r"(?<![\w-])" + re.escape(shown) + r"(?![\w-])", line)
        if match:
            spans.append((match.start(), match.end(), nick_style(nick)))
    for match in _ROOM_IN_WORDS.finditer(line):
        if not any(start < match.end() and match.start() < end for start, end, _ in spans):
            spans.append((match.start(), match.end(), "class:room"))
    fragments: Fragments = []
    position = 0
    for start, end, style in sorted(spans):
        if start < position:
            continue
        if start > position:
            fragments.append(("class:system", line[position:start]))
        fragments.append((style, line[start:end]))
        position = end
    if position < len(line):
        fragments.append(("class:system", line[position:]))
    return fragments


def _chat_line(
    stamp: tuple[str, str], nick: str, text: str, own_nick: str | None, *, own: bool = False
) -> Shown:
    alert = not own and mentions(text, own_nick)
    text_style = "class:mention" if alert else ("class:own" if own else "")
    return Shown(
        ([stamp, (nick_style(nick), f"<{sanitize_text(nick)}>"), (text_style, f" {text}")],), alert
    )


def own_message(
    nick: str, text: str, ts: datetime | None = None, tz: tzinfo | None = None
) -> Shown:
    """The user's own chat line, shown as sent (the server does not echo it back)."""
    return _chat_line(_stamp(ts or utc_now(), tz), nick, sanitize_text(text), nick, own=True)


def own_action(nick: str, text: str, ts: datetime | None = None, tz: tzinfo | None = None) -> Shown:
    """The user's own ``/me`` line, shown as sent."""
    return render_event(Action(0, ts or utc_now(), nick, text), nick, tz)


def system_line(text: str, ts: datetime | None = None, tz: tzinfo | None = None) -> Shown:
    """A line from the client itself (connection state, local errors), styled as system."""
    return _system(ts or utc_now(), tz, *sanitize_lines(text).split("\n"))


def error_line(text: str, ts: datetime | None = None, tz: tzinfo | None = None) -> Shown:
    """A local error line (a line that was not sent, a refused connection)."""
    return render_event(Error(0, ts or utc_now(), "client", text), None, tz)


#: The room's commands as the client offers them: ``/format`` is the client's own business.
CLIENT_COMMANDS = tuple(
    (command.usage, command.summary) for command in COMMANDS if command.name != "format"
)
#: What a guest of the 1:1 chat may type besides messages.
DIRECT_CLIENT_COMMANDS = (("/help", "list the commands and keys"), ("/exit", "leave (also /quit)"))
#: The keys of the interactive client, as its ``/help`` lists them.
CLIENT_KEYS = (
    ("Enter", "send the line"),
    ("Tab", "complete a command, a #room, or the nickname of someone in your rooms"),
    ("Ctrl-N / Ctrl-P", "make your next / previous room the current one"),
    ("Up / Down", "walk the input history"),
    ("Ctrl-C", "clear the line; on an empty line, leave"),
    ("Ctrl-D", "leave (on an empty line)"),
)

#: The keys that only a client in rooms has.
ROOM_KEYS = frozenset({"Ctrl-N / Ctrl-P"})


def client_help(
    *, direct: bool = False, keys: bool = True, ts: datetime | None = None, tz: tzinfo | None = None
) -> Shown:
    """The client's own ``/help``: the commands it passes on, and (at a terminal) its keys.

    It is answered by the client, not the server, so that it lists only what this
    client accepts (no ``/format``) and its keys, even before it is connected.
    """
    commands = DIRECT_CLIENT_COMMANDS if direct else CLIENT_COMMANDS
    rows = [*commands, ("//text", "send a message that starts with '/'")]
    width = max(len(name) for name, _ in (*rows, *CLIENT_KEYS))
    lines = ["Commands:", *(f"  {name.ljust(width)}  {what}" for name, what in rows)]
    if keys:
        lines.append("Keys:")
        for name, what in CLIENT_KEYS:
            if direct and name in ROOM_KEYS:
                continue  # a 1:1 chat has no rooms
            if direct and name == "Tab":
                what = "complete a command"  # a 1:1 chat has no nicknames
            lines.append(f"  {name.ljust(width)}  {what}")
    return _system(ts or utc_now(), tz, *lines)
