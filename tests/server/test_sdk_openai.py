"""The official openai SDK, unmodified but for base_url and key, against the running gateway."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from openai import AsyncOpenAI

from hybridllm.mock import MockUpstream

from .conftest import PRIMARY_KEY, Running, sha

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
async def client(gateway: Running) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0) as c:
        yield c


async def test_chat_completion_is_answered_by_the_routed_deployment(
    client: AsyncOpenAI, gateway: Running, mock: MockUpstream
) -> None:
    raw = await client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Say hello to the gateway"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == (
        "Mock answer from gpt-4o-mini: Say hello to the gateway This deterministic reply"
    )
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 12
    rid = raw.headers["x-request-id"]
    assert raw.headers["x-hybridllm-route"] == "default"
    assert raw.headers["x-hybridllm-deployment"] == "primary"
    assert raw.headers["x-hybridllm-attempts"] == "1"
    rows = [r for r in gateway.rows() if r.request_id == rid]
    assert [(r.deployment, r.status, r.streamed) for r in rows] == [("primary", "ok", False)]
    assert float(raw.headers["x-hybridllm-cost-usd"]) == pytest.approx(rows[0].cost_usd, abs=1e-8)
    assert rows[0].completion_tokens == completion.usage.completion_tokens
    # The upstream got the deployment's own key, never the caller's.
    (record,) = mock.records_for("primary")
    assert record.key_sha256 == sha(PRIMARY_KEY)


async def test_incoming_request_id_is_kept_as_the_correlation_id(
    client: AsyncOpenAI, gateway: Running
) -> None:
    raw = await client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-request-id": "trace-abc.123"},
    )
    assert raw.headers["x-request-id"] == "trace-abc.123"
    assert [r.request_id for r in gateway.rows()] == ["trace-abc.123"]


async def test_streaming_with_usage_sends_one_usage_chunk_at_the_end(
    client: AsyncOpenAI, gateway: Running
) -> None:
    raw = await client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "Stream me something"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers["x-hybridllm-deployment"] == "primary"
    assert raw.headers["x-hybridllm-attempts"] == "1"
    assert "x-hybridllm-cost-usd" not in raw.headers  # known only at the end: in the ledger
    stream = raw.parse()
    text, usages = "", []
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            assert chunk.usage is None
        else:
            usages.append(chunk.usage)
    assert text.startswith("Mock answer from gpt-4o-mini: Stream me something")
    assert len(usages) == 1 and usages[0] is not None
    (row,) = gateway.rows()
    assert row.request_id == raw.headers["x-request-id"]
    assert (row.status, row.streamed) == ("ok", True)
    assert row.completion_tokens == usages[0].completion_tokens
    assert row.prompt_tokens == usages[0].prompt_tokens


async def test_streaming_without_include_usage_sends_no_usage(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "no usage please"}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert chunks and all(c.choices for c in chunks)
    assert all(getattr(c, "usage", None) is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("task", "deployment"), [(None, "primary"), ("code", "claude")], ids=["openai", "anthropic"]
)
async def test_tool_call_round_trip(
    client: AsyncOpenAI, gateway: Running, task: str | None, deployment: str
) -> None:
    headers = {"x-hybridllm-task": task} if task else {}
    messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Paris?"}]
    raw = await client.chat.completions.with_raw_response.create(
        model="auto", messages=messages, tools=[WEATHER_TOOL], extra_headers=headers
    )
    assert raw.headers["x-hybridllm-deployment"] == deployment
    first = raw.parse()
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "mock"}
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
    ]
    second = await client.chat.completions.create(
        model="auto", messages=messages, tools=[WEATHER_TOOL], extra_headers=headers
    )
    assert second.choices[0].message.content == "Tool result received: sunny, 21C"
    assert len(gateway.rows()) == 2


async def test_streamed_tool_call_arrives_as_deltas(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    name, arguments, finish = "", "", None
    async for chunk in stream:
        for delta_call in chunk.choices[0].delta.tool_calls or []:
            assert delta_call.index == 0
            if delta_call.function and delta_call.function.name:
                name = delta_call.function.name
            if delta_call.function and delta_call.function.arguments:
                arguments += delta_call.function.arguments
        finish = chunk.choices[0].finish_reason or finish
    assert (name, json.loads(arguments), finish) == ("get_weather", {"city": "mock"}, "tool_calls")


async def test_pinning_a_deployment_by_model_name(client: AsyncOpenAI, gateway: Running) -> None:
    raw = await client.chat.completions.with_raw_response.create(
        model="claude", messages=[{"role": "user", "content": "pinned"}]
    )
    assert raw.headers["x-hybridllm-route"] == "pinned:claude"
    assert raw.headers["x-hybridllm-deployment"] == "claude"
    assert raw.parse().choices[0].message.content.startswith("Mock answer from claude-sonnet-4-5")


async def test_models_list_has_auto_and_every_deployment(client: AsyncOpenAI) -> None:
    models = [m.id async for m in client.models.list()]
    assert models == ["auto", "local-a", "primary", "claude"]
