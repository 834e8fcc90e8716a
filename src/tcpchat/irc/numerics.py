"""The replies an IRC server sends, named, each built by one method, with no I/O.

The IRC front door never formats a numeric by hand: :class:`Replies` knows the
server's name (the source of every reply) and the client's nickname (the first
parameter of every numeric, ``*`` before it has one), and each method takes
only what that reply is about. Formats are those of the Modern IRC documents
(https://modern.ircdocs.horse/#numerics), and of IRCv3 for ``CAP`` and the
standard replies ``FAIL``, ``WARN`` and ``NOTE``.

No reply is ever too long to send: words the client sent back to it (a
command, a channel, a nickname) are cut to :data:`MAX_ECHO_BYTES`, lists
(``353``, ``319``, ``005``) are spread over as many lines as they need, and a
human-readable last parameter too long for the line (a topic, an away message)
is shortened and ends in "…" (:func:`~tcpchat.irc.message.fit_last_param`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tcpchat.core.nicks import MAX_NICK_LENGTH
from tcpchat.core.textsplit import utf8_length
from tcpchat.irc.message import MAX_BODY_BYTES, MAX_PARAMS, IrcMessage, fit_last_param

# Connection registration.
RPL_WELCOME = "001"
RPL_YOURHOST = "002"
RPL_CREATED = "003"
RPL_MYINFO = "004"
RPL_ISUPPORT = "005"
# Replies to commands.
RPL_UMODEIS = "221"
RPL_AWAY = "301"
RPL_USERHOST = "302"
RPL_ISON = "303"
RPL_UNAWAY = "305"
RPL_NOWAWAY = "306"
RPL_WHOISUSER = "311"
RPL_WHOISSERVER = "312"
RPL_WHOISOPERATOR = "313"
RPL_ENDOFWHO = "315"
RPL_WHOISIDLE = "317"
RPL_ENDOFWHOIS = "318"
RPL_WHOISCHANNELS = "319"
RPL_LIST = "322"
RPL_LISTEND = "323"
RPL_CHANNELMODEIS = "324"
RPL_CREATIONTIME = "329"
RPL_NOTOPIC = "331"
RPL_TOPIC = "332"
RPL_TOPICWHOTIME = "333"
RPL_WHOREPLY = "352"
RPL_NAMREPLY = "353"
RPL_ENDOFNAMES = "366"
RPL_BANLIST = "367"
RPL_ENDOFINVITELIST = "347"
RPL_ENDOFEXCEPTLIST = "349"
RPL_ENDOFBANLIST = "368"
RPL_MOTD = "372"
RPL_MOTDSTART = "375"
RPL_ENDOFMOTD = "376"
RPL_YOUREOPER = "381"
# Errors.
ERR_NOSUCHNICK = "401"
ERR_NOSUCHCHANNEL = "403"
ERR_CANNOTSENDTOCHAN = "404"
ERR_TOOMANYCHANNELS = "405"
ERR_BANNEDFROMCHAN = "474"
ERR_INVALIDCAPCMD = "410"
ERR_NORECIPIENT = "411"
ERR_NOTEXTTOSEND = "412"
ERR_INPUTTOOLONG = "417"
ERR_UNKNOWNCOMMAND = "421"
ERR_NOMOTD = "422"
ERR_NONICKNAMEGIVEN = "431"
ERR_ERRONEUSNICKNAME = "432"
ERR_NICKNAMEINUSE = "433"
ERR_USERNOTINCHANNEL = "441"
ERR_NOTONCHANNEL = "442"
ERR_NOTREGISTERED = "451"
ERR_NEEDMOREPARAMS = "461"
ERR_ALREADYREGISTERED = "462"
ERR_PASSWDMISMATCH = "464"
ERR_UNKNOWNMODE = "472"
ERR_BADCHANMASK = "476"
ERR_CHANOPRIVSNEEDED = "482"
ERR_NOOPERHOST = "491"
ERR_UMODEUNKNOWNFLAG = "501"
ERR_USERSDONTMATCH = "502"

#: tcpchat's user modes, as RPL_MYINFO lists them: ``a``, away, set by AWAY
#: only (RFC 2812, 3.1.5). There are no others.
USER_MODES = "a"
#: tcpchat's channel modes: ``n``, no messages from outside, always on (a
#: message to a room is said in it, by one of its members); and the moderation's,
#: given per member: ``b`` (a banned nickname), ``q`` (a muted member) and ``o``
#: (an operator of the room).
CHANNEL_MODES = "bnoq"
#: The prefix a room operator's nickname carries in NAMES and WHO.
OPERATOR_PREFIX = "@"

#: The longest server name a reply may carry: one DNS label's worth.
MAX_SERVER_NAME_BYTES = 63
#: The most of a client's own words sent back to it in one parameter: enough
#: for the longest tcpchat nickname or room name (32 characters of 4 bytes, and ``#``).
MAX_ECHO_BYTES = 1 + 4 * MAX_NICK_LENGTH
#: RPL_ISUPPORT tokens per line: 15 parameters, less the nick and the closing words.
MAX_ISUPPORT_TOKENS = MAX_PARAMS - 2

#: The channel modes that are lists, which clients query on joining: their end numerics.
_MODE_LISTS = {
    "b": (RPL_ENDOFBANLIST, "ban"),
    "e": (RPL_ENDOFEXCEPTLIST, "exception"),
    "I": (RPL_ENDOFINVITELIST, "invite"),
}
#: The list modes a ``MODE #room b`` query may name.
LIST_MODES = frozenset(_MODE_LISTS)

_SERVER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")
_STANDARD_REPLY_CODE = re.compile(r"[A-Z0-9_]+")


@dataclass(frozen=True, slots=True)
class Replies:
    """The replies to one client from the server ``server``; ``client`` is its nick, or ``*``."""

    server: str
    client: str = "*"

    def __post_init__(self) -> None:
        if len(self.server) > MAX_SERVER_NAME_BYTES or not _SERVER_NAME.fullmatch(self.server):
            raise ValueError(
                f"a server name is 1 to {MAX_SERVER_NAME_BYTES} ASCII letters, digits, "
                f"'.' and '-' (got {self.server!r})"
            )

    def to(self, nick: str | None) -> Replies:
        """The same server's replies to ``nick`` (``*`` for None: not registered yet)."""
        return Replies(self.server, nick or "*")

    # -- registration --------------------------------------------------------

    def welcome(self, network: str) -> IrcMessage:
        return self._numeric(RPL_WELCOME, f"Welcome to the {network} IRC network, {self.client}")

    def your_host(self, version: str) -> IrcMessage:
        return self._numeric(RPL_YOURHOST, f"Your host is {self.server}, running {version}")

    def created(self, when: str) -> IrcMessage:
        return self._numeric(RPL_CREATED, f"This server was created {when}")

    def my_info(self, version: str) -> IrcMessage:
        return IrcMessage(
            RPL_MYINFO, [self.client, self.server, version, USER_MODES, CHANNEL_MODES], self.server
        )

    def isupport(self, tokens: Sequence[str]) -> list[IrcMessage]:
        """``005`` lines for ``tokens``, as many as they need."""
        lines: list[IrcMessage] = []
        for start in range(0, len(tokens), MAX_ISUPPORT_TOKENS):
            chunk = tokens[start : start + MAX_ISUPPORT_TOKENS]
            lines += self._packed(RPL_ISUPPORT, [], chunk, "are supported by this server")
        return lines

    def motd(self, lines: Sequence[str] | None) -> list[IrcMessage]:
        """The message of the day: ``375``, a ``372`` a line, ``376``; ``422`` if there is none."""
        if not lines:
            return [self._numeric(ERR_NOMOTD, "There is no message of the day")]
        return [
            self._numeric(RPL_MOTDSTART, f"- {self.server} Message of the day - "),
            *(self._numeric(RPL_MOTD, f"- {line}") for line in lines),
            self._numeric(RPL_ENDOFMOTD, "End of /MOTD command"),
        ]

    def cap(self, subcommand: str, capabilities: str, *, more: bool = False) -> IrcMessage:
        """``CAP <client> LS|LIST|ACK|NAK [*] :capabilities`` (``*`` when more lines follow)."""
        middle = [self.client, subcommand, "*"] if more else [self.client, subcommand]
        return fit_last_param(IrcMessage("CAP", [*middle, capabilities], self.server))

    def pong(self, token: str) -> IrcMessage:
        return IrcMessage("PONG", [self.server, token], self.server)

    def ping(self, token: str) -> IrcMessage:
        return IrcMessage("PING", [token], self.server)

    def error(self, reason: str) -> IrcMessage:
        """``ERROR``: the last line before the server closes the connection."""
        return fit_last_param(IrcMessage("ERROR", [reason]))

    # -- standard replies (IRCv3) --------------------------------------------

    def fail(self, command: str, code: str, text: str, *context: str) -> IrcMessage:
        return self._standard("FAIL", command, code, text, context)

    def warn(self, command: str, code: str, text: str, *context: str) -> IrcMessage:
        return self._standard("WARN", command, code, text, context)

    def note(self, command: str, code: str, text: str, *context: str) -> IrcMessage:
        return self._standard("NOTE", command, code, text, context)

    # -- users ---------------------------------------------------------------

    def umode_is(self, *, away: bool) -> IrcMessage:
        return IrcMessage(RPL_UMODEIS, [self.client, "+a" if away else "+"], self.server)

    def away(self, nick: str, text: str) -> IrcMessage:
        return self._numeric(RPL_AWAY, text, nick)

    def unaway(self) -> IrcMessage:
        return self._numeric(RPL_UNAWAY, "You are no longer marked as being away")

    def now_away(self) -> IrcMessage:
        return self._numeric(RPL_NOWAWAY, "You have been marked as being away")

    def userhost(self, replies: Sequence[str]) -> list[IrcMessage]:
        """``302`` with ``nick=+user@host`` entries (``-`` for away)."""
        return self._packed(RPL_USERHOST, [], replies)

    def ison(self, nicks: Sequence[str]) -> list[IrcMessage]:
        return self._packed(RPL_ISON, [], nicks)

    def whois_user(self, nick: str, user: str, host: str, realname: str) -> IrcMessage:
        return self._numeric(RPL_WHOISUSER, realname, nick, user, host, "*")

    def whois_server(self, nick: str, info: str) -> IrcMessage:
        return self._numeric(RPL_WHOISSERVER, info, nick, self.server)

    def whois_idle(self, nick: str, idle_seconds: int, signon: int) -> IrcMessage:
        text = "seconds idle, signon time"
        return self._numeric(RPL_WHOISIDLE, text, nick, str(idle_seconds), str(signon))

    def whois_channels(self, nick: str, channels: Sequence[str]) -> list[IrcMessage]:
        return self._packed(RPL_WHOISCHANNELS, [nick], channels) if channels else []

    def whois_operator(self, nick: str) -> IrcMessage:
        return self._numeric(RPL_WHOISOPERATOR, "is an IRC operator", nick)

    def youre_oper(self) -> IrcMessage:
        return self._numeric(RPL_YOUREOPER, "You are now an IRC operator")

    def no_oper_host(self, reason: str) -> IrcMessage:
        return self._numeric(ERR_NOOPERHOST, reason)

    def end_of_whois(self, nick: str) -> IrcMessage:
        return self._numeric(RPL_ENDOFWHOIS, "End of /WHOIS list", self._echo(nick))

    def who_reply(
        self,
        channel: str,
        user: str,
        host: str,
        nick: str,
        *,
        away: bool,
        realname: str,
        server_operator: bool = False,
        room_operator: bool = False,
    ) -> IrcMessage:
        """``352``: one user; ``channel`` is ``*`` when the query named no channel.

        The flags are ``H`` (here) or ``G`` (away), ``*`` for a server operator and
        ``@`` for an operator of ``channel``."""
        flags = "G" if away else "H"
        flags += "*" if server_operator else ""
        flags += OPERATOR_PREFIX if room_operator else ""
        params = (channel, user, host, self.server, nick, flags)
        return self._numeric(RPL_WHOREPLY, f"0 {realname}", *params)

    def end_of_who(self, mask: str) -> IrcMessage:
        return self._numeric(RPL_ENDOFWHO, "End of /WHO list", self._echo(mask))

    # -- channels ------------------------------------------------------------

    def list_entry(self, channel: str, members: int, topic: str) -> IrcMessage:
        return self._numeric(RPL_LIST, topic, channel, str(members))

    def list_end(self) -> IrcMessage:
        return self._numeric(RPL_LISTEND, "End of /LIST")

    def channel_mode_is(self, channel: str) -> IrcMessage:
        modes = "+n"  # the one mode a room has as a whole; the others are its members'
        return IrcMessage(RPL_CHANNELMODEIS, [self.client, channel, modes], self.server)

    def creation_time(self, channel: str, created: int) -> IrcMessage:
        return IrcMessage(RPL_CREATIONTIME, [self.client, channel, str(created)], self.server)

    def no_topic(self, channel: str) -> IrcMessage:
        return self._numeric(RPL_NOTOPIC, "No topic is set", channel)

    def topic(self, channel: str, text: str) -> IrcMessage:
        return self._numeric(RPL_TOPIC, text, channel)

    def topic_who_time(self, channel: str, nick: str, set_at: int) -> IrcMessage:
        return IrcMessage(RPL_TOPICWHOTIME, [self.client, channel, nick, str(set_at)], self.server)

    def names(
        self, channel: str, nicks: Sequence[str], operators: Sequence[str] = ()
    ) -> list[IrcMessage]:
        """``353`` lines listing ``nicks`` (a public channel, ``=``), then ``366``;
        the ``operators`` among them (a subsequence, in the same order) carry ``@``."""
        if operators:
            ops = set(operators)
            nicks = [f"{OPERATOR_PREFIX}{nick}" if nick in ops else nick for nick in nicks]
        lines = self._packed(RPL_NAMREPLY, ["=", channel], nicks) if nicks else []
        return [*lines, self.end_of_names(channel)]

    def ban_entry(self, channel: str, mask: str, by: str, created: int) -> IrcMessage:
        """``367``: one ban of ``channel`` (``nick!*@*``), who set it and when (Unix time)."""
        return IrcMessage(RPL_BANLIST, [self.client, channel, mask, by, str(created)], self.server)

    def end_of_mode_list(self, mode: str, channel: str) -> IrcMessage:
        """The end of a channel's ban (``b``), exception (``e``) or invite (``I``) list.

        Bans are listed first (``367``); the exception and invite lists are always empty.
        """
        code, what = _MODE_LISTS[mode]
        return self._numeric(code, f"End of channel {what} list", self._echo(channel))

    def end_of_names(self, channel: str) -> IrcMessage:
        return self._numeric(RPL_ENDOFNAMES, "End of /NAMES list", self._echo(channel))

    # -- errors --------------------------------------------------------------

    def no_such_nick(self, nick: str) -> IrcMessage:
        return self._numeric(ERR_NOSUCHNICK, "No such nick/channel", self._echo(nick))

    def no_such_channel(self, channel: str, reason: str = "No such channel") -> IrcMessage:
        return self._numeric(ERR_NOSUCHCHANNEL, reason, self._echo(channel))

    def cannot_send_to_channel(self, channel: str, reason: str) -> IrcMessage:
        return self._numeric(ERR_CANNOTSENDTOCHAN, reason, self._echo(channel))

    def too_many_channels(self, channel: str, reason: str) -> IrcMessage:
        return self._numeric(ERR_TOOMANYCHANNELS, reason, self._echo(channel))

    def banned_from_channel(self, channel: str, reason: str) -> IrcMessage:
        return self._numeric(ERR_BANNEDFROMCHAN, reason, self._echo(channel))

    def invalid_cap_command(self, subcommand: str) -> IrcMessage:
        return self._numeric(ERR_INVALIDCAPCMD, "Invalid CAP command", self._echo(subcommand))

    def no_recipient(self, command: str) -> IrcMessage:
        return self._numeric(ERR_NORECIPIENT, f"No recipient given ({self._echo(command)})")

    def no_text_to_send(self) -> IrcMessage:
        return self._numeric(ERR_NOTEXTTOSEND, "No text to send")

    def input_too_long(self) -> IrcMessage:
        return self._numeric(ERR_INPUTTOOLONG, "Input line was too long")

    def unknown_command(self, command: str) -> IrcMessage:
        return self._numeric(ERR_UNKNOWNCOMMAND, "Unknown command", self._echo(command))

    def no_nickname_given(self) -> IrcMessage:
        return self._numeric(ERR_NONICKNAMEGIVEN, "No nickname given")

    def erroneous_nickname(self, nick: str, reason: str) -> IrcMessage:
        text = f"Erroneous nickname: {reason}"
        return self._numeric(ERR_ERRONEUSNICKNAME, text, self._echo(nick))

    def nickname_in_use(self, nick: str, reason: str = "Nickname is already in use") -> IrcMessage:
        return self._numeric(ERR_NICKNAMEINUSE, reason, self._echo(nick))

    def user_not_in_channel(self, nick: str, channel: str) -> IrcMessage:
        text = "They aren't on that channel"
        return self._numeric(ERR_USERNOTINCHANNEL, text, self._echo(nick), self._echo(channel))

    def not_on_channel(self, channel: str) -> IrcMessage:
        return self._numeric(ERR_NOTONCHANNEL, "You're not on that channel", self._echo(channel))

    def not_registered(self) -> IrcMessage:
        return self._numeric(ERR_NOTREGISTERED, "You have not registered")

    def need_more_params(self, command: str) -> IrcMessage:
        return self._numeric(ERR_NEEDMOREPARAMS, "Not enough parameters", self._echo(command))

    def already_registered(self) -> IrcMessage:
        return self._numeric(ERR_ALREADYREGISTERED, "You may not reregister")

    def password_mismatch(self, reason: str = "Password incorrect") -> IrcMessage:
        return self._numeric(ERR_PASSWDMISMATCH, reason)

    def unknown_mode(self, mode: str) -> IrcMessage:
        return self._numeric(ERR_UNKNOWNMODE, "is unknown mode char to me", self._echo(mode))

    def bad_channel_mask(self, channel: str, reason: str = "Bad Channel Mask") -> IrcMessage:
        return self._numeric(ERR_BADCHANMASK, reason, self._echo(channel))

    def chanop_privs_needed(self, channel: str, reason: str) -> IrcMessage:
        return self._numeric(ERR_CHANOPRIVSNEEDED, reason, self._echo(channel))

    def umode_unknown_flag(self) -> IrcMessage:
        return self._numeric(ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")

    def users_dont_match(self) -> IrcMessage:
        return self._numeric(ERR_USERSDONTMATCH, "Cannot change mode for other users")

    # -- building ------------------------------------------------------------

    def _numeric(self, code: str, text: str, *params: str) -> IrcMessage:
        return fit_last_param(IrcMessage(code, [self.client, *params, text], self.server))

    def _standard(
        self, kind: str, command: str, code: str, text: str, context: Sequence[str]
    ) -> IrcMessage:
        if not _STANDARD_REPLY_CODE.fullmatch(code):
            raise ValueError(f"a standard reply code is upper-case words joined by '_' ({code!r})")
        params = [self._echo(command), code, *(self._echo(item) for item in context), text]
        return fit_last_param(IrcMessage(kind, params, self.server))

    def _packed(
        self, code: str, middle: Sequence[str], items: Iterable[str], text: str | None = None
    ) -> list[IrcMessage]:
        """As few ``code`` lines as hold ``items``: space-separated in the last
        parameter, or (with closing ``text``) one parameter each.

        Each item adds its bytes and a space to the line, and the second of a
        last parameter may add its colon: so a line's length is counted, and
        measured for real only when the count says it might not fit. A line
        is built a few times, not once per item (a NAMES reply to every join,
        the 005 lines of every registration).
        """
        lines: list[IrcMessage] = []
        chunk: list[str] = []
        # The body length of build(chunk), or at most one byte over it.
        length = 0

        def build(words: list[str]) -> IrcMessage:
            if text is None:
                return IrcMessage(code, [self.client, *middle, " ".join(words)], self.server)
            return IrcMessage(code, [self.client, *middle, *words, text], self.server)

        for item in items:
            if chunk:
                colon = 1 if text is None and len(chunk) == 1 else 0
                length += 1 + colon + utf8_length(item)
                if length > MAX_BODY_BYTES:
                    length = build([*chunk, item]).body_length()
                    if length > MAX_BODY_BYTES:
                        lines.append(build(chunk))
                        chunk = []
            if not chunk:
                length = build([item]).body_length()
            chunk.append(item)
        if chunk:
            lines.append(build(chunk))
        return lines

    @staticmethod
    def _echo(words: str) -> str:
        """A client's own words, safe to send back as a middle parameter."""
        if not words or " " in words or words.startswith(":"):
            return "*"
        return words.encode("utf-8")[:MAX_ECHO_BYTES].decode("utf-8", "ignore") or "*"
