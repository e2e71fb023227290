"""The Anthropic Messages wire format (``POST {url}/v1/messages``).

Request: system and developer messages become the top-level ``system``; turns alternate (runs of
one role are merged, tool results become ``tool_result`` blocks of a user turn); ``max_tokens`` is
required (the request's cap, else the deployment's, else 4096); JSON mode, which has no switch
here, becomes a system instruction. Answer: text blocks joined, ``tool_use`` blocks as tool calls,
usage with the cache split out (``input_tokens`` excludes cached tokens, so the prompt is input +
cache read + cache creation). Streams are named SSE events translated into OpenAI-style deltas.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from hybridllm.errors import StreamBrokenError
from hybridllm.providers.convert import (
    json_instruction,
    load_arguments,
    now,
    parse_data_url,
    parts_of,
    system_text,
    tool_choice_name,
)
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
    ToolCall,
    ToolCallDelta,
    Usage,
    message_text,
)

if TYPE_CHECKING:
    from hybridllm.config.models import Deployment

__all__ = ["AnthropicAdapter", "StreamTranslator", "build_body", "parse_response", "parse_usage"]

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


# -- request ---------------------------------------------------------------------------------


def _content_blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in parts_of(message):
        if part.type == "text" and part.text:
            blocks.append({"type": "text", "text": part.text})
        elif part.type == "image_url" and part.image_url is not None:
            url = part.image_url.url
            data = parse_data_url(url)
            if data is not None:
                source = {"type": "base64", "media_type": data.mime, "data": data.data}
            else:
                source = {"type": "url", "url": url}
            blocks.append({"type": "image", "source": source})
    return blocks


def _turns(messages: list[Message]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for m in messages:
        if m.role in ("system", "developer"):
            continue
        if m.role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": m.tool_call_id or "",
                "content": message_text(m),
            }
            add("user", [result])
        elif m.role == "assistant":
            blocks = _content_blocks(m)
            for call in m.tool_calls or ():
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.function.name,
                        "input": load_arguments(call.function.arguments),
                    }
                )
            add("assistant", blocks)
        else:
            add("user", _content_blocks(m))
    return turns


def _tool_choice(choice: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    name = tool_choice_name(choice)
    return {"type": "tool", "name": name} if name else None


def build_body(request: ChatRequest, deployment: Deployment, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": deployment.model,
        "max_tokens": request.output_cap or deployment.max_output_tokens or DEFAULT_MAX_TOKENS,
        "messages": _turns(request.messages),
    }
    system = system_text(request.messages)
    instruction = json_instruction(request)
    if instruction:
        system = f"{system}\n\n{instruction}" if system else instruction
    if system:
        body["system"] = system
    if request.temperature is not None:
        body["temperature"] = min(max(request.temperature, 0.0), 1.0)  # OpenAI allows up to 2
    elif request.top_p is not None:  # recent Claude models refuse both at once
        body["top_p"] = request.top_p
    stops = request.stop_list()
    if stops:
        body["stop_sequences"] = stops
    if request.tools:
        body["tools"] = [
            {
                "name": tool.function.name,
                "description": tool.function.description or "",
                "input_schema": tool.function.parameters or {"type": "object", "properties": {}},
            }
            for tool in request.tools
        ]
        choice = _tool_choice(request.tool_choice)
        if choice is not None:
            body["tool_choice"] = choice
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if stream:
        body["stream"] = True
    return body


def _headers(deployment: Deployment, *, stream: bool) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "anthropic-version": API_VERSION,
        **deployment.headers,
    }
    if stream:
        headers["Accept"] = "text/event-stream"
    key = deployment.key
    if key:
        headers["x-api-key"] = key
    return headers


# -- answer ----------------------------------------------------------------------------------


def parse_usage(data: Mapping[str, Any] | None) -> Usage | None:
    if not data:
        return None
    cache_read = data.get("cache_read_input_tokens") or 0
    cache_creation = data.get("cache_creation_input_tokens") or 0
    return Usage(
        prompt_tokens=(data.get("input_tokens") or 0) + cache_read + cache_creation,
        completion_tokens=data.get("output_tokens") or 0,
        cached_tokens=cache_read,
        cache_creation_tokens=cache_creation,
    )


def _finish(stop_reason: str | None, has_calls: bool) -> str | None:
    if stop_reason is None:
        return "tool_calls" if has_calls else None
    return FINISH_REASONS.get(stop_reason, "stop")


def parse_response(data: Mapping[str, Any], deployment: Deployment) -> ChatResponse:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in data.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append(
                ToolCall(
                    id=block["id"], function=FunctionCall(name=block["name"], arguments=arguments)
                )
            )
    text = "".join(texts)
    message = Message(
        role="assistant",
        content=text if text or not calls else None,
        tool_calls=calls or None,
    )
    return ChatResponse(
        id=data.get("id") or "",
        model=data.get("model") or deployment.model,
        choices=[
            Choice(message=message, finish_reason=_finish(data.get("stop_reason"), bool(calls)))
        ],
        usage=parse_usage(data.get("usage")),
        created=now(),
    )


class StreamTranslator:
    """Anthropic stream events in, OpenAI-style chunks out; ``done`` once ``message_stop`` came."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.id = ""
        self.model = deployment.model
        self.created = now()
        self.done = False
        self._usage: dict[str, int] = {}
        self._tools: dict[int, int] = {}  # content block index -> tool call index

    def _chunk(self, delta: Delta, finish: str | None = None) -> ChatChunk:
        return ChatChunk(
            id=self.id,
            model=self.model,
            choices=[ChunkChoice(delta=delta, finish_reason=finish)],
            created=self.created,
        )

    def _take_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            for key, value in usage.items():
                if isinstance(value, int):
                    self._usage[key] = value

    def usage(self) -> Usage | None:
        return parse_usage(self._usage)

    def feed(self, data: Mapping[str, Any]) -> list[ChatChunk]:
        kind = data.get("type")
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [self._chunk(Delta(content=delta["text"]))]
            if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                index = self._tools.get(data.get("index", -1))
                if index is not None:
                    fn = FunctionCallDelta(arguments=delta["partial_json"])
                    return [
                        self._chunk(Delta(tool_calls=[ToolCallDelta(index=index, function=fn)]))
                    ]
            return []  # thinking, signature and citation deltas carry no answer text
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = len(self._tools)
                self._tools[data.get("index", index)] = index
                call = ToolCallDelta(
                    index=index,
                    id=block.get("id"),
                    type="function",
                    function=FunctionCallDelta(name=block.get("name"), arguments=""),
                )
                return [self._chunk(Delta(tool_calls=[call]))]
            if block.get("type") == "text" and block.get("text"):
                return [self._chunk(Delta(content=block["text"]))]
            return []
        if kind == "message_start":
            message = data.get("message") or {}
            self.id = message.get("id") or self.id
            self.model = message.get("model") or self.model
            self._take_usage(message.get("usage"))
            return [self._chunk(Delta(role="assistant", content=""))]
        if kind == "message_delta":
            self._take_usage(data.get("usage"))
            reason = (data.get("delta") or {}).get("stop_reason")
            if reason:
                return [self._chunk(Delta(), _finish(reason, bool(self._tools)))]
            return []
        if kind == "message_stop":
            self.done = True
            usage = self.usage()
            if usage is None:
                return []
            return [
                ChatChunk(
                    id=self.id, model=self.model, choices=[], usage=usage, created=self.created
                )
            ]
        if kind == "error":
            raise error_from_payload(data, self.deployment)
        return []  # ping, content_block_stop, and event types added later


