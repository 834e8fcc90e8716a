"""An IRC connection's registration, as a state machine with no I/O.

An IRC client opens with some of ``CAP LS 302``, ``CAP REQ``, ``PASS``,
``NICK``, ``USER`` and ``CAP END``, in whatever order it likes, and may ``PING``
or ``QUIT`` meanwhile. :class:`Registration` takes those messages one by one
(:meth:`Registration.receive`) and says what to answer. Registration is
complete when the client has given a valid ``NICK`` and a ``USER``, has sent
``CAP END`` if it started capability negotiation (``CAP LS`` or ``CAP REQ``),
and has given the server password with ``PASS`` if the server has one.

Whether the nickname is free is the hub's to say, so the front door asks it
once :attr:`Registration.ready` is true: then either :meth:`Registration.complete`
gives the welcome (``001``–``005`` and the message of the day), or
:meth:`Registration.refuse_nick` answers ``433`` (or ``432``) and waits for
another ``NICK``.

The capabilities tcpchat offers are :data:`CAPABILITIES`: only those the front
door can honour. ``CAP`` is answered here after registration too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from tcpchat.core.errors import InvalidNick, LocalProtocolError, NickError, NickTaken
from tcpchat.core.nicks import MAX_NICK_LENGTH
from tcpchat.core.password import PasswordGate
from tcpchat.core.sanitize import sanitize_text
from tcpchat.irc.message import IrcMessage
from tcpchat.irc.nicks import validate_irc_nick
from tcpchat.irc.numerics import Replies

#: The capabilities tcpchat offers, and what each commits the front door to.
CAPABILITIES: Mapping[str, str] = {
    "echo-message": "PRIVMSG and NOTICE are sent back to their sender, as the others see them",
    "message-tags": (
        "any tag is parsed and TAGMSG is taken; client-only (+) tags are accepted but "
        "not relayed yet (that needs a rendering per set of capabilities)"
    ),
    "server-time": "every message carries its time (the time tag), history replays included",
}
#: Capabilities left out until tcpchat has what they need, and what that is.
NOT_YET_OFFERED: Mapping[str, str] = {
    "away-notify": "the hub announcing away changes to those who share a room",
    "batch": "history replay (draft/chathistory) and labelled responses",
    "draft/chathistory": "the history store",
    "sasl": "accounts; tcpchat has only the server password (PASS)",
}
#: The capability negotiation version tcpchat knows (values in CAP LS, NEW and DEL).
CAP_VERSION = 302

#: The longest user name (the ident part of ``nick!user@host``) kept, in characters.
USERLEN = 16
#: The longest real name (USER's last parameter) kept, in characters.
MAX_REALNAME_CHARS = 64
#: How many targets one PRIVMSG or NOTICE may name.
MAX_TARGETS = 4

#: What the front door still hands to :meth:`Registration.receive` once registered.
AFTER_REGISTRATION_COMMANDS = frozenset({"CAP", "PASS", "USER"})

_USER_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def clean_user(text: str) -> str:
    """A user name (``nick!user@host``) as tcpchat keeps it: letters, digits, ``_.-``,
    at most USERLEN; "" if nothing is left."""
    return _USER_NAME.sub("", text)[:USERLEN]


def clean_realname(text: str) -> str:
    """A real name as tcpchat keeps it: one line of text, at most MAX_REALNAME_CHARS."""
    return sanitize_text(text).strip()[:MAX_REALNAME_CHARS]


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What an IRC client is told about the server, from its settings."""

    name: str
    version: str
    created: str
    max_topic_chars: int
    max_rooms_per_member: int
    max_room_name_chars: int
    max_away_chars: int
    network: str = "tcpchat"
    motd: tuple[str, ...] = ()


def isupport_tokens(info: ServerInfo) -> list[str]:
    """RPL_ISUPPORT's tokens: tcpchat's rules, as IRC clients read them.

    Lengths are in characters, as tcpchat counts them. ``CASEMAPPING=ascii``
    is exact for every ASCII name; tcpchat compares others by NFKC and
    casefold, which no casemapping token names (see docs/irc.md).
    """
    return [
        f"AWAYLEN={info.max_away_chars}",
        "CASEMAPPING=ascii",
        f"CHANLIMIT=#:{info.max_rooms_per_member}",
        "CHANMODES=b,q,,n",
        f"CHANNELLEN={info.max_room_name_chars + 1}",
        "CHANTYPES=#",
        f"MAXTARGETS={MAX_TARGETS}",
        f"NETWORK={info.network}",
        f"NICKLEN={MAX_NICK_LENGTH}",
        "PREFIX=(o)@",
        f"TOPICLEN={info.max_topic_chars}",
        f"USERLEN={USERLEN}",
        "UTF8ONLY",
    ]


