"""The fake OpenAI server itself, checked against the real ``openai`` client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from tests.support.fake_openai import FakeOpenAI, Script


@pytest.fixture
async def api(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[FakeOpenAI, openai.AsyncOpenAI]]:
    """The fake, and a real client pointed at it; both closed after the test."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with (
        FakeOpenAI() as fake,
        openai.AsyncOpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0) as client,
    ):
        yield fake, client


async def test_responses_not_streamed(api: tuple[FakeOpenAI, openai.AsyncOpenAI]) -> None:
    """A plain Responses call returns the script's text and its url_citation annotations."""
    fake, client = api
    text = "See ([docs](https://docs.example/))."
    fake.queue(Script(text=text, sources=[("https://docs.example/", "docs")]))
    response = await client.responses.create(model="m", input="q")
    assert response.output_text == text
    message = response.output[-1]
    assert message.type == "message"
    content = message.content[0]
    assert content.type == "output_text"
    annotation = content.annotations[0]
    assert annotation.type == "url_citation"
    assert text[annotation.start_index : annotation.end_index] == "([docs](https://docs.example/))"


async def test_responses_streamed_in_the_documented_order(
    api: tuple[FakeOpenAI, openai.AsyncOpenAI],
) -> None:
    """The event stream follows the Responses API's order, with increasing sequence numbers."""
    fake, client = api
    fake.queue(Script(text="a b", sources=[("https://x.example/", "x")]))
    stream = await client.responses.create(model="m", input="q", stream=True)
    async with stream:
        events = [event async for event in stream]
    assert [event.type for event in events] == [
        "response.created",
        "response.output_item.added",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.annotation.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    numbers = [event.sequence_number for event in events]
    assert numbers == sorted(numbers)


async def test_chat_completions_streamed_and_not(
    api: tuple[FakeOpenAI, openai.AsyncOpenAI],
) -> None:
    """Chat Completions answers whole, or in chunks ending with finish_reason "stop"."""
    fake, client = api
    fake.default = Script(text="hi there")
    completion = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "q"}]
    )
    assert completion.choices[0].message.content == "hi there"
    stream = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "q"}], stream=True
    )
    async with stream:
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "hi there"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len(fake.requests) == 2


async def test_unknown_routes_are_404(api: tuple[FakeOpenAI, openai.AsyncOpenAI]) -> None:
    """A path the fake does not serve answers 404, as a real server would."""
    _, client = api
    with pytest.raises(openai.NotFoundError):
        await client.embeddings.create(model="m", input="q")
