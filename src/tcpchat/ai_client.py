"""The edge between tcpchat and the ``openai`` package.

:class:`AIClient` owns the server's one :class:`openai.AsyncOpenAI` client,
created on first use and closed by :meth:`AIClient.aclose`. :meth:`AIClient.stream`
asks a question through the Responses API (with the ``web_search`` tool) or Chat
Completions, and yields what streams back as plain values of our own: text
pieces, citations and the end of the answer. Every ``openai`` exception is
translated here into a :class:`~tcpchat.errors.SearchError` with short words for
the user; its raw text, which may quote the API key, goes nowhere.
"""

from __future__ import annotations

import asyncio
import logging
import typing
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import openai
import pydantic
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam
from openai.types.responses import (
    EasyInputMessageParam,
    Response,
    ResponseStreamEvent,
    ToolParam,
)

from tcpchat.answers import SYSTEM_INSTRUCTIONS, Citation
from tcpchat.config import SearchSettings
from tcpchat.errors import SearchError

log = logging.getLogger("tcpchat.search")

AUTH_FAILED = "the AI service refused this server's API key; tell whoever runs the server"
RATE_LIMITED = "the AI service is rate-limiting this server; try again in a minute"
TIMED_OUT = "the AI took too long to answer; try again later"
UNREACHABLE = "cannot reach the AI service right now; try again later"
SERVER_ERROR = "the AI service had an internal error; try again later"
NOT_FOUND = (
    "the AI service does not offer the model or API this server uses; tell whoever runs the server"
)
REJECTED = "the AI service rejected this question"
FAILED = "the AI service could not answer; try again later"


@dataclass(frozen=True, slots=True)
class TextPiece:
    """More answer text, as the model wrote it (unsanitised)."""

    text: str


@dataclass(frozen=True, slots=True)
class AnswerEnd:
    """The answer is complete: its whole text (if the API gave it) and its citations."""

    text: str | None
    citations: tuple[Citation, ...]
    incomplete: bool = False


StreamItem = TextPiece | Citation | AnswerEnd


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
        )
        _build_models(self.settings.api)
        return client

    async def aclose(self) -> None:
        """Close the client and its connections; a later search would open a new one."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def stream(self, messages: Sequence[str]) -> AsyncGenerator[StreamItem, None]:
        """Ask with ``messages`` (user messages, the question last); yield the answer.

        Raises :class:`SearchError` for anything the API or the network did wrong.
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
            async for event in stream:
                match event.type:
                    case "response.output_text.delta":
                        yield TextPiece(event.delta)
                    case "response.output_text.annotation.added":
                        citation = _citation(event.annotation)
                        if citation is not None:
                            yield citation
                    case "response.completed" | "response.incomplete":
                        # No early return: reading the stream to its end lets the SDK
                        # finish its own iterator instead of leaving it to the GC.
                        yield _answer_end(event.response, event.type == "response.incomplete")
                    case "response.failed" | "error":
                        log.warning("AI response failed: %s", event.type)
                        raise SearchError(FAILED)

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
        incomplete = False
        async with stream:
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta.content:
                        yield TextPiece(choice.delta.content)
                    if choice.finish_reason == "length":
                        incomplete = True
        yield AnswerEnd(None, (), incomplete)


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
    """A :class:`Citation` from a ``url_citation`` annotation (object or dict), else None."""
    if isinstance(annotation, dict):
        get = annotation.get
    else:

        def get(name: str, default: Any = None) -> Any:
            return getattr(annotation, name, default)

    if get("type") != "url_citation" or not isinstance(get("url"), str):
        return None
    start, end = get("start_index", -1), get("end_index", -1)
    return Citation(
        url=str(get("url")),
        title=str(get("title", "") or ""),
        start=start if isinstance(start, int) else -1,
        end=end if isinstance(end, int) else -1,
    )


def _answer_end(response: Response, incomplete: bool) -> AnswerEnd:
    """The whole text and every ``url_citation`` of a completed response."""
    citations: list[Citation] = []
    offset = 0
    for item in response.output:
        if item.type != "message":
            continue
        for content in item.content:
            if content.type != "output_text":
                continue
            for annotation in content.annotations:
                citation = _citation(annotation)
                if citation is not None and offset:
                    # Indices count within one text part; shift them into the joined text.
                    citation = Citation(
                        citation.url,
                        citation.title,
                        citation.start + offset,
                        citation.end + offset,
                    )
                if citation is not None:
                    citations.append(citation)
            offset += len(content.text or "")
    return AnswerEnd(response.output_text or None, tuple(citations), incomplete)
