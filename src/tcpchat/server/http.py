"""The HTTP side of the web front door: a table of routes, and the answers it gives.

The HTTP listener (``--http-port``) answers one GET request per connection
(``Connection: close``): the web client's page and files, or the WebSocket
handshake at ``/ws`` (:mod:`tcpchat.server.web`). A route is a path and a
function from the request to a response, so that more of them (``/metrics``,
``/healthz``) are one line each in :func:`page_routes`' caller. Requests and
responses are websockets' (:mod:`websockets.http11`), which parses the request
under its own size limits.

Every response carries the same security headers: a Content-Security-Policy
that allows nothing but this origin (no inline script or style, no other
host, no framing), ``nosniff``, and no referrer.
"""

from __future__ import annotations

import email.utils
import http
from collections.abc import Callable, Mapping
from importlib import resources
from importlib.resources.abc import Traversable

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

#: What a page of ours may load: itself, and nothing else. ``connect-src 'self'``
#: covers ws: and wss: on the same host and port.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    # The files are small and change with the server: always ask, never go stale.
    ("Cache-Control", "no-cache"),
)

#: The content types of the files the page is made of, by suffix.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

#: Where the web client's files are shipped: package data of tcpchat.
STATIC_FOLDER = ("web", "static")
#: The page served at ``/``; the other files are served at ``/static/NAME``.
INDEX = "index.html"

Handler = Callable[[Request], Response]


def respond(
    status: http.HTTPStatus,
    body: bytes,
    content_type: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A complete response with the security headers, ready to send."""
    all_headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
            *SECURITY_HEADERS,
        ]
    )
    for name, value in (headers or {}).items():
        if name in all_headers:
            del all_headers[name]
        all_headers[name] = value
    return Response(status.value, status.phrase, all_headers, body)


def respond_text(status: http.HTTPStatus, text: str) -> Response:
    """A short plain-text answer (an error, a refusal)."""
    return respond(status, text.encode(), "text/plain; charset=utf-8")


def request_path(request: Request) -> str:
    """The request's path without its query string."""
    return request.path.partition("?")[0]


class Routes:
    """The routes of the HTTP listener: an exact path to the function that answers it."""

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self._handlers = dict(handlers)

    def __contains__(self, path: str) -> bool:
        return path in self._handlers

    def respond(self, request: Request) -> Response:
        """The answer to ``request``: its route's, or 404."""
        handler = self._handlers.get(request_path(request))
        if handler is None:
            return respond_text(http.HTTPStatus.NOT_FOUND, "not found\n")
        return handler(request)


def static_folder() -> Traversable:
    """The folder of the web client's files, inside the installed package."""
    folder = resources.files("tcpchat")
    for part in STATIC_FOLDER:
        folder = folder / part
    return folder


def page_routes(folder: Traversable | None = None) -> dict[str, Handler]:
    """The web client: its page at ``/`` and each of its files at ``/static/NAME``.

    The files are read once, here (a few tens of KiB), so a request never
    touches the disk and a file can never be named by the request.
    """
    folder = folder or static_folder()
    routes: dict[str, Handler] = {}
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        suffix = "." + entry.name.rpartition(".")[2]
        if not entry.is_file() or suffix not in CONTENT_TYPES:
            continue
        handler = _serve(entry.read_bytes(), CONTENT_TYPES[suffix])
        routes["/static/" + entry.name] = handler
        if entry.name == INDEX:
            routes["/"] = handler
    return routes


def _serve(body: bytes, content_type: str) -> Handler:
    def handler(request: Request) -> Response:
        return respond(http.HTTPStatus.OK, body, content_type)

    return handler
