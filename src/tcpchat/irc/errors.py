"""The IRC codec's exceptions, under tcpchat's one tree (:mod:`tcpchat.core.errors`).

::

    RemoteProtocolError              (tcpchat.core.errors)
    └── IrcProtocolError             an IRC client sent a line that is not IRC
        ├── InputTooLong             past 512 bytes, or past 4,094 bytes of tag data: 417
        ├── EmptyMessage             nothing but spaces: ignored, as IRC asks
        ├── MalformedMessage         no command, a NUL or CR, more than 15 parameters
        └── NotUtf8                  not UTF-8 (the server is UTF8ONLY): FAIL … INVALID_UTF8
    LocalProtocolError               (tcpchat.core.errors)
    └── UnsendableMessage            tcpchat built a message IRC cannot carry: a bug

The message of an ``IrcProtocolError`` is written for the user at the other
end; ``command`` is the command of the offending line when it could be read
(``None`` otherwise), so that a reply can name it.
"""

from __future__ import annotations

from tcpchat.core.errors import LocalProtocolError, RemoteProtocolError


class IrcProtocolError(RemoteProtocolError):
    """An IRC client sent a line that cannot be taken as an IRC message."""

    code = "irc_protocol"

    def __init__(self, message: str, *, command: str | None = None) -> None:
        super().__init__(message)
        self.command = command


class InputTooLong(IrcProtocolError):
    """A line past IRC's limits: 512 bytes with CRLF, and 4,094 bytes of tag data."""

    code = "line_too_long"


class EmptyMessage(IrcProtocolError):
    """A line with nothing in it; IRC servers ignore these silently."""


class MalformedMessage(IrcProtocolError):
    """A line with no command, a forbidden character, or too many parameters."""


class NotUtf8(IrcProtocolError):
    """A line that is not valid UTF-8, on a server that carries nothing else."""

    code = "invalid_utf8"


class UnsendableMessage(LocalProtocolError):
    """tcpchat built an IRC message that cannot be sent as it is (a bug of ours)."""
