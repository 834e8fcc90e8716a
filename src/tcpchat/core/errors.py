"""tcpchat's exceptions, all under one root.

::

    TcpchatError
    ├── RemoteProtocolError        the peer sent something we cannot accept
    │   ├── LineTooLong            a line past the line-length limit
    │   └── InvalidEncoding        a line that is not valid UTF-8
    ├── NickError                  a nickname cannot be used
    │   ├── InvalidNick            it breaks the nickname rules
    │   └── NickTaken              someone else has it
    ├── CommandError               a command was used wrongly (bad arguments, unknown user)
    │   └── ModerationError        moderation refused it (core/moderation.py)
    │       ├── NotOperator        only a room's operators (or a server operator) may
    │       ├── NotServerOperator  only a server operator may
    │       ├── Banned             the member (or the address) is banned
    │       ├── Muted              the member is muted in that room
    │       └── SlowMode           slow mode: the member spoke there too recently
    ├── RoomError                  a room cannot be used as asked
    │   ├── InvalidRoom            its name breaks the room-name rules
    │   ├── RoomLimit              the server, or the member, has all the rooms it may
    │   ├── NotInRoom              the member is not in that room
    │   ├── NoRoom                 the member is in no room at all
    │   └── TopicTooLong           a topic past the topic-length limit
    ├── ClusterUnavailable         a node of a cluster has lost Redis: nothing can be said or
    │                              taken until it is back (a NickError and a RoomError too)
    ├── SearchError                /search could not produce an answer (user-facing words)
    ├── StoreError                 the history database cannot be opened (names the path)
    │   └── HistoryUnavailable     history cannot be read right now (disk, lock); chat goes on
    ├── ConnectionLost             the client's server went away (or refused it)
    └── LocalProtocolError         tcpchat itself misused its protocol: a bug

Every message of a ``RemoteProtocolError``, ``NickError``, ``CommandError``,
``RoomError`` or ``SearchError`` is written for the user at the other end and may be sent to them.
A ``StoreError`` is written for the operator (it names the database's path);
only its ``HistoryUnavailable`` kind, which names no path, goes to users.
"""

from __future__ import annotations


class TcpchatError(Exception):
    """The root of every exception tcpchat raises on purpose."""


class RemoteProtocolError(TcpchatError):
    """The peer sent something the protocol does not accept."""

    code = "protocol"


class LineTooLong(RemoteProtocolError):
    """A line was longer than the line-length limit; it was discarded whole."""

    code = "line_too_long"


class InvalidEncoding(RemoteProtocolError):
    """A line was not valid UTF-8; it was discarded."""

    code = "invalid_utf8"


class NickError(TcpchatError):
    """A nickname cannot be used."""

    code = "nick"


class InvalidNick(NickError):
    """A nickname breaks the nickname rules."""

    code = "nick_invalid"


class NickTaken(NickError):
    """A nickname is already in use (compared after NFKC and casefold)."""

    code = "nick_taken"


class CommandError(TcpchatError):
    """A command was used wrongly: missing arguments, an unknown user, and so on."""

    code = "command"


class ModerationError(CommandError):
    """Moderation refused what was asked; the words say why, for the member who asked."""

    code = "moderation"


class NotOperator(ModerationError):
    """Only the room's operators (and server operators) may do that."""

    code = "not_operator"


class NotServerOperator(ModerationError):
    """Only a server operator may do that (``/oper``)."""

    code = "not_server_operator"


class Banned(ModerationError):
    """The member is banned from that room (or its address from the server)."""

    code = "banned"


class Muted(ModerationError):
    """The member is muted in that room."""

    code = "muted"


class SlowMode(ModerationError):
    """The room is in slow mode and the member spoke there too recently; the words say
    how many seconds are left."""

    code = "slow_mode"


class RoomError(TcpchatError):
    """A room cannot be used as asked."""

    code = "room"


class InvalidRoom(RoomError):
    """A room name breaks the room-name rules."""

    code = "room_invalid"


class RoomLimit(RoomError):
    """The server has as many rooms as it may, or the member is in as many as one may be."""

    code = "room_limit"


class NotInRoom(RoomError):
    """The member is not in the room it named (or the room does not exist)."""

    code = "not_in_room"


class NoRoom(RoomError):
    """The member is in no room, so there is nowhere to say anything."""

    code = "no_room"


class TopicTooLong(RoomError):
    """A topic is longer than the topic-length limit."""

    code = "topic_too_long"


class ClusterUnavailable(NickError, RoomError):
    """This server is one node of a cluster and cannot use Redis (lost, or refusing writes).

    A nickname cannot be taken nor a room joined until it is back, so it is both
    a :class:`NickError` and a :class:`RoomError`: registration and the room
    commands report it like their own refusals, in these words.
    """

    code = "cluster_unavailable"


class SearchError(TcpchatError):
    """``/search`` could not produce an answer; the message is safe to show the asker."""

    code = "search"


class StoreError(TcpchatError):
    """The history database cannot be used: a path that cannot be opened, a file that is
    not a tcpchat database, a schema from a newer tcpchat. One line for the operator,
    naming the path; the server refuses to start on it rather than lose history silently."""

    code = "history"


class HistoryUnavailable(StoreError):
    """History cannot be read right now (the disk or a lock); the words are safe for users."""

    code = "history_unavailable"


class ConnectionLost(TcpchatError):
    """The server closed the client's connection; the message says what it last said, if
    anything (a "busy" refusal, say)."""


class LocalProtocolError(TcpchatError):
    """tcpchat misused its own protocol. This is a bug, never the peer's fault."""