class AnthropicAdapter:
    """``POST {url}/v1/messages`` with ``x-api-key`` and ``anthropic-version``."""

    wire = "anthropic"

    async def complete(
        self, session: aiohttp.ClientSession, deployment: Deployment, request: ChatRequest
    ) -> ChatResponse:
        body = orjson.dumps(build_body(request, deployment, stream=False))
        url = deployment.url + "/v1/messages"
        raw = await fetch(session, deployment, url, body, _headers(deployment, stream=False))
        return parse_response(load_json(raw, deployment), deployment)

    async def stream(
        self, session: aiohttp.ClientSession, deployment: Deployment, request: ChatRequest
    ) -> AsyncIterator[ChatChunk]:
        body = orjson.dumps(build_body(request, deployment, stream=True))
        url = deployment.url + "/v1/messages"
        headers = _headers(deployment, stream=True)
        state = StreamTranslator(deployment)
        async with (
            post(session, deployment, url, body, headers) as resp,
            aclosing(iter_sse(resp, deployment)) as events,
        ):
            async for event in events:
                data = parse_data(event, deployment)
                if not isinstance(data, dict):
                    raise StreamBrokenError(
                        f"{deployment.name}: unexpected stream event", deployment=deployment.name
                    )
                data.setdefault("type", event.event)
                for chunk in state.feed(data):
                    yield chunk
                if state.done:
                    return
        raise StreamBrokenError(
            f"{deployment.name}: stream ended without message_stop", deployment=deployment.name
        )
