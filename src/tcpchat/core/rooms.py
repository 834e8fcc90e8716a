"""Room names and the rules every room on a server keeps.

A room name is ``#`` and then 1 to :data:`MAX_ROOM_NAME_CHARS` letters and
digits of one script, ``_`` and ``-``: the nickname rule (see
:mod:`tcpchat.core.nicks`) after the ``#``. Two names are the same room when
their :func:`room_key` is: ``#Dev``, ``#dev`` and the full-width ``#ｄｅｖ`` are
one room, shown as first written.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from tcpchat.core.errors import InvalidRoom
from tcpchat.core.nicks import check_characters, nick_key

#: What starts every room name, and tells ``/msg #dev`` from ``/msg dev``.
ROOM_MARK = "#"
MAX_ROOM_NAME_CHARS = 32
DEFAULT_ROOM = "#lobby"
DEFAULT_MAX_ROOMS = 1000
DEFAULT_MAX_ROOMS_PER_MEMBER = 20
DEFAULT_MAX_TOPIC_CHARS = 300
#: Rooms of more than this many members keep joins, parts and quits to whom they are
#: about, and welcome a joiner with a count rather than every name (0: never quiet).
#: Twitch's IRC stops sending JOIN and PART past 1,000 members for the same reason:
#: announcing every arrival to a room of N costs N deliveries, N² for N arrivals.
DEFAULT_QUIET_JOINS_ABOVE = 1000
#: Longest away message: one topic's worth.
MAX_AWAY_CHARS = DEFAULT_MAX_TOPIC_CHARS


def is_room_name(text: str) -> bool:
    """Whether ``text`` is meant as a room (it starts with ``#``), valid or not."""
    return text.startswith(ROOM_MARK)


def room_key(name: str) -> str:
    """The form under which room names are compared: that of nicknames."""
    return nick_key(name)


def validate_room(raw: str) -> str:
    """Return ``raw`` as a room name (NFC-normalised), or raise :class:`InvalidRoom`.

    The message of the exception names the rule that ``raw`` breaks, for the user.
    """
    name = unicodedata.normalize("NFC", raw.strip())
    if not is_room_name(name):
        shown = name[:MAX_ROOM_NAME_CHARS] or "dev"
        raise InvalidRoom(f"a room name starts with '#' (as in #{shown})")
    body = name[len(ROOM_MARK) :]
    if not body:
        raise InvalidRoom(f"a room name needs 1 to {MAX_ROOM_NAME_CHARS} characters after '#'")
    if len(body) > MAX_ROOM_NAME_CHARS:
        raise InvalidRoom(f"a room name is at most {MAX_ROOM_NAME_CHARS} characters after '#'")
    check_characters(body, "a room name", InvalidRoom)
    return name


@dataclass(frozen=True, slots=True)
class RoomRules:
    """The room settings a hub and its sessions enforce (``--default-room`` and the limits)."""

    default_room: str = DEFAULT_ROOM
    max_rooms: int = DEFAULT_MAX_ROOMS
    max_rooms_per_member: int = DEFAULT_MAX_ROOMS_PER_MEMBER
    max_topic_chars: int = DEFAULT_MAX_TOPIC_CHARS
    quiet_joins_above: int = DEFAULT_QUIET_JOINS_ABOVE

    def __post_init__(self) -> None:
        validate_room(self.default_room)
        for name in ("max_rooms", "max_rooms_per_member", "max_topic_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be 1 or more")
        if self.quiet_joins_above < 0:
            raise ValueError("quiet_joins_above must be 0 or more")

    def is_quiet(self, members: int) -> bool:
        """Whether a room of ``members`` keeps its comings and goings quiet.

        ``members`` counts whoever is coming or going: the joiner after it is in, the
        parter before it is out, so that a join and the part that undoes it agree.
        """
        return 0 < self.quiet_joins_above < members

    def count_if_quiet(self, members: int) -> int:
        """The count a room of ``members`` says instead of its names: ``members`` in a room
        that keeps its comings and goings quiet, 0 (no count) in any other."""
        return members if self.is_quiet(members) else 0
