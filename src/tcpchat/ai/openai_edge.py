"""The edge between tcpchat and the ``openai`` package.

:class:`AIClient` owns the server's one :class:`openai.AsyncOpenAI` client,
created on first use and closed by :meth:`AIClient.aclose`. :meth:`AIClient.stream`
asks a question through the Responses API (with the ``web_search`` tool) or Chat
Completions, and yields what streams back as plain values of our own
(:data:`~tcpchat.ai.answers.StreamItem`): text pieces, citations and the end of
the answer. Every ``openai`` exception is
translated here into a :class:`~tcpchat.core.errors.SearchError` with short words for
the user; its raw text, which may quote the API key, goes nowhere.

Importing this module imports ``openai``, ``httpx2`` and ``pydantic``: about half
a second of CPU and 25 MB. The server does it on the first ``/search``, in a
worker thread (:func:`tcpchat.ai.search.load_ai_client`), never at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import typing
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any, TypeVar

import httpx2
import openai
import pydantic
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam
from openai.types.responses import (
    EasyInputMessageParam,
    ResponseStreamEvent,
    ToolParam,
)

from tcpchat.ai.answers import (
    MAX_CITATIONS,
    MAX_URL_CHARS,
    SYSTEM_INSTRUCTIONS,
    TIMED_OUT,
    AnswerEnd,
    Citation,
    StreamItem,
    TextPiece,
)
from tcpchat.config import SearchSettings
from tcpchat.core.errors import SearchError, TcpchatError

log = logging.getLogger("tcpchat.search")

AUTH_FAILED = "the AI service refused this server's API key; tell whoever runs the server"
RATE_LIMITED = "the AI service is rate-limiting this server; try again in a minute"
UNREACHABLE = "cannot reach the AI service right now; try again later"
SERVER_ERROR = "the AI service had an internal error; try again later"
NOT_FOUND = (
    "the AI service does not offer the model or API this server uses; tell whoever runs the server"
)
REJECTED = "the AI service rejected this question"
FAILED = "the AI service could not answer; try again later"
INTERRUPTED = "the AI's answer was cut off before its end; try again later"
MALFORMED = "the AI service sent an answer tcpchat cannot read; try again later"
FILTERED = "the AI service withheld its answer (content filter)"

#: The most bytes read of one API response is this many per character of
#: ``--ai-max-answer-chars``, and never less than :data:`MIN_STREAM_BYTES`. A
#: full-length answer streamed by the Responses API, one event per token, takes
#: about 60 bytes per character; past the limit the stream is abandoned.
STREAM_BYTES_PER_ANSWER_CHAR = 256
MIN_STREAM_BYTES = 1 << 20

_Event = TypeVar("_Event")


def translate(exc: openai.OpenAIError) -> SearchError:
    """The user-facing :class:`SearchError` for an ``openai`` exception."""
    match exc:
        case openai.APITimeoutError():
            return SearchError(TIMED_OUT)
        case openai.APIConnectionError():
            return SearchError(UNREACHABLE)
        case openai.AuthenticationError() | openai.PermissionDeniedError():
            return SearchError(AUTH_FAILED)
        case openai.RateLimitError():
            return SearchError(RATE_LIMITED)
        case openai.NotFoundError():
            return SearchError(NOT_FOUND)
        case openai.InternalServerError():
            return SearchError(SERVER_ERROR)
        case openai.BadRequestError() | openai.UnprocessableEntityError():
            return SearchError(REJECTED)
    return SearchError(FAILED)


def describe(exc: openai.OpenAIError) -> str:
    """A log-safe description: the exception's class and HTTP status, never its text."""
    status = getattr(exc, "status_code", None)
    request_id = getattr(exc, "request_id", None)
    parts = [type(exc).__name__]
    if status is not None:
        parts.append(f"HTTP {status}")
    if isinstance(request_id, str) and request_id.isprintable() and len(request_id) < 100:
        parts.append(f"request {request_id}")
    return ", ".join(parts)


