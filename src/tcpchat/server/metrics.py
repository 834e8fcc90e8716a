"""``/metrics``: what a running server is doing, for Prometheus, made by prometheus-client.

The exposition text is prometheus-client's (``generate_latest``), never ours.
Almost every number is one the server keeps anyway as a plain int, read only
when ``/metrics`` is scraped, by a custom collector (:class:`ChatCollector`):

- the hub's counters (:class:`~tcpchat.server.local_hub.LocalHub`: messages,
  deliveries, bytes out, members dropped for a full send queue), which its
  fan-out adds to once per room per pass, never once per delivery, and never
  through a metric object's ``inc()`` (which takes a lock);
- the connections open by front door, the members and rooms, the lines flood
  control held back (each peer's ``flood_delays``);
- the searches started, failed and in flight (:class:`CountedSearch`);
- the history store's backlog (records waiting for the store's thread).

Three things are distributions, observed where they happen, which is rarely:
a search's answer latency (once per answer), a history write batch's latency
(at most every 100 ms) and the event loop's lag, measured by
:class:`LoopLagTimer` every :data:`LOOP_LAG_INTERVAL` seconds as the lateness
of a ``call_later``. A cluster node's figures (its lag behind Redis, whether
it reaches Redis, its outages, what waits to be sent) are read from its hub,
``backplane``.

Everything is registered in the server's own :class:`CollectorRegistry`, never
prometheus-client's global one, so that two servers in one process (tests) have
their own numbers. The module, and prometheus-client with it, is imported only
when ``--http-port`` is set.
"""

from __future__ import annotations

import asyncio
import hmac
import http
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from websockets.http11 import Request, Response

from tcpchat.core.conversation import SearchService
from tcpchat.server.history import RoomHistory
from tcpchat.server.http import Handler, respond, respond_text
from tcpchat.server.listener import DoorSession
from tcpchat.server.local_hub import LocalHub

log = logging.getLogger("tcpchat.server")

#: Where Prometheus scrapes.
METRICS_PATH = "/metrics"
#: Seconds between two measures of the event loop's lag.
LOOP_LAG_INTERVAL = 0.5
#: The front doors, always exported (at 0 when a door is off), so that a dashboard
#: never sees a series appear and vanish.
FRONT_DOORS = ("line", "irc", "web")

#: Event-loop lag, in seconds: a healthy loop answers within a millisecond or two;
#: past 0.1 s every member feels it.
LOOP_LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: A search's answer, from asking to the whole answer (the API's time, mostly).
SEARCH_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)
#: One history write batch, handed to the store's thread and committed.
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@runtime_checkable
class CountedSearch(Protocol):
    """A search service that counts what it does (``ai/search.py``'s ``Search`` does)."""

    started: int
    failed: int
    on_answered: Callable[[float], None] | None

    @property
    def in_flight(self) -> int: ...


class Backplane(Protocol):
    """What the metrics read from a cluster node's hub (``server/redis_hub.py``)."""

    def lag(self) -> float:
        """Seconds the oldest of the node's room events on its way has waited for Redis."""

    def not_ready(self) -> str | None:
        """Why the node cannot serve (Redis is away), or None."""

    @property
    def outages(self) -> int:
        """Times the node lost Redis and came back."""

    @property
    def waiting_operations(self) -> int:
        """Operations waiting to be sent to Redis (at most MAX_OUTBOX)."""

    @property
    def scripts_unanswered(self) -> int:
        """Append scripts sent to Redis and not yet answered."""

    @property
    def skipped_notices(self) -> int:
        """Times the node fell so far behind a room that Redis had dropped events."""

    @property
    def remote_users(self) -> int:
        """Users on the other nodes, as this node mirrors them."""


