"""IRC's operator commands, mapped onto tcpchat's moderation; no I/O.

``OPER``, ``KICK`` and the member modes of ``MODE #room`` (``+o``/``-o``,
``+b``/``-b``, ``+q``/``-q``) are the same operations as the line protocol's
``/oper``, ``/kick``, ``/op``, ``/ban`` and ``/mute``
(:mod:`tcpchat.core.modcommands`), with the same rules, audit lines and
announcements; this module checks what IRC answers with a numeric (``461``,
``403``, ``442``, ``441``, ``482``, ``472``) and then calls them, so that the
rules live in one place. What the core refuses for its own reasons (an
operator of the room may not be muted; a server operator may not be kicked by
a room operator) comes back as a server ``NOTICE`` with the core's words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from tcpchat.core import modcommands
from tcpchat.core.conversation import Conversation
from tcpchat.core.errors import ModerationError, TcpchatError
from tcpchat.core.hub import Room
from tcpchat.core.moderation import MAX_REASON_CHARS, Moderation
from tcpchat.core.nicks import nick_key
from tcpchat.core.password import tries
from tcpchat.core.sanitize import sanitize_text
from tcpchat.irc.message import IrcMessage
from tcpchat.irc.numerics import LIST_MODES, Replies
from tcpchat.irc.render import strip_formatting

#: The modes that name a member, and the line protocol's commands that set and unset them.
MEMBER_MODES: dict[str, tuple[Callable[[Conversation, str], None], ...]] = {
    "o": (modcommands.op, modcommands.deop),
    "b": (modcommands.ban, modcommands.unban),
    "q": (modcommands.mute, modcommands.unmute),
}
#: The modes a room has as a whole: ``n`` (only members speak), always on.
ROOM_MODES = "n"
#: The most member mode changes one ``MODE`` line may make (``MODES`` in RPL_ISUPPORT).
MAX_MODE_CHANGES = 4
#: The reason given when a non-operator tries to change a room.
NOT_OPERATOR = "You're not a channel operator"


class IrcConversation(Conversation, Protocol):
    """What these commands need of an IRC session besides the conversation: its replies."""

    @property
    def replies(self) -> Replies: ...

    def send(self, *messages: IrcMessage) -> None: ...


def oper(session: IrcConversation, message: IrcMessage) -> None:
    """``OPER name password``: tcpchat has one operator password, so any name will do."""
    replies = session.replies
    if len(message.params) < 2:
        session.send(replies.need_more_params("OPER"))
        return
    moderation = session.moderation
    if moderation is None:
        session.send(replies.no_oper_host("this server has no operators"))
        return
    peer = session.peer
    if moderation.is_server_operator(peer):
        session.send(replies.youre_oper())
        return
    try:
        tries_left = moderation.try_oper(peer, session.nick, message.params[1])
    except ModerationError as exc:  # no --oper-password
        session.send(replies.no_oper_host(str(exc)))
        return
    if tries_left is None:
        session.send(replies.youre_oper())
    elif tries_left == 0:
        session.send(replies.password_mismatch("Password incorrect; too many tries"))
        session.end("too many wrong operator passwords")
    else:
        session.send(replies.password_mismatch(f"Password incorrect; {tries(tries_left)} left"))


def kick(session: IrcConversation, message: IrcMessage, room: Room) -> None:
    """``KICK #room nick[,nick] [:reason]``, ``room`` being the one named, which exists."""
    replies = session.replies
    moderation = _operator_of(session, room)
    if moderation is None:
        return
    words = message.params[2] if len(message.params) > 2 else ""
    reason = sanitize_text(strip_formatting(words)).strip()[:MAX_REASON_CHARS]
    for nick in message.params[1].split(","):
        target = room.everyone().get(nick_key(nick)) if nick else None
        if target is None or target.nick is None:
            session.send(replies.user_not_in_channel(nick, room.name))
            continue
        _call(session, room, modcommands.kick, f"{target.nick} {reason}".rstrip())


def change_modes(session: IrcConversation, room: Room, changes: list[str]) -> None:
    """``MODE #room +o-q alice bob``: each change in turn, with its argument.

    A list mode without an argument (``+b``) is a query of the list; a letter
    tcpchat has no meaning for is ``472``, and nothing on the line is changed."""
    replies = session.replies
    modestring, arguments = changes[0], changes[1:]
    known = "+-" + ROOM_MODES + "".join(MEMBER_MODES)
    adding = True
    wanted: list[tuple[bool, str, str]] = []
    for letter in modestring:
        if letter in "+-":
            adding = letter == "+"
        elif letter in MEMBER_MODES and arguments:
            wanted.append((adding, letter, arguments.pop(0)))
        elif letter in LIST_MODES:
            list_modes(session, room, letter)  # +b alone asks for the list
        elif letter not in known:
            session.send(replies.unknown_mode(letter))
            return
    if not wanted and not any(letter in ROOM_MODES for letter in modestring):
        return
    if _operator_of(session, room) is None:
        return
    # +n is always on and -n cannot be had: only the member modes change anything.
    for adding, letter, argument in wanted[:MAX_MODE_CHANGES]:
        command = MEMBER_MODES[letter][0 if adding else 1]
        if letter == "b":
            nick = _banned_nick(argument)
            if nick is None:
                session.notice(f"tcpchat bans nicknames (nick or nick!*@*), not {argument!r}")
                continue
            argument = nick
        elif letter == "o" and not room.has_member(nick_key(argument)):  # (on any node)
            session.send(replies.user_not_in_channel(argument, room.name))
            continue
        _call(session, room, command, argument)


def list_modes(session: IrcConversation, room: Room, letter: str) -> None:
    """``MODE #room b`` (or ``e``, ``I``): the room's bans, then the end of the list."""
    replies = session.replies
    if letter == "b" and session.moderation is not None:
        session.send(
            *(
                replies.ban_entry(room.name, f"{ban.target}!*@*", ban.by, int(ban.created))
                for ban in session.moderation.bans(room.key)
            )
        )
    session.send(replies.end_of_mode_list(letter, room.name))


def _operator_of(session: IrcConversation, room: Room) -> Moderation | None:
    """The server's moderation if ``session`` may moderate ``room``; else None, having
    answered ``482`` (or ``442`` to a non-member)."""
    moderation = session.moderation
    if moderation is None or not moderation.is_operator(session.peer, room):
        if room not in session.peer.rooms and (
            moderation is None or not moderation.is_server_operator(session.peer)
        ):
            session.send(session.replies.not_on_channel(room.name))
        else:
            session.send(session.replies.chanop_privs_needed(room.name, NOT_OPERATOR))
        return None
    return moderation


def _call(
    session: IrcConversation, room: Room, command: Callable[[Conversation, str], None], text: str
) -> None:
    """Run a line protocol's moderation command in ``room``; its refusal as a NOTICE."""
    session.room = room  # the commands act on the current room
    try:
        command(session, text)
    except TcpchatError as exc:
        session.notice(str(exc))


def _banned_nick(mask: str) -> str | None:
    """The nickname of a ban mask tcpchat can keep (``nick``, ``nick!*@*``); None otherwise."""
    nick, _, rest = mask.partition("!")
    if rest and rest not in ("*@*", "*"):
        return None
    if not nick or any(char in nick for char in "*?@"):
        return None
    return nick
