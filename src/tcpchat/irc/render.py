"""tcpchat's events as IRC lines, and IRC formatting taken out of IRC users' text; no I/O.

The hub encodes each event once per rendering and sends the same bytes to every
member in that rendering (:mod:`tcpchat.server.local_hub`). For IRC members the
rendering is :data:`~tcpchat.core.render.Rendering.IRC` (or ``IRC_TIME``, with
the ``time`` tag for clients that negotiated ``server-time``), and
:class:`IrcEncoder` writes it. A room event names its speaker and its room,
never its recipient, so every IRC member of a room gets the same bytes::

    :alice!alice@tcpchat PRIVMSG #lobby :hello

Everyone appears as ``nick!nick@tcpchat``: the user part is the nickname,
because an event carries no more, and the host is the network's name, never
an address. The AI speaks as ``AI!AI@tcpchat``.

Events meant for one connection (a native command's answer, an error from a
search) are written as server ``NOTICE`` lines to ``*``; the IRC front door
words its own replies as numerics, with the recipient's nickname
(:mod:`tcpchat.irc.session`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

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
)
from tcpchat.core.nicks import AI_NICK, MAX_NICK_LENGTH
from tcpchat.core.render import Rendering, encode, source_lines, system_lines, welcome_line
from tcpchat.core.textsplit import split_text, utf8_length
from tcpchat.irc.message import MAX_BODY_BYTES, IrcMessage, fit_last_param, server_time

#: MODE's sign and letter for each moderation change of a room (docs/irc.md): a mute is
#: a quiet (``+q``), as on many IRC networks; slow mode has no letter and is a notice.
_MODE_LETTERS = {
    "op": ("+", "o"),
    "deop": ("-", "o"),
    "ban": ("+", "b"),
    "unban": ("-", "b"),
    "mute": ("+", "q"),
    "unmute": ("-", "q"),
}

#: The host part of every user's mask: the network's name, never an address.
USER_HOST = "tcpchat"
#: The most a relayed line passes 512 bytes by: ``:nick!nick@tcpchat `` for the longest nick.
MAX_SOURCE_OVERHEAD = len(f":{'n' * MAX_NICK_LENGTH}!{'n' * MAX_NICK_LENGTH}@{USER_HOST} ")
#: What wraps a CTCP message (``\x01ACTION waves\x01``).
CTCP_MARK = "\x01"
ACTION_PREFIX = f"{CTCP_MARK}ACTION "

# mIRC's formatting codes: bold, colour (with its digits), hex colour, reset,
# monospace, italics, strikethrough, underline, reverse.
_FORMATTING = re.compile(
    "\x03(?:[0-9]{1,2}(?:,[0-9]{1,2})?)?"
    "|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"
    "|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)


@dataclass(frozen=True, slots=True)
class ChannelNotice(Message):
    """A ``NOTICE #room`` from an IRC user: a :class:`Message` to native members (they
    have one kind of line), a ``NOTICE`` to IRC members.

    Made only by the IRC front door, and only when IRC is on; the hub's encoder
    (:class:`IrcEncoder`) gives native renderings the plain message. A notice is
    not kept in the room's history, nor read by the AI as context: IRC keeps
    notices for automatic lines (bots, services), which are not conversation.
    """

    def as_message(self) -> Message:
        return Message(self.id, self.ts, self.nick, self.text, self.room)


def strip_formatting(text: str) -> str:
    """``text`` without IRC's formatting codes (colours keep none of their digits)."""
    if not any(char < " " for char in text):
        return text
    return _FORMATTING.sub("", text)


def mask(nick: str) -> str:
    """How ``nick`` appears as a message's source: ``alice!alice@tcpchat``."""
    return f"{nick}!{nick}@{USER_HOST}"


def said_lines(source: str, command: str, target: str, text: str, *, action: bool = False) -> bytes:
    """``text`` as ``:source COMMAND target :text`` lines (CRLF each).

    ``text`` is one line. As an ``action`` each piece is wrapped in CTCP ACTION.
    A text that an IRC client could have sent in one line (``COMMAND target
    :text`` within 512 bytes) is relayed in one line, as Ergo relays it, so an
    IRC user's message arrives as it was sent: that line may pass 512 bytes by
    the source's length (at most :data:`MAX_SOURCE_OVERHEAD`). A longer text (a
    native user's, up to ``--max-line-bytes``) is cut into lines of 512 bytes
    with their source, between characters.
    """
    head = f":{source} {command} {target} :"
    extra = len(ACTION_PREFIX) + 1 if action else 0
    sent = utf8_length(f"{command} {target} ") + extra + utf8_length(text)  # the colon may go
    if sent <= MAX_BODY_BYTES:
        pieces = [text]
    else:
        pieces = split_text(text, MAX_BODY_BYTES - utf8_length(head) - extra)
    if action:
        pieces = [f"{ACTION_PREFIX}{piece}{CTCP_MARK}" for piece in pieces]
    return "".join(f"{head}{piece}\r\n" for piece in pieces).encode("utf-8")


