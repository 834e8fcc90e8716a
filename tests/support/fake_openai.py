"""An OpenAI-compatible HTTP/1.1 server on 127.0.0.1, for tests that must not reach the internet.

:class:`FakeOpenAI` serves ``POST /v1/responses`` and ``POST /v1/chat/completions``,
streamed (server-sent events, chunked) and not, in the shapes the real API uses,
so that the real ``openai`` client sends real HTTP and parses real events.
Each request is answered by the next queued :class:`Script` (or the default
one), which can inject an HTTP error, hold the answer until a test releases
it, delay it, or cut the connection. The fake records every request and
notices when a client goes away while it holds an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import struct
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_denied",
    404: "not_found",
    429: "rate_limit_exceeded",
    500: "server_error",
    503: "server_error",
}
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    411: "Length Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class Script:
    """How the fake answers one request.

    * ``text``: the answer, sent in ``pieces`` (default: word by word).
    * ``sources``: ``(url, title)`` pairs cited; a Markdown link ``([title](url))``
      found in ``text`` becomes the citation's span.
    * ``status``: an HTTP error to send instead (its message quotes the API key, as
      the real API's does, to prove that tcpchat never repeats it).
    * ``hold``: an event the answer waits for after its first events (or before
      any byte, with ``hold_before_headers``); ``delay``: seconds to wait there.
    * ``stop_after``: end the stream after this many pieces, without the API's
      end events, in the way ``stop`` says: ``"reset"`` (a TCP reset), ``"close"``
      (a clean end of the HTTP body, the connection kept) or ``"hang"`` (send
      nothing more until the client goes away).
    * ``outcome``: how the stream ends when it is not stopped. Responses API:
      ``"completed"``, ``"incomplete"`` (with ``incomplete_reason``), ``"failed"``
      or ``"error"``; Chat Completions: the ``finish_reason`` (``"stop"``, ``"length"``…).
    * ``frames``: raw server-sent events to send instead of the script's stream
      (see :func:`sse_data`), for output the real API would never send.
    """

    text: str = "The answer is 42."
    pieces: Sequence[str] | None = None
    sources: Sequence[tuple[str, str]] = ()
    status: int = 200
    hold: asyncio.Event | None = None
    hold_before_headers: bool = False
    delay: float = 0.0
    stop_after: int | None = None
    stop: str = "reset"
    outcome: str = ""
    incomplete_reason: str = "max_output_tokens"
    frames: Sequence[str] | None = None
    web_search: bool = True

    def split(self) -> list[str]:
        if self.pieces is not None:
            return list(self.pieces)
        return re.findall(r"\s*\S+", self.text) or [self.text]

    def annotations(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for url, title in self.sources:
            link = f"([{title}]({url}))"
            start = self.text.find(link)
            end = start + len(link) if start >= 0 else 0
            found.append(
                {
                    "type": "url_citation",
                    "url": url,
                    "title": title,
                    "start_index": max(start, 0),
                    "end_index": end,
                }
            )
        return found


@dataclass
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeOpenAI:
    """The fake server. ``async with FakeOpenAI() as fake:``; point ``base_url`` at it."""

    default: Script = field(default_factory=Script)
    requests: list[RecordedRequest] = field(default_factory=list)
    disconnects: int = 0

    def __post_init__(self) -> None:
        self.scripts: deque[Script] = deque()
        self.holding = asyncio.Event()  # set when an answer waits on its hold
        self.disconnected = asyncio.Event()  # set when a client left a held answer
        self._arrived = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def queue(self, *scripts: Script) -> None:
        """Answer the next requests with ``scripts``, in order."""
        self.scripts.extend(scripts)

    async def wait_for_requests(self, count: int) -> None:
        """Wait until ``count`` requests have arrived."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)

    async def __aenter__(self) -> FakeOpenAI:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        # Cut the connections rather than cancel their tasks: each then ends on its
        # own, through the same path as a client that went away.
        for writer in self._connections.values():
            writer.transport.abort()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()

    # -- HTTP/1.1 ------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while await self._handle_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            # Only now: __aexit__ must wait for this task until its socket is closed.
            del self._connections[task]

    async def _handle_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read and answer one request; return whether the connection stays open."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False  # the client closed an idle keep-alive connection
        request_line, *header_lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        method, target, _version = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" not in headers:
            await self._send_json(writer, 411, {"error": {"message": "length required"}})
            return False
        body_bytes = await reader.readexactly(int(headers["content-length"]))
        body: dict[str, Any] = json.loads(body_bytes) if body_bytes else {}
        async with self._arrived:
            self.requests.append(RecordedRequest(method, target, headers, body))
            self._arrived.notify_all()
        script = self.scripts.popleft() if self.scripts else self.default
        if method != "POST" or target not in ("/v1/responses", "/v1/chat/completions"):
            await self._send_error(writer, 404, f"no route for {method} {target}")
            return True
        if script.hold_before_headers and not await self._pause(reader, script):
            return False
        if script.status != 200:
            key = headers.get("authorization", "").removeprefix("Bearer ")
            await self._send_error(writer, script.status, f"Incorrect API key provided: {key}")
            return True
        model = str(body.get("model", "fake-model"))
        if body.get("stream") and script.frames is not None:
            return await self._stream(reader, writer, script, iter(script.frames))
        if target == "/v1/responses":
            if body.get("stream"):
                return await self._stream(reader, writer, script, _response_frames(script, model))
            await self._send_json(writer, 200, _response_object(script, model, "completed"))
            return True
        if body.get("stream"):
            return await self._stream(reader, writer, script, _chat_frames(script, model))
        await self._send_json(writer, 200, _chat_completion(script, model))
        return True

    async def _stream(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        script: Script,
        frames: Iterator[str | None],
    ) -> bool:
        """Send server-sent events, chunked; ``None`` in ``frames`` marks where to hold."""
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        pieces_sent = 0
        for frame in frames:
            if frame is None:
                if script.stop_after is not None and pieces_sent >= script.stop_after:
                    return await self._stop(reader, writer, script.stop)
                pieces_sent += 1
                continue
            if frame == "HOLD":
                await writer.drain()
                if not script.hold_before_headers and not await self._pause(reader, script):
                    return False
                continue
            data = frame.encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            try:
                await writer.drain()
            except ConnectionError:
                self._note_disconnect()
                return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _stop(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, how: str
    ) -> bool:
        """End a stream early, as ``how`` says; return whether the connection stays open."""
        if how == "close":
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        if how == "hang":
            with contextlib.suppress(ConnectionError):
                await writer.drain()
                while await reader.read(1):
                    pass
            self._note_disconnect()
            return False
        # A reset: with a zero linger time, closing sends RST instead of FIN.
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        return False

    async def _pause(self, reader: asyncio.StreamReader, script: Script) -> bool:
        """Wait for the script's hold or delay; return False if the client went away."""
        if script.hold is None and not script.delay:
            return True
        waits: list[asyncio.Task[Any]] = [asyncio.ensure_future(reader.read(1))]
        if script.hold is not None:
            waits.append(asyncio.ensure_future(script.hold.wait()))
        if script.delay:
            waits.append(asyncio.ensure_future(asyncio.sleep(script.delay)))
        self.holding.set()
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        watch = waits[0]
        if watch in done and (watch.exception() is not None or watch.result() == b""):
            self._note_disconnect()
            return False
        return True

    def _note_disconnect(self) -> None:
        self.disconnects += 1
        self.disconnected.set()

    async def _send_json(self, writer: asyncio.StreamWriter, status: int, document: Any) -> None:
        data = json.dumps(document).encode()
        # A short retry-after keeps a client's retry quick, as a real API may ask.
        retry_after = "retry-after-ms: 10\r\n" if status >= 400 else ""
        writer.write(
            f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(data)}\r\n"
            f"{retry_after}x-request-id: req_fake_{len(self.requests)}\r\n\r\n".encode()
            + data
        )
        await writer.drain()

    async def _send_error(self, writer: asyncio.StreamWriter, status: int, message: str) -> None:
        error_type = ERROR_TYPES.get(status, "server_error")
        document = {"error": {"message": message, "type": error_type, "param": None, "code": None}}
        await self._send_json(writer, status, document)


