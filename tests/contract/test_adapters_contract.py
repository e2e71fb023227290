"""Every wire adapter against the mock upstream (a real loopback HTTP server): same behaviour."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from hybridllm.config.models import Deployment
from hybridllm.errors import (
    AuthError,
    BadRequestError,
    ContextWindowError,
    ProviderError,
    RateLimitedError,
    ServerError,
    StreamBrokenError,
    UpstreamConnectionError,
)
from hybridllm.mock import MockUpstream
from hybridllm.providers import adapter_for
from hybridllm.types import ChatChunk, ChatRequest, ChatResponse, Usage, decode_request, encode

WIRES = ["openai", "anthropic", "gemini"]
KEY = "sk-test-contract-key-0123456789abcdef"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}

pytestmark = pytest.mark.parametrize("wire", WIRES)


@pytest.fixture
async def mock() -> AsyncIterator[MockUpstream]:
    async with MockUpstream() as upstream:
        yield upstream


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def base_url(root: str, wire: str, prefix: str) -> str:
    return {
        "openai": f"{root}/{prefix}/v1",
        "anthropic": f"{root}/{prefix}",
        "gemini": f"{root}/{prefix}/v1beta",
    }[wire]


def make(mock: MockUpstream, wire: str, prefix: str | None = None, **kw: Any) -> Deployment:
    prefix = prefix or f"{wire}-dep"
    fields: dict[str, Any] = {
        "name": prefix,
        "provider": wire,
        "model": f"{wire}-mock-model",
        "base_url": base_url(mock.url, wire, prefix),
        "api_key": KEY,
    }
    fields.update(kw)
    return Deployment(**fields)


def req(messages: list[dict[str, Any]] | None = None, **fields: Any) -> ChatRequest:
    fields["messages"] = messages or [{"role": "user", "content": "Hello there"}]
    return decode_request(orjson.dumps(fields))


async def complete(
    session: aiohttp.ClientSession, dep: Deployment, request: ChatRequest
) -> ChatResponse:
    return await adapter_for(dep.wire).complete(session, dep, request)


async def collect(
    session: aiohttp.ClientSession, dep: Deployment, request: ChatRequest
) -> list[ChatChunk]:
    return [chunk async for chunk in adapter_for(dep.wire).stream(session, dep, request)]


def text_of(chunks: list[ChatChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def finish_of(chunks: list[ChatChunk]) -> str | None:
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices]
    return next((r for r in reversed(reasons) if r), None)


def usage_of(chunks: list[ChatChunk]) -> Usage | None:
    usages = [c.usage for c in chunks if c.usage is not None]
    assert len(usages) <= 1, "usage arrives once"
    if usages:
        assert chunks[-1].usage is usages[0] and chunks[-1].choices == []
    return usages[0] if usages else None


def tool_calls_of(chunks: list[ChatChunk]) -> dict[int, dict[str, str]]:
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or ():
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                if delta.id:
                    call["id"] = delta.id
                if delta.function is not None:
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""
    return calls


# -- answers ---------------------------------------------------------------------------------


async def test_plain_answer(wire: str, mock: MockUpstream, session: aiohttp.ClientSession) -> None:
    dep = make(mock, wire)
    response = await complete(session, dep, req())
    assert response.text.startswith(f"Mock answer from {wire}-mock-model: Hello there")
    assert response.choices[0].finish_reason == "stop"
    assert response.choices[0].message.role == "assistant"
    assert response.usage is not None
    assert response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens == len(response.text.split())
    (record,) = mock.records_for(dep.name)
    assert record.wire == wire
    assert record.model == f"{wire}-mock-model"
    assert not record.stream


async def test_system_prompt_reaches_the_wire_in_its_place(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession
) -> None:
    dep = make(mock, wire)
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}]
    await complete(session, dep, req(messages))
    body = mock.records_for(dep.name)[0].body
    if wire == "openai":
        assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    elif wire == "anthropic":
        assert body["system"] == "You are terse."
        assert [m["role"] for m in body["messages"]] == ["user"]
    else:
        assert body["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
        assert [c["role"] for c in body["contents"]] == ["user"]


async def test_multi_turn_answers_the_last_user_turn(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession
) -> None:
    dep = make(mock, wire)
    messages = [
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "Second question"},
    ]
    response = await complete(session, dep, req(messages))
    assert response.text.startswith(f"Mock answer from {wire}-mock-model: Second question")
    body = mock.records_for(dep.name)[0].body
    turns = body["contents"] if wire == "gemini" else body["messages"]
    assistant = "model" if wire == "gemini" else "assistant"
    assert [t["role"] for t in turns] == ["user", assistant, "user"]


async def test_tool_call_round_trip(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession
) -> None:
    dep = make(mock, wire)
    question = [{"role": "user", "content": "Weather in Paris?"}]
    first = await complete(session, dep, req(question, tools=[WEATHER_TOOL]))
    assert first.choices[0].finish_reason == "tool_calls"
    calls = first.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].function.name == "get_weather"
    assert orjson.loads(calls[0].function.arguments) == {"city": "mock"}
    assert calls[0].id
    follow_up = [
        *question,
        orjson.loads(encode(first.choices[0].message)),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny, 21C"},
    ]
    final = await complete(session, dep, req(follow_up, tools=[WEATHER_TOOL]))
    assert final.text == "Tool result received: sunny, 21C"
    assert final.choices[0].finish_reason == "stop"
    assert not final.choices[0].message.tool_calls


async def test_json_mode(wire: str, mock: MockUpstream, session: aiohttp.ClientSession) -> None:
    dep = make(mock, wire)
    response = await complete(session, dep, req(response_format={"type": "json_object"}))
    body = mock.records_for(dep.name)[0].body
    if wire == "openai":
        assert body["response_format"] == {"type": "json_object"}
    elif wire == "anthropic":
        assert "JSON object only" in body["system"]  # no native switch: an instruction
        return  # the mock does not read instructions, so its answer stays prose
    else:
        assert body["generationConfig"]["responseMimeType"] == "application/json"
    answer = orjson.loads(response.text)
    assert isinstance(answer, dict) and answer["answer"].startswith("Mock answer")


async def test_cached_tokens_are_reported(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession
) -> None:
    dep = make(mock, wire)
    mock.set_faults(dep.name, [{"cached_tokens": 3}])
    plain = make(mock, wire, prefix=f"{wire}-plain")
    response = await complete(session, dep, req())
    reference = await complete(session, plain, req())
    assert response.usage is not None and reference.usage is not None
    assert response.usage.cached_tokens == 3
    assert response.usage.prompt_tokens == reference.usage.prompt_tokens  # cache is part of it


# -- streaming -------------------------------------------------------------------------------


async def test_streamed_text_reassembles_to_the_answer_with_usage(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession
) -> None:
    dep = make(mock, wire)
    whole = await complete(session, dep, req())
    chunks = await collect(session, dep, req(stream=True))
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 5
    assert text_of(chunks) == whole.text
    assert finish_of(chunks) == "stop"
    usage = usage_of(chunks)
    assert usage is not None and whole.usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        whole.usage.prompt_tokens,
        whole.usage.completion_tokens,
    )
    assert mock.records_for(dep.name)[1].stream
    if wire == "openai":
        assert mock.records_for(dep.name)[1].body["stream_options"] == {"include_usage": True}


async def test_streamed_tool_call(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession
) -> None:
    dep = make(mock, wire)
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    chunks = await collect(session, dep, req(messages, tools=[WEATHER_TOOL], stream=True))
    calls = tool_calls_of(chunks)
    assert list(calls) == [0]
    assert calls[0]["id"] and calls[0]["name"] == "get_weather"
    assert orjson.loads(calls[0]["arguments"]) == {"city": "mock"}
    assert finish_of(chunks) == "tool_calls"
    assert usage_of(chunks) is not None


async def test_stream_without_usage_still_completes(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession
) -> None:
    dep = make(mock, wire)
    mock.set_faults(dep.name, [{"no_usage": True}])
    chunks = await collect(session, dep, req(stream=True))
    assert text_of(chunks).startswith("Mock answer")
    assert usage_of(chunks) is None


async def test_stopping_a_stream_early_releases_the_connection(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession
) -> None:
    dep = make(mock, wire)
    mock.set_faults(dep.name, [{"chunk_delay": 0.01}])
    stream = adapter_for(wire).stream(session, dep, req(stream=True))
    assert isinstance(stream, AsyncIterator)
    first = await anext(stream)
    assert first.choices
    await stream.aclose()  # type: ignore[attr-defined]
    response = await complete(session, dep, req())  # the session is still healthy
    assert response.text.startswith("Mock answer")


# -- errors ----------------------------------------------------------------------------------

ERROR_CASES: list[tuple[dict[str, Any], type[ProviderError], int | None]] = [
    ({"status": 400, "message": "bad field"}, BadRequestError, 400),
    ({"status": 404}, BadRequestError, 404),
    ({"status": 401}, AuthError, 401),
    ({"expect_key": "some-other-key"}, AuthError, 401),
    ({"status": 429, "retry_after": 2}, RateLimitedError, 429),
    ({"status": 500}, ServerError, 500),
    ({"status": 503}, ServerError, 503),
    ({"status": 529}, ServerError, 529),
    ({"context_window": 1}, ContextWindowError, 400),
]


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(("rule", "cls", "status"), ERROR_CASES)
async def test_error_status_maps_onto_the_tree(
    wire: str,
    mock: MockUpstream,
    session: aiohttp.ClientSession,
    streamed: bool,
    rule: dict[str, Any],
    cls: type[ProviderError],
    status: int | None,
) -> None:
    dep = make(mock, wire)
    mock.set_faults(dep.name, [rule])
    with pytest.raises(ProviderError) as info:
        if streamed:
            await collect(session, dep, req(stream=True))
        else:
            await complete(session, dep, req())
    err = info.value
    assert type(err) is cls
    assert err.status == status
    assert err.deployment == dep.name
    assert KEY not in str(err)
    if rule.get("retry_after"):
        assert err.retry_after == 2.0
    if rule.get("message"):
        assert "bad field" in str(err)


async def test_retry_after_ms_is_honoured(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession
) -> None:
    dep = make(mock, wire)
    mock.set_faults(dep.name, [{"status": 429, "retry_after_ms": 1500}])
    with pytest.raises(RateLimitedError) as info:
        await complete(session, dep, req())
    assert info.value.retry_after == 1.5


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
async def test_connection_refused_is_an_upstream_connection_error(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession, streamed: bool
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dep = make(mock, wire, base_url=base_url(f"http://127.0.0.1:{port}", wire, "closed"))
    with pytest.raises(UpstreamConnectionError) as info:
        if streamed:
            await collect(session, dep, req(stream=True))
        else:
            await complete(session, dep, req())
    assert KEY not in str(info.value)


async def test_connection_dropped_before_the_answer_is_a_connection_error(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession
) -> None:
    dep = make(mock, wire)
    mock.set_faults(dep.name, [{"close_after": 0}])
    with pytest.raises(UpstreamConnectionError):
        await complete(session, dep, req())


@pytest.mark.parametrize(
    "rule",
    [{"malformed_after": 2}, {"no_final_event": True}, {"close_after": 3}],
    ids=["malformed_chunk", "no_final_event", "closed_mid_stream"],
)
async def test_broken_stream_is_a_stream_broken_error(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession, rule: dict[str, Any]
) -> None:
    dep = make(mock, wire)
    mock.set_faults(dep.name, [rule])
    received: list[ChatChunk] = []
    with pytest.raises(StreamBrokenError) as info:
        async for chunk in adapter_for(wire).stream(session, dep, req(stream=True)):
            received.append(chunk)
    assert received, "the failure comes after the first chunk"
    assert info.value.deployment == dep.name


# -- keys ------------------------------------------------------------------------------------


async def test_key_is_sent_in_the_wire_header_and_never_in_the_url(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession
) -> None:
    dep = make(mock, wire)
    mock.set_faults(dep.name, [{"expect_key": KEY}])  # any other key: 401
    await complete(session, dep, req())
    await collect(session, dep, req(stream=True))
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    records = mock.records_for(dep.name)
    assert [(r.key_sha256, r.key_in_url) for r in records] == [(digest, False)] * 2
    assert all(KEY not in r.path for r in records)


async def test_no_key_configured_sends_no_key(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession
) -> None:
    dep = make(mock, wire, api_key=None)
    await complete(session, dep, req())
    assert mock.records_for(dep.name)[0].key_sha256 is None


# -- cancellation (dispatch applies first-token, idle and total timeouts around the adapter) --


async def test_cancelled_hung_request_cleans_up(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession
) -> None:
    dep = make(mock, wire)
    mock.set_faults(dep.name, [{"hang": True, "count": 1}])
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await complete(session, dep, req())
    assert (await complete(session, dep, req())).text.startswith("Mock answer")


async def test_cancelled_stalled_stream_cleans_up(
    wire: str, mock: MockUpstream, session: aiohttp.ClientSession
) -> None:
    dep = make(mock, wire)
    mock.set_faults(dep.name, [{"stall_after": 2, "count": 1}])
    received: list[ChatChunk] = []
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            async for chunk in adapter_for(wire).stream(session, dep, req(stream=True)):
                received.append(chunk)
    assert text_of(received)
    chunks = await collect(session, dep, req(stream=True))
    assert finish_of(chunks) == "stop"