class Observed(Protocol):
    """What the metrics read from the server (:class:`~tcpchat.server.chat.ChatServer`)."""

    @property
    def hub(self) -> LocalHub: ...

    @property
    def search(self) -> SearchService | None: ...

    @property
    def history(self) -> RoomHistory | None: ...

    @property
    def open_connections(self) -> Mapping[str, int]:
        """Connections open now, by front door name."""

    @property
    def received_bytes(self) -> int:
        """Bytes read from all clients so far."""

    @property
    def flood_delays_ended(self) -> int:
        """Lines flood control held back, of the connections that have ended."""

    @property
    def backplane(self) -> Backplane | None:
        """The cluster node's hub (None: a server of its own)."""

    def sessions(self) -> Sequence[DoorSession]:
        """The sessions of the connections open now."""


class ChatCollector(Collector):
    """The server's plain counters, read when ``/metrics`` is scraped."""

    def __init__(self, server: Observed) -> None:
        self._server = server

    def collect(self) -> Iterator[Metric]:
        server = self._server
        hub = server.hub
        connections = GaugeMetricFamily(
            "tcpchat_connections", "Connections open now, by front door", labels=["door"]
        )
        for door in sorted({*FRONT_DOORS, *server.open_connections}):
            connections.add_metric([door], server.open_connections.get(door, 0))
        yield connections
        yield GaugeMetricFamily("tcpchat_members", "Members (registered nicknames)", len(hub))
        yield GaugeMetricFamily("tcpchat_rooms", "Rooms on the server", len(hub.rooms()))
        yield CounterMetricFamily(
            "tcpchat_messages_received", "Lines and actions said in rooms", hub.messages
        )
        yield CounterMetricFamily(
            "tcpchat_received_bytes", "Bytes read from clients", server.received_bytes
        )
        yield CounterMetricFamily(
            "tcpchat_deliveries",
            "Writes to members' connections (one per member per pass)",
            hub.writes,
        )
        yield CounterMetricFamily("tcpchat_sent_bytes", "Bytes written to members", hub.bytes_out)
        yield CounterMetricFamily(
            "tcpchat_dropped_full_queue",
            "Members disconnected because their send queue was full",
            hub.dropped_full_queue,
        )
        peers = [session.peer for session in server.sessions()]
        yield CounterMetricFamily(
            "tcpchat_flood_delayed_lines",
            "Input lines flood control held back",
            server.flood_delays_ended + sum(peer.flood_delays for peer in peers),
        )
        yield GaugeMetricFamily(
            "tcpchat_flood_delayed_members",
            "Connections open now that flood control has held back",
            sum(1 for peer in peers if peer.flood_delays),
        )
        search = server.search
        if isinstance(search, CountedSearch):
            yield CounterMetricFamily(
                "tcpchat_searches_started", "Searches and summaries started", search.started
            )
            yield CounterMetricFamily(
                "tcpchat_searches_failed", "Searches and summaries that failed", search.failed
            )
            yield GaugeMetricFamily(
                "tcpchat_searches_in_flight", "Searches being answered now", search.in_flight
            )
        historian = server.history.historian if server.history is not None else None
        if historian is not None:
            yield GaugeMetricFamily(
                "tcpchat_history_pending_records",
                "Records waiting to be written to the history store",
                historian.store.pending,
            )
            yield GaugeMetricFamily(
                "tcpchat_history_available",
                "1 while the history store is written to, 0 while it refuses writes",
                int(historian.available),
            )
        backplane = server.backplane
        if backplane is not None:
            yield GaugeMetricFamily(
                "tcpchat_backplane_lag_seconds",
                "How far this node's hub is behind the cluster's backplane",
                backplane.lag(),
            )
            yield GaugeMetricFamily(
                "tcpchat_backplane_up",
                "1 while this node reaches Redis, 0 while the chat is paused",
                int(backplane.not_ready() is None),
            )
            yield CounterMetricFamily(
                "tcpchat_backplane_outages",
                "Times this node lost Redis and came back",
                backplane.outages,
            )
            yield GaugeMetricFamily(
                "tcpchat_backplane_waiting_operations",
                "Room events, presence and the like waiting to be sent to Redis",
                backplane.waiting_operations,
            )
            yield GaugeMetricFamily(
                "tcpchat_backplane_scripts_unanswered",
                "Append scripts sent to Redis and not yet answered",
                backplane.scripts_unanswered,
            )
            yield CounterMetricFamily(
                "tcpchat_backplane_skipped",
                "Times this node fell so far behind a room that Redis had dropped events",
                backplane.skipped_notices,
            )
            yield GaugeMetricFamily(
                "tcpchat_backplane_remote_users",
                "Users on the other nodes of the cluster",
                backplane.remote_users,
            )