# -- the Responses API ---------------------------------------------------------------


def _sse(event_type: str, sequence: Iterator[int], **fields: Any) -> str:
    document = {"type": event_type, "sequence_number": next(sequence), **fields}
    return f"event: {event_type}\ndata: {json.dumps(document)}\n\n"


def _message_item(text: str, annotations: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [
            {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}
        ]
        if status == "completed"
        else [],
    }


def _search_item(status: str) -> dict[str, Any]:
    return {
        "id": "ws_fake",
        "type": "web_search_call",
        "status": status,
        "action": {"type": "search", "query": "fake query"},
    }


def _response_object(script: Script, model: str, status: str) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if status in ("completed", "incomplete"):
        if script.web_search:
            output.append(_search_item("completed"))
        output.append(_message_item(script.text, script.annotations(), "completed"))
    return {
        "id": "resp_fake",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": output,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": 1.0,
        "tool_choice": "auto",
        "tools": [{"type": "web_search"}] if script.web_search else [],
        "top_p": 1.0,
        "usage": {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 10,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 20,
        },
    }


def _response_frames(script: Script, model: str) -> Iterator[str | None]:
    """The Responses API's event stream for ``script``: "HOLD" and None are markers."""
    seq = iter(range(1_000_000))
    yield _sse("response.created", seq, response=_response_object(script, model, "in_progress"))
    if script.web_search:
        yield _sse(
            "response.output_item.added", seq, output_index=0, item=_search_item("in_progress")
        )
        for stage in ("in_progress", "searching", "completed"):
            yield _sse(f"response.web_search_call.{stage}", seq, output_index=0, item_id="ws_fake")
        yield _sse("response.output_item.done", seq, output_index=0, item=_search_item("completed"))
    index = 1 if script.web_search else 0
    yield _sse(
        "response.output_item.added",
        seq,
        output_index=index,
        item=_message_item("", [], "in_progress"),
    )
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"output_index": index, "item_id": "msg_fake", "content_index": 0}
    yield _sse("response.content_part.added", seq, part=part, **where)
    yield "HOLD"
    for piece in script.split():
        yield None
        yield _sse("response.output_text.delta", seq, delta=piece, logprobs=[], **where)
    yield None
    for number, annotation in enumerate(script.annotations()):
        yield _sse(
            "response.output_text.annotation.added",
            seq,
            annotation_index=number,
            annotation=annotation,
            **where,
        )
    yield _sse("response.output_text.done", seq, text=script.text, logprobs=[], **where)
    done_part = {**part, "text": script.text, "annotations": script.annotations()}
    yield _sse("response.content_part.done", seq, part=done_part, **where)
    item = _message_item(script.text, script.annotations(), "completed")
    yield _sse("response.output_item.done", seq, output_index=index, item=item)
    outcome = script.outcome or "completed"
    if outcome == "error":
        yield _sse("error", seq, code="server_error", message="The model failed.", param=None)
        return
    response = _response_object(script, model, outcome)
    if outcome == "incomplete":
        response["incomplete_details"] = {"reason": script.incomplete_reason}
    if outcome == "failed":
        response["error"] = {"code": "server_error", "message": "The model failed."}
    yield _sse(f"response.{outcome}", seq, response=response)


# -- Chat Completions ----------------------------------------------------------------


def _chat_chunk(model: str, delta: dict[str, Any], finish_reason: str | None) -> str:
    document = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return f"data: {json.dumps(document)}\n\n"


def _chat_frames(script: Script, model: str) -> Iterator[str | None]:
    yield _chat_chunk(model, {"role": "assistant", "content": ""}, None)
    yield "HOLD"
    for piece in script.split():
        yield None
        yield _chat_chunk(model, {"content": piece}, None)
    yield None
    yield _chat_chunk(model, {}, script.outcome or "stop")
    yield "data: [DONE]\n\n"


def sse_data(document: Any, event: str | None = None) -> str:
    """One server-sent event whose data is ``document`` as JSON (a ``str`` is sent as is)."""
    data = document if isinstance(document, str) else json.dumps(document)
    return (f"event: {event}\n" if event else "") + f"data: {data}\n\n"


def _chat_completion(script: Script, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": script.text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }
