"""``/search``: one question to the AI, one answer for the room where it was asked.

:class:`Search` is the server's :class:`~tcpchat.core.conversation.SearchService`.
``request`` never blocks: it checks the limits (an API key, one search per user
at a time, the per-user cooldown, the server-wide cap on searches at once; a
"user" is a client address, or a nickname and connection on loopback),
tells the room at once that someone asked, and starts a task that streams the
answer. While it streams, the room gets :class:`~tcpchat.core.events.AIDelta` events
(shown by JSON clients only); at the end it gets one
:class:`~tcpchat.core.events.AIAnswer` with the whole sanitised text and its numbered
sources. A failure goes to the asker alone as an
:class:`~tcpchat.core.events.Error`; the room gets only a
:class:`~tcpchat.core.events.SearchFailed` (no text), so that clients stop waiting.

``aclose`` cancels every search in flight and closes the API client.

The API client, and with it ``openai``, is loaded on the first search, in a
worker thread (:func:`load_ai_client`): a server that nobody asks anything
never pays for it, and chat goes on while it loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import itertools
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tcpchat.ai.answers import (
    MAX_CITATIONS,
    MAX_QUESTION_CHARS,
    TIMED_OUT,
    AnswerBuilder,
    AnswerEnd,
    Citation,
    RoomLine,
    TextPiece,
    build_input,
    build_summary_input,
    finish_answer,
)
from tcpchat.config import SearchSettings
from tcpchat.core.conversation import Conversation, HistoryLoader
from tcpchat.core.errors import HistoryUnavailable, SearchError, TcpchatError
from tcpchat.core.events import (
    AIAnswer,
    AIDelta,
    Event,
    Message,
    SearchFailed,
    SearchStarted,
)
from tcpchat.core.hub import Room
from tcpchat.core.nicks import nick_key
from tcpchat.core.rooms import DEFAULT_MAX_ROOMS, room_key

if TYPE_CHECKING:
    from tcpchat.ai.openai_edge import AIClient

log = logging.getLogger("tcpchat.search")

NOT_CONFIGURED = (
    "/search is not enabled on this server: whoever runs it must set OPENAI_API_KEY "
    "(see the README, section /search)"
)
BUSY = "the AI is busy with other questions; try again in a moment"
ALREADY_ASKING = "your previous question is still being answered; wait for it"
ALREADY_ASKING_FROM_ADDRESS = "a question from your address is still being answered; wait for it"
SHUTTING_DOWN = "the server is shutting down"
EMPTY_ANSWER = "the AI gave an empty answer; try rephrasing the question"
INTERNAL = "the search failed because of an error on the server"
TOO_LONG = f"a question is at most {MAX_QUESTION_CHARS} characters long"
NO_ROOM = "you are in no room; /join #room"
NOTHING_TO_SUMMARISE = "nothing was said in {room} {scope}: there is nothing to sum up"
#: Rooms whose recent lines are kept for the room context (the least recently heard go).
MAX_CONTEXT_ROOMS = DEFAULT_MAX_ROOMS


def load_ai_client(settings: SearchSettings) -> AIClient:
    """Import the openai edge and make the server's API client; run in a worker thread.

    Importing ``openai`` (with ``httpx2`` and ``pydantic``) takes about half a
    second of CPU and 25 MB: done at start-up it would double the server's memory
    for a feature many servers never use, and done on the event loop it would
    freeze every chat in the room during the first search.
    """
    from tcpchat.ai.openai_edge import AIClient

    return AIClient(settings)


@dataclass(slots=True)
class _Running:
    """A search in flight: who asked, and the task answering."""

    search_id: int
    askers: tuple[Hashable, ...]
    task: asyncio.Task[None]
    #: When it was asked, in the event loop's time.
    asked_at: float


def address_bucket(address: str) -> str | None:
    """The per-address key of the ``/search`` limits for a peer at ``address`` (``host:port``).

    An IPv4 address is its own bucket; an IPv6 address shares one with its /64,
    because one home or one cloud machine is usually given a whole /64. None for
    loopback and for anything that is not an IP address: those are shared by every
    local user, SSH tunnel and reverse proxy, so they cannot tell people apart.
    """
    host = address.rpartition(":")[0].strip("[]").split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _publish(session: Conversation, room: Room, event: Event) -> None:
    """Say ``event`` to the room where a search was asked."""
    session.hub.publish(event, room=room)


def _asker_keys(session: Conversation) -> tuple[Hashable, ...]:
    """Who is asking, for the per-user limits (cooldown, one search at a time).

    A remote client is its address (see :func:`address_bucket`): neither a rename
    nor a new connection escapes the limits, and whoever takes a nickname later,
    from elsewhere, does not inherit them. A local client is its nickname and its
    connection, so that local users are not all one.
    """
    bucket = address_bucket(session.peer.address)
    if bucket is not None:
        return (("address", bucket),)
    return (("nick", nick_key(session.nick)), ("connection", session.peer))


class Search:
    """The ``/search`` service of one server. See the module docstring.

    ``monotonic`` is the clock of the cooldown, and ``load_client`` what makes
    the API client on the first search (in a worker thread); both are
    replaceable in tests.
    """

    def __init__(
        self,
        settings: SearchSettings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        load_client: Callable[[SearchSettings], AIClient] = load_ai_client,
    ) -> None:
        self.settings = settings
        #: The API client: None until the first search has loaded it.
        self.ai: AIClient | None = None
        self._load_client = load_client
        self._loading = asyncio.Lock()
        self._monotonic = monotonic
        self._ids = itertools.count(1)
        self._running: dict[int, _Running] = {}
        self._last_asked: dict[Hashable, float] = {}  # asker key -> when its last search began
        # Recent lines per room key: a question's context is its own room's, never another's.
        self._rooms: OrderedDict[str, deque[RoomLine]] = OrderedDict()
        self._closing = False
        #: Searches (and summaries) started and failed so far, for ``/metrics``.
        self.started = 0
        self.failed = 0
        #: Told the seconds from asking to the whole answer of each search answered
        #: (the server's ``/metrics`` puts its histogram here; None: nobody listens).
        self.on_answered: Callable[[float], None] | None = None

    @property
    def in_flight(self) -> int:
        """How many searches are running now."""
        return len(self._running)

    # -- the session's side ------------------------------------------------------

    def request(self, session: Conversation, question: str, *, private: bool = False) -> None:
        """Start answering ``question`` for ``session``, or tell it why not. Never blocks.

        The answer goes to the room ``session`` is in, or, ``private``, to it alone
        (its events name no room), with the same limits and no room context."""
        try:
            self._admit(session, question)
            if session.room is None and not private:
                raise SearchError(NO_ROOM)
        except SearchError as exc:
            session.fail(exc)
            return
        room = None if private else session.room
        nick = session.nick
        search_id = next(self._ids)
        askers = _asker_keys(session)
        for key in askers:
            self._last_asked[key] = self._monotonic()
        publish: Callable[[Event], None]
        if room is None:
            publish = functools.partial(session.hub.send, session.peer)
            context: tuple[RoomLine, ...] = ()
        else:
            publish = functools.partial(_publish, session, room)
            context = tuple(self._rooms.get(room.key, ())) if self.settings.room_context else ()
        where = room.name if room is not None else ""
        event_id, ts = session.clock.stamp()
        publish(SearchStarted(event_id, ts, nick, search_id, question, where))
        messages = build_input(question, context)
        self._start(
            self._answer(session, where, nick, search_id, messages, publish), search_id, askers
        )
        log.info("search %d by %s started%s", search_id, nick, " (private)" if private else "")

    def summarize(self, session: Conversation, room: Room, scope: str, load: HistoryLoader) -> None:
        """``/summary``: a search whose question is ours and whose context is the room's
        history, answered to the asker alone. Same limits as any search, which it counts as."""
        try:
            self._admit(session, scope)
        except SearchError as exc:
            session.fail(exc)
            return
        nick = session.nick
        search_id = next(self._ids)
        askers = _asker_keys(session)
        for key in askers:
            self._last_asked[key] = self._monotonic()
        send = functools.partial(session.hub.send, session.peer)
        event_id, ts = session.clock.stamp()
        send(SearchStarted(event_id, ts, nick, search_id, f"sum up {room.name} {scope}", room.name))
        self._start(
            self._summarize(session, room, nick, search_id, scope, load, send), search_id, askers
        )
        log.info("summary %d for %s started", search_id, nick)

    def _start(
        self, answer: Coroutine[None, None, None], search_id: int, askers: tuple[Hashable, ...]
    ) -> None:
        loop = asyncio.get_running_loop()
        task = loop.create_task(answer, name=f"tcpchat-search-{search_id}")
        self._running[search_id] = _Running(search_id, askers, task, loop.time())
        self.started += 1
        task.add_done_callback(lambda _: self._running.pop(search_id, None))

    def observe(self, message: Message) -> None:
        """Remember a room message, for the room context (kept only when it is on)."""
        if not self.settings.room_context:
            return
        key = room_key(message.room)
        lines = self._rooms.get(key)
        if lines is None:
            lines = self._rooms[key] = deque(maxlen=self.settings.room_context)
            if len(self._rooms) > MAX_CONTEXT_ROOMS:
                self._rooms.popitem(last=False)
        else:
            self._rooms.move_to_end(key)
        lines.append(RoomLine(message.nick, message.text))

    def _admit(self, session: Conversation, question: str) -> None:
        """Raise :class:`SearchError` with the reason if this search may not start."""
        if self._closing:
            raise SearchError(SHUTTING_DOWN)
        if not self.settings.enabled:
            raise SearchError(NOT_CONFIGURED)
        if len(question) > MAX_QUESTION_CHARS:
            raise SearchError(TOO_LONG)
        askers = set(_asker_keys(session))
        by_address = address_bucket(session.peer.address) is not None
        if any(askers.intersection(running.askers) for running in self._running.values()):
            raise SearchError(ALREADY_ASKING_FROM_ADDRESS if by_address else ALREADY_ASKING)
        last = max((self._last_asked.get(key, -math.inf) for key in askers), default=-math.inf)
        wait = last + self.settings.cooldown - self._monotonic()
        if wait > 0:
            whose = "the next search from your address" if by_address else "your next search"
            raise SearchError(f"wait {math.ceil(wait)} s before {whose}")
        if len(self._running) >= self.settings.max_concurrent:
            raise SearchError(BUSY)
        self._forget_old_askers()

    def _forget_old_askers(self) -> None:
        """Drop cooldown entries that have run out, so the table stays small."""
        horizon = self._monotonic() - self.settings.cooldown
        for key in [key for key, last in self._last_asked.items() if last <= horizon]:
            del self._last_asked[key]

    # -- one search --------------------------------------------------------------

    async def _summarize(
        self,
        session: Conversation,
        room: Room,
        nick: str,
        search_id: int,
        scope: str,
        load: HistoryLoader,
        send: Callable[[Event], None],
    ) -> None:
        """Read the history to sum up (in the store's thread), then stream the summary."""
        try:
            async with asyncio.timeout(self.settings.timeout):
                lines = await load()
        except HistoryUnavailable as exc:
            self._fail(session, room.name, nick, search_id, exc, send)
            return
        except TimeoutError:
            self._fail(session, room.name, nick, search_id, SearchError(TIMED_OUT), send)
            return
        if not lines:
            empty = SearchError(NOTHING_TO_SUMMARISE.format(room=room.name, scope=scope))
            self._fail(session, room.name, nick, search_id, empty, send)
            return
        messages = build_summary_input(lines, room.name, scope)
        await self._answer(session, room.name, nick, search_id, messages, send)

    async def _answer(
        self,
        session: Conversation,
        room: str,
        nick: str,
        search_id: int,
        messages: list[str],
        publish: Callable[[Event], None],
    ) -> None:
        """Stream one answer with ``publish`` (to the room named ``room``, or to the asker
        alone); report a failure to the asker."""
        builder = AnswerBuilder(self.settings.max_answer_chars)
        streamed_citations: list[Citation] = []
        end: AnswerEnd | None = None
        try:
            async with asyncio.timeout(self.settings.timeout):
                ai = await self._ai_client()
                async with contextlib.aclosing(ai.stream(messages)) as items:
                    async for item in items:
                        if isinstance(item, TextPiece):
                            piece = builder.feed(item.text)
                            if piece:
                                event_id, ts = session.clock.stamp()
                                delta = AIDelta(event_id, ts, search_id, piece, room)
                                publish(delta)
                            if builder.full:
                                break  # stop paying for text nobody will see
                        elif isinstance(item, Citation):
                            if len(streamed_citations) < MAX_CITATIONS:
                                streamed_citations.append(item)
                        else:
                            end = item
        except SearchError as exc:
            self._fail(session, room, nick, search_id, exc, publish)
            return
        except TimeoutError:
            log.warning("search %d timed out", search_id)
            self._fail(session, room, nick, search_id, SearchError(TIMED_OUT), publish)
            return
        except Exception:
            log.exception("search %d failed", search_id)
            self._fail(session, room, nick, search_id, SearchError(INTERNAL), publish)
            return
        if end is None and not builder.full:
            # AIClient.stream ends with an AnswerEnd or raises; this is a bug of ours.
            log.error("search %d: the answer stream ended without its end", search_id)
            self._fail(session, room, nick, search_id, SearchError(INTERNAL), publish)
            return
        raw = builder.raw
        citations: tuple[Citation, ...] = tuple(streamed_citations)
        incomplete = False
        cut = builder.full
        if end is not None:
            incomplete = end.incomplete
            cut = cut or end.oversized
            if end.text is not None and not cut:
                if len(end.text) <= builder.max_raw_chars:
                    raw = end.text
                else:
                    cut = True  # the whole text is past the raw limit: keep what streamed
            if end.citations:
                citations = end.citations
        text, sources = finish_answer(
            raw, citations, self.settings.max_answer_chars, incomplete=incomplete, cut=cut
        )
        if not text:
            self._fail(session, room, nick, search_id, SearchError(EMPTY_ANSWER), publish)
            return
        event_id, ts = session.clock.stamp()
        answer = AIAnswer(event_id, ts, nick, search_id, text, sources, room)
        publish(answer)
        running = self._running.get(search_id)
        if self.on_answered is not None and running is not None:
            self.on_answered(asyncio.get_running_loop().time() - running.asked_at)
        log.info(
            "search %d answered: %d characters, %d sources", search_id, len(text), len(sources)
        )

    async def _ai_client(self) -> AIClient:
        """The API client, loaded by the first search that needs it, off the event loop."""
        async with self._loading:
            if self.ai is None:
                self.ai = await asyncio.to_thread(self._load_client, self.settings)
        return self.ai

    def _fail(
        self,
        session: Conversation,
        room: str,
        nick: str,
        search_id: int,
        exc: TcpchatError,
        publish: Callable[[Event], None],
    ) -> None:
        """Tell the asker what went wrong; tell the room's programs the search is over."""
        self.failed += 1
        session.fail(exc)  # in the words of the asker's front door
        event_id, ts = session.clock.stamp()
        publish(SearchFailed(event_id, ts, nick, search_id, room))

    # -- shutdown ------------------------------------------------------------------

    async def aclose(self) -> None:
        """Refuse new searches, cancel those in flight, close the API client."""
        self._closing = True
        tasks = [running.task for running in self._running.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
            log.info("cancelled %d searches in flight", len(tasks))
        if self.ai is not None:
            await self.ai.aclose()