class Registration:
    """One IRC connection's registration and capabilities.

    ``closing`` becomes the reason to close the connection (after sending the
    replies of the same call) when the client quits or fails the password.
    """

    def __init__(self, info: ServerInfo, *, password: str | None = None) -> None:
        self.info = info
        self.replies = Replies(info.name)
        self.nick: str | None = None
        self.user: str | None = None
        self.realname = ""
        self.capabilities: set[str] = set()
        self.cap_version = 0
        self.registered = False
        self.closing: str | None = None
        self._negotiating = False
        self._password_attempt: str | None = None
        self._password_gate = PasswordGate(password, max_tries=1) if password else None

    @property
    def ready(self) -> bool:
        """Whether all is given and the nickname is to be tried: complete() or refuse_nick()."""
        return (
            not self.registered
            and self.closing is None
            and self.nick is not None
            and self.user is not None
            and not self._negotiating
            and (self._password_gate is None or self._password_gate.passed)
        )

    def receive(self, message: IrcMessage) -> list[IrcMessage]:
        """Handle one message; return the replies to send, in order."""
        replies = self.replies.to(self.nick if self.registered else None)
        if self.closing is not None:
            return []
        if self.registered and message.command not in AFTER_REGISTRATION_COMMANDS:
            raise LocalProtocolError(f"{message.command} is the front door's after registration")
        handler = _HANDLERS.get(message.command)
        if handler is None:  # before registration, only those of _HANDLERS
            return [replies.not_registered()]
        answer = handler(self, message, replies)
        return answer + self._check_password(replies)

    def complete(self) -> list[IrcMessage]:
        """The nickname is ours: the welcome, ``001`` to ``005``, then the message of the day."""
        if not self.ready or self.nick is None:
            raise LocalProtocolError("registration completed before it was ready")
        self.registered = True
        replies = self.replies.to(self.nick)
        return [
            replies.welcome(self.info.network),
            replies.your_host(self.info.version),
            replies.created(self.info.created),
            replies.my_info(self.info.version),
            *replies.isupport(isupport_tokens(self.info)),
            *replies.motd(self.info.motd),
        ]

    def refuse_nick(self, error: NickError) -> list[IrcMessage]:
        """The hub refused the nickname: ``433`` (taken or too like another) or ``432``."""
        nick, self.nick = self.nick or "*", None
        replies = self.replies.to(None)
        if isinstance(error, NickTaken):
            return [replies.nickname_in_use(nick, str(error))]
        return [replies.erroneous_nickname(nick, str(error))]

    # -- the commands ----------------------------------------------------------

    def _nick(self, message: IrcMessage, replies: Replies) -> list[IrcMessage]:
        if not message.params or not message.params[0]:
            return [replies.no_nickname_given()]
        try:
            self.nick = validate_irc_nick(message.params[0])
        except InvalidNick as exc:
            return [replies.erroneous_nickname(message.params[0], str(exc))]
        return []

    def _user(self, message: IrcMessage, replies: Replies) -> list[IrcMessage]:
        if self.registered:
            return [replies.already_registered()]
        # An empty user name or real name counts as missing (Modern IRC).
        if len(message.params) < 4 or not message.params[0] or not message.params[3]:
            return [replies.need_more_params("USER")]
        self.user = clean_user(message.params[0]) or "user"
        self.realname = clean_realname(message.params[3])
        return []

    def _pass(self, message: IrcMessage, replies: Replies) -> list[IrcMessage]:
        if self.registered:
            return [replies.already_registered()]
        if not message.params:
            return [replies.need_more_params("PASS")]
        self._password_attempt = message.params[0]
        return []

    def _ping(self, message: IrcMessage, replies: Replies) -> list[IrcMessage]:
        if not message.params or not message.params[0]:
            return [replies.need_more_params("PING")]
        return [replies.pong(message.params[0])]

    def _pong(self, message: IrcMessage, replies: Replies) -> list[IrcMessage]:
        return []  # any line shows the client is alive; the front door notes that

    def _quit(self, message: IrcMessage, replies: Replies) -> list[IrcMessage]:
        self.closing = "quit"
        return [replies.error("Closing link: quit before registering")]

    def _cap(self, message: IrcMessage, replies: Replies) -> list[IrcMessage]:
        if not message.params:
            return [replies.need_more_params("CAP")]
        subcommand, *arguments = message.params
        subcommand = subcommand.upper()
        if subcommand == "LS":
            if arguments and arguments[0].isdigit():
                self.cap_version = max(self.cap_version, int(arguments[0]))
            self._negotiating = not self.registered
            return [replies.cap("LS", " ".join(CAPABILITIES))]
        if subcommand == "LIST":
            return [replies.cap("LIST", " ".join(sorted(self.capabilities)))]
        if subcommand == "REQ":
            self._negotiating = not self.registered
            return [self._request(arguments[0] if arguments else "", replies)]
        if subcommand == "END":
            self._negotiating = False
            return []
        return [replies.invalid_cap_command(subcommand)]

    def _request(self, wanted: str, replies: Replies) -> IrcMessage:
        """``CAP REQ``: all of the changes, or none of them (NAK)."""
        names = wanted.split()
        if not names or any(name.removeprefix("-") not in CAPABILITIES for name in names):
            return replies.cap("NAK", wanted)
        for name in names:
            if name.startswith("-"):
                self.capabilities.discard(name[1:])
            else:
                self.capabilities.add(name)
        return replies.cap("ACK", " ".join(names))

    def _check_password(self, replies: Replies) -> list[IrcMessage]:
        """Once all else is given, check PASS: one try, as IRC clients send it once."""
        gate = self._password_gate
        if gate is None or gate.passed or self.registered or self.closing is not None:
            return []
        if self.nick is None or self.user is None or self._negotiating:
            return []
        if self._password_attempt is not None and gate.attempt(self._password_attempt):
            return []
        self.closing = "wrong password" if self._password_attempt else "no password"
        reason = (
            "Password incorrect"
            if self._password_attempt
            else "This server needs a password: send PASS before NICK and USER"
        )
        return [replies.password_mismatch(reason), replies.error(f"Closing link: {reason}")]


_HANDLERS = {
    "CAP": Registration._cap,
    "NICK": Registration._nick,
    "PASS": Registration._pass,
    "PING": Registration._ping,
    "PONG": Registration._pong,
    "QUIT": Registration._quit,
    "USER": Registration._user,
}
