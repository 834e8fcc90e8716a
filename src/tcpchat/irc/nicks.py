"""tcpchat's nicknames seen from IRC, with no I/O.

A tcpchat nickname (:mod:`tcpchat.core.nicks`) is 1 to 32 letters and digits of
one script, ``_`` and ``-``. Every such name is a valid IRC nickname as modern
IRC defines it (no space, comma, ``*``, ``?``, ``!``, ``@`` or ``.``, and no
leading ``#``, ``&``, ``$`` or ``:``), so IRC users see native users under
their own names, unchanged. The other way round, IRC allows names tcpchat
refuses (``nick[away]``, ``a|b``, ``^_^``): those get ``432`` with tcpchat's
reason.

One more rule holds for a nickname taken over IRC: it may not start with
``-``, because irssi and WeeChat read ``/msg -bob`` as an option, so nobody on
IRC could write to it easily (Ergo refuses these names too). A leading digit
is allowed, as on Ergo and most modern servers, though RFC 2812 forbade it.
"""

from __future__ import annotations

from tcpchat.core.errors import InvalidNick
from tcpchat.core.nicks import validate_nick


def validate_irc_nick(raw: str) -> str:
    """``raw`` as a nickname taken over IRC (NFC), or :class:`InvalidNick` with the reason."""
    nick = validate_nick(raw)
    if nick.startswith("-"):
        raise InvalidNick("over IRC a nickname may not start with '-' (clients read an option)")
    return nick
