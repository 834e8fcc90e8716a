"""What commands and searches need from the conversation they act for.

A command (:mod:`tcpchat.core.commands`) or a search (:mod:`tcpchat.ai.search`)
acts for one connection: it reads who that is, tells them things, and
publishes to the room through the hub. :class:`Conversation` names exactly
what they use, and :class:`~tcpchat.core.session.Session` provides it. Naming
it here, rather than importing the session, keeps the session, the command
table and the search service free of import cycles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from tcpchat.core.errors import TcpchatError
from tcpchat.core.events import EventClock, Message
from tcpchat.core.hub import Hub, Peer, Room
from tcpchat.core.moderation import Moderation
from tcpchat.core.rooms import RoomRules


class Conversation(Protocol):
    """One connection's side of the chat, as a command or a search sees it.

    ``room`` is its current room (None: it is in none); ``rules`` the server's
    room rules; ``monotonic`` the clock of idle and connected times.
    """

    peer: Peer
    hub: Hub
    clock: EventClock
    search: SearchService | None
    room: Room | None
    rules: RoomRules
    monotonic: Callable[[], float]
    #: The server's operators, bans, mutes and slow modes (None: no moderation).
    moderation: Moderation | None

    @property
    def nick(self) -> str:
        """The connection's nickname (only once registered)."""

    @property
    def registered(self) -> bool:
        """Whether the connection is in the room under a nickname."""

    @property
    def awaiting_password(self) -> bool:
        """Whether the server password is still to be given."""

    def register(self, wanted: str) -> None:
        """Try to enter the room as ``wanted``; on failure, say why and ask again."""

    def say_in(self, room: Room, text: str) -> None:
        """Say ``text`` (sanitised, not blank) in ``room``, one of this connection's."""

    def notice(self, text: str) -> None:
        """Tell this connection something, as the server."""

    def error(self, code: str, text: str) -> None:
        """Tell this connection that something it asked went wrong."""

    def fail(self, exc: TcpchatError) -> None:
        """Tell this connection what went wrong, in the exception's user-facing words."""

    def end(self, reason: str, *, announce: bool = True) -> None:
        """Finish the conversation: leave the room and tell the others, once."""


class SearchService(Protocol):
    """What a conversation needs from ``/search``: start one, never wait for it."""

    def request(self, asker: Conversation, question: str) -> None:
        """Start answering ``question`` for ``asker``; report everything as events."""

    def observe(self, message: Message) -> None:
        """See a message said in the room (for the optional room context)."""

    async def aclose(self) -> None:
        """Cancel the searches in flight and release the API client (at server shutdown)."""