class AIClient:
    """One server's connection to an OpenAI-compatible API."""

    def __init__(self, settings: SearchSettings) -> None:
        self.settings = settings
        self._client: openai.AsyncOpenAI | None = None
        self._creating = asyncio.Lock()

    @property
    def started(self) -> bool:
        """Whether the underlying client was created (by a first search)."""
        return self._client is not None

    async def _get_client(self) -> openai.AsyncOpenAI:
        """The client, made on first use in a worker thread (see :meth:`_build_client`)."""
        async with self._creating:
            if self._client is None:
                self._client = await asyncio.to_thread(self._build_client)
        return self._client

    def _build_client(self) -> openai.AsyncOpenAI:
        """Create the client and build the SDK models it will parse, off the event loop.

        openai's models build their pydantic schemas on first use: a few tenths of
        a second of CPU that, on the event loop, would freeze every chat on the
        server during the first search.
        """
        client = openai.AsyncOpenAI(
            api_key=self.settings.api_key,
            base_url=self.settings.base_url or None,
            timeout=self.settings.timeout,
            max_retries=self.settings.max_retries,
            # Uncompressed, so that the byte limit counts what is parsed (a compressed
            # body could hold a thousand times more).
            default_headers={"Accept-Encoding": "identity"},
            http_client=openai.DefaultAsyncHttpxClient(
                event_hooks={"response": [self._limit_response]}
            ),
        )
        # The SDK imports an API's module when the client first reaches for it:
        # reach for it here, so that this import too stays off the event loop.
        _ = client.chat.completions if self.settings.api == "chat" else client.responses
        _build_models(self.settings.api)
        return client

    async def aclose(self) -> None:
        """Close the client and its connections; a later search would open a new one."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def stream(self, messages: Sequence[str]) -> AsyncGenerator[StreamItem, None]:
        """Ask with ``messages`` (user messages, the question last); yield the answer.

        The last item is always an :class:`AnswerEnd`: the API said the answer is
        complete (or cut at the model's output limit), or the stream went past
        :func:`stream_byte_limit`. Anything else (a stream that stops early, an
        error event, output of the wrong shape) raises :class:`SearchError`, as
        does anything the API or the network did wrong.
        """
        try:
            if self.settings.api == "chat":
                async for item in self._stream_chat(messages):
                    yield item
            else:
                async for item in self._stream_responses(messages):
                    yield item
        except openai.OpenAIError as exc:
            log.warning("AI request failed: %s", describe(exc))
            raise translate(exc) from None
        except _StreamTooLarge:
            log.warning("AI answer abandoned: over %d bytes", self._stream_limit)
            yield AnswerEnd(None, (), oversized=True)

    async def _stream_responses(self, messages: Sequence[str]) -> AsyncIterator[StreamItem]:
        client = await self._get_client()
        tools: list[ToolParam] = [{"type": "web_search"}] if self.settings.web_search else []
        stream = await client.responses.create(
            model=self.settings.model,
            instructions=SYSTEM_INSTRUCTIONS,
            input=[EasyInputMessageParam(role="user", content=text) for text in messages],
            tools=tools,
            max_output_tokens=self.settings.max_output_tokens,
            store=False,
            stream=True,
        )
        async with stream:
            async for event in _checked(stream):
                kind = getattr(event, "type", None)
                if not isinstance(kind, str):
                    raise _malformed("an event without a type")
                match kind:
                    case "response.output_text.delta":
                        yield TextPiece(_text_field(event, "delta", kind))
                    case "response.output_text.annotation.added":
                        citation = _citation(getattr(event, "annotation", None))
                        if citation is not None:
                            yield citation
                    case "response.completed":
                        yield _answer_end(getattr(event, "response", None), incomplete=False)
                        return
                    case "response.incomplete":
                        response = getattr(event, "response", None)
                        details = getattr(response, "incomplete_details", None)
                        reason = getattr(details, "reason", None)
                        if reason != "max_output_tokens":
                            log.warning("AI response incomplete: %s", _safe_word(reason))
                            raise SearchError(FILTERED if reason == "content_filter" else FAILED)
                        yield _answer_end(response, incomplete=True)
                        return
                    case "response.failed" | "error":
                        log.warning("AI response failed: %s", kind)
                        raise SearchError(FAILED)
        log.warning("AI stream ended without response.completed")
        raise SearchError(INTERRUPTED)

    async def _stream_chat(self, messages: Sequence[str]) -> AsyncIterator[StreamItem]:
        client = await self._get_client()
        chat: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": SYSTEM_INSTRUCTIONS}
        ]
        chat += [{"role": "user", "content": text} for text in messages]
        stream = await client.chat.completions.create(
            model=self.settings.model,
            messages=chat,
            # max_tokens rather than max_completion_tokens: the local servers this
            # mode is for (Ollama, llama.cpp, vLLM, LM Studio) all understand it.
            max_tokens=self.settings.max_output_tokens,
            stream=True,
        )
        finish_reason: str | None = None
        async with stream:
            async for chunk in _checked(stream):
                choices = getattr(chunk, "choices", None)
                if not isinstance(choices, list):
                    raise _malformed("a chunk without a choices list")
                # We ask for one answer (n=1): a server sending more is not obeyed.
                for choice in choices[:1]:
                    content = getattr(getattr(choice, "delta", None), "content", None)
                    if content is not None:
                        if not isinstance(content, str):
                            raise _malformed(f"delta.content of type {type(content).__name__}")
                        if content:
                            yield TextPiece(content)
                    reason = getattr(choice, "finish_reason", None)
                    if reason is not None:
                        if not isinstance(reason, str):
                            raise _malformed(f"finish_reason of type {type(reason).__name__}")
                        finish_reason = reason
        if finish_reason is None:
            log.warning("AI stream ended without a finish_reason")
            raise SearchError(INTERRUPTED)
        if finish_reason == "content_filter":
            log.warning("AI answer withheld: finish_reason content_filter")
            raise SearchError(FILTERED)
        yield AnswerEnd(None, (), incomplete=finish_reason == "length")

    @property
    def _stream_limit(self) -> int:
        return stream_byte_limit(self.settings.max_answer_chars)

    async def _limit_response(self, response: httpx2.Response) -> None:
        """httpx response hook: read at most :func:`stream_byte_limit` bytes of any body."""
        response.stream = _LimitedStream(response.stream, self._stream_limit)


class _StreamTooLarge(TcpchatError):
    """A response body went past :func:`stream_byte_limit`; the stream was abandoned."""


class _LimitedStream(httpx2.AsyncByteStream):
    """A response body that raises :class:`_StreamTooLarge` past ``limit`` bytes.

    openai's event-stream decoder keeps a whole event in memory before parsing it,
    with no size limit of its own: this bounds that, and the JSON work on the event
    loop, whatever one event or the whole stream claims to hold.
    """

    def __init__(self, inner: Any, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in self._inner:
            received += len(chunk)
            if received > self._limit:
                raise _StreamTooLarge
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _checked(stream: AsyncIterator[_Event]) -> AsyncIterator[_Event]:
    """The stream's events, with output openai could not parse reported as malformed.

    Only the SDK's own step is guarded: invalid JSON, bytes that are not UTF-8 and
    pydantic's errors are all ``ValueError``; an error in tcpchat's code is not
    caught here.
    """
    iterator = aiter(stream)
    while True:
        try:
            event = await anext(iterator)
        except StopAsyncIteration:
            return
        except ValueError as exc:
            raise _malformed(f"an event openai could not parse ({type(exc).__name__})") from None
        yield event


def _malformed(what: str) -> SearchError:
    """The error for output of the wrong shape; logs ``what`` (never the output itself)."""
    log.warning("AI service sent malformed output: %s", what)
    return SearchError(MALFORMED)


def _text_field(event: object, name: str, kind: str) -> str:
    """``event.name``, which must be a string."""
    value = getattr(event, name, None)
    if not isinstance(value, str):
        raise _malformed(f"{kind} whose {name} is {type(value).__name__}")
    return value


def _safe_word(value: object) -> str:
    """``value`` for a log line if it is a short plain word, else its type."""
    if isinstance(value, str) and len(value) <= 40 and value.isascii() and value.isprintable():
        return value
    return type(value).__name__


def stream_byte_limit(max_answer_chars: int) -> int:
    """The most bytes read of one API response, for answers of ``max_answer_chars``."""
    return max(MIN_STREAM_BYTES, STREAM_BYTES_PER_ANSWER_CHAR * max_answer_chars)


def _build_models(api: str) -> list[type[pydantic.BaseModel]]:
    """Build the SDK models a stream of ``api`` is parsed into, nested ones included.

    Returns them. Each is built (``model_rebuild``) as it is found, which also
    resolves its fields' annotations so that they can be walked in turn.
    """
    if api == "chat":
        roots: list[Any] = [ChatCompletionChunk]
    else:
        roots = [ResponseStreamEvent]
    found: list[type[pydantic.BaseModel]] = []
    pending = roots
    while pending:
        annotation = pending.pop()
        if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
            if annotation in found:
                continue
            found.append(annotation)
            annotation.model_rebuild()
            pending.extend(field.annotation for field in annotation.model_fields.values())
        else:
            pending.extend(typing.get_args(annotation))
    return found


def _citation(annotation: Any) -> Citation | None:
    """A :class:`Citation` from a ``url_citation`` annotation (object or dict), else None.

    An annotation of another type, or whose URL is not a string, is skipped; a URL
    too long to list is dropped here, before anything else looks at it.
    """
    if isinstance(annotation, dict):
        get = annotation.get
    else:

        def get(name: str, default: Any = None) -> Any:
            return getattr(annotation, name, default)

    url = get("url")
    if get("type") != "url_citation" or not isinstance(url, str) or len(url) > MAX_URL_CHARS:
        return None
    start, end = get("start_index", -1), get("end_index", -1)
    return Citation(
        url=url,
        start=start if type(start) is int else -1,
        end=end if type(end) is int else -1,
    )


def _answer_end(response: object, *, incomplete: bool) -> AnswerEnd:
    """The whole text and the ``url_citation`` annotations of a finished response.

    Walks the response defensively: openai builds it without validation, so any
    field may hold anything. At most :data:`MAX_CITATIONS` annotations are kept.
    """
    output = getattr(response, "output", None)
    if not isinstance(output, list):
        raise _malformed("a finished response without an output list")
    texts: list[str] = []
    citations: list[Citation] = []
    offset = 0
    for item in output:
        if getattr(item, "type", None) != "message":
            continue
        contents = getattr(item, "content", None)
        if not isinstance(contents, list):
            raise _malformed("a message without a content list")
        for content in contents:
            if getattr(content, "type", None) != "output_text":
                continue
            text = _text_field(content, "text", "output_text")
            annotations = getattr(content, "annotations", None) or []
            if not isinstance(annotations, list):
                raise _malformed("output_text whose annotations are not a list")
            for annotation in annotations[: MAX_CITATIONS - len(citations)]:
                citation = _citation(annotation)
                if citation is None:
                    continue
                if citation.start >= 0 and citation.end >= 0:
                    # Indices count within one text part; shift them into the joined text.
                    start, end = citation.start + offset, citation.end + offset
                    citation = Citation(citation.url, start=start, end=end)
                citations.append(citation)
            texts.append(text)
            offset += len(text)
    return AnswerEnd("".join(texts) or None, tuple(citations), incomplete=incomplete)