class LoopLagTimer:
    """Measures the event loop's lag: how late a ``call_later`` runs, every ``interval`` s.

    A timer that runs late is what every member waits through: a busy loop,
    or a call that blocked it. Observing costs one callback per interval.
    """

    def __init__(self, observe: Callable[[float], None], interval: float) -> None:
        self._observe = observe
        self._interval = interval
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(self._interval, self._tick, loop.time() + self._interval)

    def _tick(self, due: float) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._observe(max(now - due, 0.0))
        self._handle = loop.call_later(self._interval, self._tick, now + self._interval)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class ServerMetrics:
    """One server's metrics: its registry, its histograms, the loop-lag timer, the route.

    ``token``, when set, is what ``/metrics`` asks for as ``Authorization:
    Bearer TOKEN`` (compared in constant time); without it, anyone who reaches
    the HTTP listener may read the metrics (bind it to loopback with
    ``--http-host``: docs/security.md).
    """

    def __init__(
        self, server: Observed, *, token: str = "", loop_lag_interval: float = LOOP_LAG_INTERVAL
    ) -> None:
        self._server = server
        self._token = token.encode()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ChatCollector(server))
        self.loop_lag = Histogram(
            "tcpchat_event_loop_lag_seconds",
            "How late a timer ran on the event loop (measured every 0.5 s)",
            buckets=LOOP_LAG_BUCKETS,
            registry=self.registry,
        )
        self.search_answer = Histogram(
            "tcpchat_search_answer_seconds",
            "Seconds from a search's question to its whole answer",
            buckets=SEARCH_BUCKETS,
            registry=self.registry,
        )
        self.history_batch = Histogram(
            "tcpchat_history_batch_seconds",
            "Seconds to write one batch of history records",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self._timer = LoopLagTimer(self.loop_lag.observe, loop_lag_interval)

    def start(self) -> None:
        """Start measuring the loop's lag, and listen to the search and the history store."""
        self._timer.start()
        search = self._server.search
        if isinstance(search, CountedSearch):
            search.on_answered = self.search_answer.observe
        history = self._server.history
        if history is not None and history.historian is not None:
            history.historian.on_batch = self.history_batch.observe

    def close(self) -> None:
        self._timer.stop()

    def routes(self) -> dict[str, Handler]:
        return {METRICS_PATH: self.respond}

    def respond(self, request: Request) -> Response:
        """The exposition text, or 401 to a request without the token when one is set."""
        if self._token and not self.authorized(request):
            return respond(
                http.HTTPStatus.UNAUTHORIZED,
                b"401 unauthorized: /metrics needs 'Authorization: Bearer TOKEN'\n",
                "text/plain; charset=utf-8",
                {"WWW-Authenticate": 'Bearer realm="tcpchat metrics"'},
            )
        try:
            body = generate_latest(self.registry)
        except Exception:
            # A bug of ours in a collector: log it and answer, rather than end the connection.
            log.exception("could not collect the metrics")
            return respond_text(http.HTTPStatus.INTERNAL_SERVER_ERROR, "metrics failed\n")
        return respond(http.HTTPStatus.OK, body, CONTENT_TYPE_LATEST)

    def authorized(self, request: Request) -> bool:
        """Whether ``request`` carries the token, compared in constant time."""
        given = request.headers.get_all("Authorization")
        if len(given) != 1:
            return False
        scheme, _, credentials = given[0].strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode(), self._token)
