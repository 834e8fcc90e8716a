"""``/healthz`` and ``/readyz``: whether the server is alive, and whether to send it clients.

Both are routes of the HTTP listener (``--http-port``), open to anyone who
reaches it (load balancers and orchestrators ask without credentials), and
both say little: "ok", or which part is not ready.

- ``/healthz`` (liveness) answers 200 ``ok`` whenever it is asked: it is
  answered on the event loop, so an answer means the loop is turning. A
  server that does not answer should be restarted.
- ``/readyz`` (readiness) runs the server's readiness checks: each is a
  function that returns None when its part is ready, or a short reason. The
  server's are :func:`listening` (every listener accepts connections) and
  :func:`history_ready` (the history store takes writes); a cluster node adds
  its Redis connection. Any reason makes it 503 with the reasons in the body,
  one a line: send no new clients here, but do not restart it for that.
"""

from __future__ import annotations

import asyncio
import http
from collections.abc import Callable, Iterable, Mapping, Sequence

from websockets.http11 import Request, Response

from tcpchat.server.history import RoomHistory
from tcpchat.server.http import Handler, respond_text

#: The liveness check's path.
HEALTH_PATH = "/healthz"
#: The readiness check's path.
READY_PATH = "/readyz"

#: A readiness check: None when its part is ready, else the reason it is not.
Check = Callable[[], str | None]

HISTORY_UNAVAILABLE = "history store unavailable: it refuses writes (disk full or locked?)"


def listening(listeners: Mapping[str, asyncio.Server | None]) -> str | None:
    """None if every listener (by its front door's name; None: never started) accepts
    connections, else which do not."""
    closed = [
        name
        for name, listener in listeners.items()
        if listener is None or not listener.is_serving()
    ]
    if not closed:
        return None
    return f"not listening for {', '.join(closed)} connections"


def history_ready(history: RoomHistory | None) -> str | None:
    """None if history is off or its store takes writes, else why not."""
    if history is None:
        return None
    historian = history.historian
    if historian is None:
        return "history store not open"
    return None if historian.available else HISTORY_UNAVAILABLE


def not_ready(checks: Iterable[Check]) -> list[str]:
    """The reasons the server is not ready: none when every check passes."""
    return [reason for check in checks if (reason := check()) is not None]


def health_routes(checks: Sequence[Check]) -> dict[str, Handler]:
    """``/healthz`` and ``/readyz``, the latter running ``checks`` (a list the server
    may add to: a cluster node adds its Redis connection's)."""

    def alive(request: Request) -> Response:
        return respond_text(http.HTTPStatus.OK, "ok\n")

    def ready(request: Request) -> Response:
        reasons = not_ready(checks)
        if reasons:
            body = "".join(f"not ready: {reason}\n" for reason in reasons)
            return respond_text(http.HTTPStatus.SERVICE_UNAVAILABLE, body)
        return respond_text(http.HTTPStatus.OK, "ready\n")

    return {HEALTH_PATH: alive, READY_PATH: ready}
