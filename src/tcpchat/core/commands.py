"""The slash commands, looked up in one table.

Each command is a plain function of the session and its argument. It answers
the sender alone unless it says otherwise, and never awaits: anything slow
(``/search``) is started and reported later as events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tcpchat.core.conversation import Conversation
from tcpchat.core.errors import CommandError, NickError
from tcpchat.core.events import Action, NickChange, PrivateMessage, UserList
from tcpchat.core.nicks import validate_nick
from tcpchat.core.protocol import CommandInput
from tcpchat.core.render import Rendering
from tcpchat.core.sanitize import sanitize_text

Handler = Callable[[Conversation, str], None]


@dataclass(frozen=True, slots=True)
class Command:
    """One slash command: how to call it, what it does, and whether it needs a nickname."""

    name: str
    usage: str
    summary: str
    handler: Handler
    before_registration: bool = False


def _help(session: Conversation, argument: str) -> None:
    width = max(len(command.usage) for command in COMMANDS)
    lines = ["Commands:"]
    if session.awaiting_password:
        lines.append(
            "  /pass PASSWORD".ljust(width + 2) + "  give the server password (asked first)"
        )
    lines += [f"  {command.usage.ljust(width)}  {command.summary}" for command in COMMANDS]
    lines.append("  //text".ljust(width + 2) + "  send a message that starts with '/'")
    session.notice("\n".join(lines))


def _users(session: Conversation, argument: str) -> None:
    event_id, ts = session.clock.stamp()
    session.hub.send(session.peer, UserList(event_id, ts, session.hub.nicks()))


def _nick(session: Conversation, argument: str) -> None:
    if not argument:
        raise CommandError("usage: /nick NEWNAME")
    if not session.registered:
        session.register(argument)
        return
    new = validate_nick(argument)
    old = session.nick
    if new == old:
        raise CommandError(f"you are already {old}")
    session.hub.rename(session.peer, new)
    event_id, ts = session.clock.stamp()
    # The sender is told too: it is how a client learns its own new name.
    session.hub.publish(NickChange(event_id, ts, old, new))


def _exit(session: Conversation, argument: str) -> None:
    session.notice("Goodbye!")
    session.end("quit")


def _msg(session: Conversation, argument: str) -> None:
    target, _, text = argument.partition(" ")
    text = sanitize_text(text.strip())
    if not target or not text.strip():
        raise CommandError("usage: /msg NICK TEXT")
    recipient = session.hub.find(target)
    if recipient is None or recipient.nick is None:
        raise CommandError(f"there is no user called {sanitize_text(target)!r}; see /users")
    event_id, ts = session.clock.stamp()
    event = PrivateMessage(event_id, ts, session.nick, recipient.nick, text)
    session.hub.send(recipient, event)
    if recipient is not session.peer:
        session.hub.send(session.peer, event)  # the sender's copy confirms delivery


def _me(session: Conversation, argument: str) -> None:
    text = sanitize_text(argument)
    if not text.strip():
        raise CommandError("usage: /me ACTION")
    event_id, ts = session.clock.stamp()
    session.hub.publish(Action(event_id, ts, session.nick, text), exclude=session.peer)


def _search(session: Conversation, argument: str) -> None:
    if session.search is None:
        raise CommandError("search is not available on this server")
    question = sanitize_text(argument).strip()
    if not question:
        raise CommandError("usage: /search QUESTION")
    session.search.request(session, question)


def _format(session: Conversation, argument: str) -> None:
    try:
        rendering = Rendering[argument.strip().upper()]
    except KeyError:
        raise CommandError("usage: /format text|json") from None
    session.peer.rendering = rendering
    session.notice(f"format: {rendering.name.lower()}")


COMMANDS: tuple[Command, ...] = (
    Command("help", "/help", "list the commands", _help, before_registration=True),
    Command("users", "/users", "list who is online", _users),
    Command("nick", "/nick NEWNAME", "change your nickname", _nick, before_registration=True),
    Command("msg", "/msg NICK TEXT", "send a private message to one user", _msg),
    Command("me", "/me ACTION", "describe an action: * you ACTION", _me),
    Command("search", "/search QUESTION", "ask the AI; everyone sees the answer", _search),
    Command(
        "format",
        "/format text|json",
        "choose how events are written to you",
        _format,
        before_registration=True,
    ),
    Command("exit", "/exit", "leave the chat (also /quit)", _exit, before_registration=True),
)

_ALIASES = {"quit": "exit"}

#: The names that leave a chat, in the room, the 1:1 chat and the client alike.
LEAVE_COMMANDS = frozenset({"exit", *(alias for alias, name in _ALIASES.items() if name == "exit")})
_BY_NAME = {command.name: command for command in COMMANDS}


def find_command(name: str) -> Command | None:
    """The command called ``name`` (lower case, without the slash), aliases included."""
    return _BY_NAME.get(_ALIASES.get(name, name))


def dispatch(session: Conversation, command_input: CommandInput) -> None:
    """Run one command line for ``session``; a misuse becomes an error to the sender."""
    command = find_command(command_input.name)
    if command is None:
        name = sanitize_text(command_input.name)[:40]
        session.error("unknown_command", f"unknown command /{name}; type /help for the list")
        return
    if not (session.registered or command.before_registration):
        session.error("not_registered", "choose a nickname first (a bare name or /nick NAME)")
        return
    try:
        command.handler(session, command_input.argument)
    except (CommandError, NickError) as exc:
        session.fail(exc)