def with_time(data: bytes, ts: datetime) -> bytes:
    """IRC lines ``data`` with the ``time`` tag (server-time) of ``ts`` on each."""
    if not data:
        return data
    tag = f"@time={server_time(ts.timestamp())} ".encode()
    return b"".join(tag + line + b"\r\n" for line in data.split(b"\r\n") if line)


class IrcEncoder:
    """The hub's encoder: IRC for IRC members, the core's text and JSON for the rest.

    One per server (it knows the server's name, the source of its notices).
    """

    def __init__(self, server_name: str) -> None:
        self.server_name = server_name

    def __call__(self, event: Event, rendering: Rendering) -> bytes:
        if rendering is Rendering.IRC:
            # Without server-time a replayed line would read as said just now: none is sent.
            return b"" if getattr(event, "history", False) else self.lines(event)
        if rendering is Rendering.IRC_TIME:
            return with_time(self.lines(event), event.ts)
        if type(event) is ChannelNotice:
            return encode(event.as_message(), rendering)
        return encode(event, rendering)

    def lines(self, event: Event) -> bytes:
        """``event`` as IRC lines, CRLF each, without tags; b"" for an event IRC has no use for."""
        match event:
            case ChannelNotice(nick=nick, text=text, room=room):
                return said_lines(mask(nick), "NOTICE", room, text)
            case Message(nick=nick, text=text, room=room):
                return said_lines(mask(nick), "PRIVMSG", room, text)
            case Action(nick=nick, text=text, room=room):
                return said_lines(mask(nick), "PRIVMSG", room, text, action=True)
            case PrivateMessage(nick=nick, recipient=recipient, text=text):
                return said_lines(mask(nick), "PRIVMSG", recipient, text)
            case Join(nick=nick, room=room):
                return _line(IrcMessage("JOIN", [room], mask(nick)))
            case Part(nick=nick, room=room, reason=reason):
                params = [room, reason] if reason else [room]
                return _line(fit_last_param(IrcMessage("PART", params, mask(nick))))
            case Leave(nick=nick, reason=reason):
                return _line(fit_last_param(IrcMessage("QUIT", [reason], mask(nick))))
            case NickChange(old=old, new=new):
                return _line(IrcMessage("NICK", [new], mask(old)))
            case Topic(room=room, nick=nick, text=text, changed=True):
                return _line(fit_last_param(IrcMessage("TOPIC", [room, text], mask(nick))))
            case SearchStarted(room="") | SearchFailed(room=""):
                return b""  # a private question: the asker knows it asked, and is told why not
            case SearchStarted(nick=nick, question=question, room=room):
                return said_lines(mask(AI_NICK), "NOTICE", room, f"{nick} asked: {question}")
            case AIDelta():
                return b""
            case SearchFailed(nick=nick, room=room):
                text = f"I could not answer {nick}'s question"
                return said_lines(mask(AI_NICK), "NOTICE", room, text)
            case AIAnswer(nick=nick, text=text, sources=sources, room=room):
                # In a room, to the room; asked privately (no room), to the asker.
                lines = [*text.split("\n"), *source_lines(sources)]
                target = room or nick
                return b"".join(
                    said_lines(mask(AI_NICK), "PRIVMSG", target, line) for line in lines if line
                )
            case Shutdown(text=text):
                return _line(IrcMessage("ERROR", [f"Closing link: {text}"]))
            case Error(text=text):
                return self._notices(text.split("\n"))
            case Welcome(nick=nick, users=users, members=members):
                return self._notices([welcome_line(nick, users, members)])
            case Kick(nick=nick, target=target, room=room, reason=reason):
                params = [room, target, reason] if reason else [room, target]
                return _line(fit_last_param(IrcMessage("KICK", params, mask(nick))))
            case ModeChange(change=change, room=room) if room and change in _MODE_LETTERS:
                return self._mode(event)
            case HistoryEnd():
                return b""  # the replayed lines carry their own times (server-time)
            case (
                Notice()
                | UserList()
                | CurrentRoom()
                | RoomList()
                | Whois()
                | AwayReply()
                | Topic()
                | ModeChange()
                | BanList()
                | Found()
                | Seen()
            ):
                return self._notices(system_lines(event))
        # An event with no IRC form is left out rather than breaking the pass for everyone.
        return b""

    def _mode(self, event: ModeChange) -> bytes:
        """A room's moderation change as IRC's MODE line (``+o``, ``-b``, ``+q`` …)."""
        sign, letter = _MODE_LETTERS[event.change]
        target = f"{event.target}!*@*" if letter == "b" else event.target
        # No operator's nick: the server tells how the room stands (a cluster node that
        # learned it from the others), as IRC servers do after a netsplit.
        source = mask(event.nick) if event.nick else self.server_name
        message = IrcMessage("MODE", [event.room, f"{sign}{letter}", target], source)
        return _line(message)

    def _notices(self, texts: list[str]) -> bytes:
        """Server notices to ``*``: what a native command or the search service told one user."""
        return b"".join(said_lines(self.server_name, "NOTICE", "*", text) for text in texts if text)


def _line(message: IrcMessage) -> bytes:
    return message.to_bytes()
