"""The official anthropic SDK, unmodified but for base_url and key, against the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from anthropic import AsyncAnthropic

from hybridllm.mock import MockUpstream

from .conftest import Running

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
async def client(gateway: Running) -> AsyncIterator[AsyncAnthropic]:
    async with AsyncAnthropic(base_url=gateway.url, api_key="unused", max_retries=0) as c:
        yield c


async def test_messages_create_is_answered_through_the_routed_deployment(
    client: AsyncAnthropic, gateway: Running, mock: MockUpstream
) -> None:
    raw = await client.messages.with_raw_response.create(
        model="auto",
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello from the Anthropic SDK"}],
    )
    message = await raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text"
    assert message.content[0].text.startswith(
        "Mock answer from gpt-4o-mini: Hello from the Anthropic SDK"
    )
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 12
    assert raw.headers["x-hybridllm-deployment"] == "primary"
    (row,) = gateway.rows()
    assert row.request_id == raw.headers["x-request-id"]
    assert row.completion_tokens == message.usage.output_tokens
    # The system prompt reached the upstream as a system message of its wire.
    (record,) = mock.records_for("primary")
    assert record.body["messages"][0] == {"role": "system", "content": "Be brief."}


async def test_messages_create_through_an_anthropic_upstream(
    client: AsyncAnthropic, gateway: Running
) -> None:
    message = await client.messages.create(
        model="auto",
        max_tokens=100,
        messages=[{"role": "user", "content": "Write a python function"}],
    )
    assert message.content[0].type == "text"
    assert message.content[0].text.startswith("Mock answer from claude-sonnet-4-5")
    assert gateway.rows()[0].deployment == "claude"


async def test_messages_stream_yields_text_and_a_final_message(
    client: AsyncAnthropic, gateway: Running
) -> None:
    async with client.messages.stream(
        model="auto",
        max_tokens=100,
        messages=[{"role": "user", "content": "Stream to me"}],
    ) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    text = "".join(pieces)
    assert text.startswith("Mock answer from gpt-4o-mini: Stream to me")
    assert final.content[0].type == "text" and final.content[0].text == text
    assert final.stop_reason == "end_turn"
    (row,) = gateway.rows()
    assert (row.status, row.streamed) == ("ok", True)
    assert final.usage.output_tokens == row.completion_tokens
    assert final.usage.input_tokens == row.prompt_tokens


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_tool_use_round_trip(client: AsyncAnthropic, stream: bool) -> None:
    messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Rome?"}]
    if stream:
        async with client.messages.stream(
            model="claude", max_tokens=100, messages=messages, tools=[WEATHER_TOOL]
        ) as s:
            first = await s.get_final_message()
    else:
        first = await client.messages.create(
            model="claude", max_tokens=100, messages=messages, tools=[WEATHER_TOOL]
        )
    assert first.stop_reason == "tool_use"
    tool_use = next(b for b in first.content if b.type == "tool_use")
    assert (tool_use.name, tool_use.input) == ("get_weather", {"city": "mock"})
    messages += [
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "rainy"}],
        },
    ]
    second = await client.messages.create(
        model="auto", max_tokens=100, messages=messages, tools=[WEATHER_TOOL]
    )
    assert second.content[0].type == "text"
    assert second.content[0].text == "Tool result received: rainy"
