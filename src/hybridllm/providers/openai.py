"""The OpenAI chat completions wire format: OpenAI itself and every compatible server.

Our internal types *are* this shape, so the request passes through (``model`` set to the
deployment's); only usage needs care: ``prompt_tokens_details.cached_tokens`` (or DeepSeek's
``prompt_cache_hit_tokens``) becomes ``Usage.cached_tokens``. Streams always ask for usage
(``stream_options.include_usage``) and end at ``data: [DONE]``; the usage is re-emitted once, on a
last chunk with no choices, whichever chunk the server put it on.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import aiohttp
import msgspec
import orjson

from hybridllm.errors import StreamBrokenError
from hybridllm.providers.http import error_from_payload, fetch, load_json, post
from hybridllm.providers.sse import iter_sse, parse_data
from hybridllm.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    FunctionCallDelta,
    Message,
    StreamOptions,
    ToolCall,
    ToolCallDelta,
    Usage,
    encode,
)

if TYPE_CHECKING:
    from hybridllm.config.models import Deployment

__all__ = [
    "OpenAIAdapter",
    "build_body",
    "decode_response",
    "parse_chunk",
    "parse_response",
    "parse_usage",
]

_INCLUDE_USAGE = StreamOptions(include_usage=True)


def build_body(request: ChatRequest, deployment: Deployment, *, stream: bool) -> bytes:
    wire = msgspec.structs.replace(
        request,
        model=deployment.model,
        stream=stream,
        stream_options=_INCLUDE_USAGE if stream else None,
    )
    return encode(wire)


def _headers(deployment: Deployment, *, stream: bool) -> dict[str, str]:
    headers = {"Content-Type": "application/json", **deployment.headers}
    if stream:
        headers["Accept"] = "text/event-stream"
    key = deployment.key
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def parse_usage(data: Mapping[str, Any] | None) -> Usage | None:
    if not data:
        return None
    details = data.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") or data.get("prompt_cache_hit_tokens") or 0
    return Usage(
        prompt_tokens=data.get("prompt_tokens") or 0,
        completion_tokens=data.get("completion_tokens") or 0,
        cached_tokens=cached,
    )


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value if value is not None else {}).decode()


def _content(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):  # a few servers answer with parts
        return "".join(p.get("text") or "" for p in value if isinstance(p, dict))
    return str(value)


def _message(data: Mapping[str, Any]) -> Message:
    calls = data.get("tool_calls")
    tool_calls = None
    if calls:
        tool_calls = [
            ToolCall(
                id=call.get("id") or f"call_{i}",
                function=FunctionCall(
                    name=call["function"]["name"],
                    arguments=_arguments(call["function"].get("arguments")),
                ),
            )
            for i, call in enumerate(calls)
        ]
    return Message(
        role=data.get("role") or "assistant",
        content=_content(data.get("content")),
        tool_calls=tool_calls,
    )


def parse_response(data: Mapping[str, Any], deployment: Deployment) -> ChatResponse:
    choices = [
        Choice(
            message=_message(choice.get("message") or {}),
            index=choice.get("index") or 0,
            finish_reason=choice.get("finish_reason"),
        )
        for choice in data.get("choices") or ()
    ]
    return ChatResponse(
        id=data.get("id") or "",
        model=data.get("model") or deployment.model,
        choices=choices,
        usage=parse_usage(data.get("usage")),
        created=int(data.get("created") or time.time()),
    )


# The common shape of an answer, decoded straight from the bytes (no dict in between). Anything
# else (content as parts, arguments as an object, a float where an int belongs, usage with only
# nulls) fails to decode here and takes parse_response's path, which reads every variant.
class _WireFunction(msgspec.Struct):
    name: str
    arguments: str | None = None


class _WireCall(msgspec.Struct):
    function: _WireFunction
    id: str | None = None


class _WireMessage(msgspec.Struct):
    role: str | None = None
    content: str | None = None
    tool_calls: list[_WireCall] | None = None


class _WireChoice(msgspec.Struct):
    message: _WireMessage | None = None
    index: int | None = None
    finish_reason: str | None = None


class _WireDetails(msgspec.Struct):
    cached_tokens: int | None = None


class _WireUsage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_details: _WireDetails | None = None
    prompt_cache_hit_tokens: int | None = None


class _WireResponse(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    choices: list[_WireChoice] | None = None
    usage: _WireUsage | None = None
    created: int | None = None


_wire_decoder = msgspec.json.Decoder(_WireResponse)
_NO_MESSAGE = _WireMessage()


def decode_response(raw: bytes, deployment: Deployment) -> ChatResponse:
    """``parse_response(load_json(raw))``, the same answer, with the common shape decoded
    straight into structs (~2 us less per request at 2 KB)."""
    try:
        wire = _wire_decoder.decode(raw)
    except msgspec.MsgspecError:
        wire = None
    if wire is None or (wire.usage is not None and _all_null(wire.usage)):
        return parse_response(load_json(raw, deployment), deployment)
    choices = []
    for choice in wire.choices or ():
        message = choice.message or _NO_MESSAGE
        calls = message.tool_calls
        choices.append(
            Choice(
                message=Message(
                    role=message.role or "assistant",
                    content=message.content,
                    tool_calls=[
                        ToolCall(
                            id=call.id or f"call_{i}",
                            function=FunctionCall(
                                name=call.function.name,
                                arguments=call.function.arguments
                                if call.function.arguments is not None
                                else "{}",
                            ),
                        )
                        for i, call in enumerate(calls)
                    ]
                    if calls
                    else None,
                ),
                index=choice.index or 0,
                finish_reason=choice.finish_reason,
            )
        )
    u = wire.usage
    usage = None
    if u is not None:
        details = u.prompt_tokens_details
        usage = Usage(
            prompt_tokens=u.prompt_tokens or 0,
            completion_tokens=u.completion_tokens or 0,
            cached_tokens=(details.cached_tokens if details is not None else None)
            or u.prompt_cache_hit_tokens
            or 0,
        )
    return ChatResponse(
        id=wire.id or "",
        model=wire.model or deployment.model,
        choices=choices,
        usage=usage,
        created=wire.created or int(time.time()),
    )


def _all_null(usage: _WireUsage) -> bool:
    """``{}`` (no usage: parse_usage says None) and all-null fields decode alike: let the dict
    path tell them apart."""
    return (
        usage.prompt_tokens is None
        and usage.completion_tokens is None
        and usage.prompt_tokens_details is None
        and usage.prompt_cache_hit_tokens is None
    )


def _tool_call_delta(data: Mapping[str, Any]) -> ToolCallDelta:
    function = data.get("function")
    return ToolCallDelta(
        index=data.get("index") or 0,
        id=data.get("id"),
        type=data.get("type"),
        function=FunctionCallDelta(
            name=function.get("name"),
            arguments=_arguments(function["arguments"]) if "arguments" in function else None,
        )
        if function
        else None,
    )


def parse_chunk(data: Mapping[str, Any], deployment: Deployment) -> ChatChunk:
    """One ``chat.completion.chunk``, usage included as sent (the adapter moves it to the end)."""
    choices = []
    for choice in data.get("choices") or ():
        delta = choice.get("delta") or {}
        calls = delta.get("tool_calls")
        choices.append(
            ChunkChoice(
                delta=Delta(
                    role=delta.get("role"),
                    content=_content(delta.get("content")),
                    tool_calls=[_tool_call_delta(c) for c in calls] if calls else None,
                ),
                index=choice.get("index") or 0,
                finish_reason=choice.get("finish_reason"),
            )
        )
    return ChatChunk(
        id=data.get("id") or "",
        model=data.get("model") or deployment.model,
        choices=choices,
        usage=parse_usage(data.get("usage")),
        created=int(data.get("created") or 0),
    )


class OpenAIAdapter:
    """``POST {url}/chat/completions``; ``Authorization: Bearer`` only when a key is set."""

    wire = "openai"

    async def complete(
        self, session: aiohttp.ClientSession, deployment: Deployment, request: ChatRequest
    ) -> ChatResponse:
        url = deployment.url + "/chat/completions"
        body = build_body(request, deployment, stream=False)
        raw = await fetch(session, deployment, url, body, _headers(deployment, stream=False))
        return decode_response(raw, deployment)

    async def stream(
        self, session: aiohttp.ClientSession, deployment: Deployment, request: ChatRequest
    ) -> AsyncIterator[ChatChunk]:
        url = deployment.url + "/chat/completions"
        body = build_body(request, deployment, stream=True)
        headers = _headers(deployment, stream=True)
        usage: Usage | None = None
        last: ChatChunk | None = None
        async with (
            post(session, deployment, url, body, headers) as resp,
            aclosing(iter_sse(resp, deployment)) as events,
        ):
            async for event in events:
                if event.data == "[DONE]":
                    if usage is not None:
                        yield ChatChunk(
                            id=last.id if last else "",
                            model=last.model if last else deployment.model,
                            choices=[],
                            usage=usage,
                            created=last.created if last else 0,
                        )
                    return
                data = parse_data(event, deployment)
                if not isinstance(data, dict):
                    raise StreamBrokenError(
                        f"{deployment.name}: unexpected stream event", deployment=deployment.name
                    )
                if "error" in data:
                    raise error_from_payload(data, deployment)
                chunk = parse_chunk(data, deployment)
                last = chunk
                if chunk.usage is not None:
                    usage = chunk.usage
                    if not chunk.choices:
                        continue
                    chunk = msgspec.structs.replace(chunk, usage=None)
                yield chunk
        raise StreamBrokenError(
            f"{deployment.name}: stream ended without [DONE]", deployment=deployment.name
        )
