"""The OpenAI chat completions front: body -> ChatRequest, and answers back in OpenAI's shapes.

Our internal types are OpenAI-shaped, but they omit defaults when encoded (``index: 0``,
``type: "function"``) and keep usage in our own form; the SDKs expect the full shapes, so answers
are encoded through the output structs here.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hybridllm.server.envelope import GatewayError
from hybridllm.server.inbound import GuardedChat, bad_body, check_guard
from hybridllm.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Delta,
    Message,
    ToolCall,
    Usage,
)

__all__ = [
    "DONE",
    "decode_guarded_chat",
    "encode_chunk",
    "encode_response",
    "encode_usage_chunk",
    "sse_error",
    "validate_messages",
]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
DONE = b"data: [DONE]\n\n"


class _PromptDetails(msgspec.Struct):
    cached_tokens: int


class _Usage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: _PromptDetails


class _Function(msgspec.Struct):
    name: str
    arguments: str


class _ToolCall(msgspec.Struct):
    id: str
    type: str
    function: _Function


class _Message(msgspec.Struct, omit_defaults=True):
    role: str
    content: str | None
    tool_calls: list[_ToolCall] | None = None
    refusal: None = None


class _Choice(msgspec.Struct):
    index: int
    message: _Message
    finish_reason: str | None
    logprobs: None = None


class _Response(msgspec.Struct):
    id: str
    object: str
    created: int
    model: str
    choices: list[_Choice]
    usage: _Usage | None


class _ChunkChoice(msgspec.Struct):
    index: int
    delta: Delta
    finish_reason: str | None
    logprobs: None = None


class _Chunk(msgspec.Struct):
    id: str
    object: str
    created: int
    model: str
    choices: list[_ChunkChoice]


class _ChunkNullUsage(msgspec.Struct):
    """As OpenAI sends chunks when usage was asked for: ``"usage": null`` until the last."""

    id: str
    object: str
    created: int
    model: str
    choices: list[_ChunkChoice]
    usage: None = None


class _UsageChunk(msgspec.Struct):
    id: str
    object: str
    created: int
    model: str
    choices: list[_ChunkChoice]
    usage: _Usage


_encoder = msgspec.json.Encoder()


_guarded_decoder = msgspec.json.Decoder(GuardedChat)
_REQUEST_FIELDS = len(ChatRequest.__struct_fields__)


def decode_guarded_chat(body: bytes) -> tuple[ChatRequest, dict[str, Any] | None]:
    """The chat request and the ``hybridllm`` hint object (if any), from one parse of the body:
    the checks of :func:`~hybridllm.server.inbound.guard_body` run on the same decode (a second
    parse was ~7% of the gateway's CPU at 100 KB). A refused field is a 400 as from
    ``guard_body``; a body msgspec refuses, a 400 naming its ``$.path``."""
    try:
        inbound = _guarded_decoder.decode(body)
    except msgspec.MsgspecError as exc:
        raise bad_body(exc) from None
    hints = check_guard(inbound)
    # A plain ChatRequest from the first fields (GuardedChat's own come after them).
    request = ChatRequest(*msgspec.structs.astuple(inbound)[:_REQUEST_FIELDS])
    validate_messages(request.messages)
    return request, hints


def validate_messages(messages: list[Message]) -> None:
    if not messages:
        raise GatewayError(
            400, "'messages' must hold at least one message", code="invalid_value", param="messages"
        )
    for i, message in enumerate(messages):
        if message.role not in ROLES:
            raise GatewayError(
                400,
                f"invalid role '{message.role}' at $.messages[{i}].role; expected one of "
                + ", ".join(sorted(ROLES)),
                code="invalid_value",
                param=f"messages[{i}].role",
            )


def usage_out(usage: Usage) -> _Usage:
    return _Usage(
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.prompt_tokens + usage.completion_tokens,
        _PromptDetails(usage.cached_tokens),
    )


def _calls(calls: list[ToolCall] | None) -> list[_ToolCall] | None:
    if not calls:
        return None
    return [
        _ToolCall(c.id, c.type or "function", _Function(c.function.name, c.function.arguments))
        for c in calls
    ]


def encode_response(response: ChatResponse) -> bytes:
    choices = []
    for i, choice in enumerate(response.choices):
        m = choice.message
        content = m.content if isinstance(m.content, str) or m.content is None else None
        if content is None and not m.tool_calls:
            content = response.text if i == 0 else ""
        choices.append(
            _Choice(
                i,
                _Message(m.role or "assistant", content, _calls(m.tool_calls)),
                choice.finish_reason or "stop",
            )
        )
    usage = usage_out(response.usage) if response.usage is not None else None
    out = _Response(
        response.id, "chat.completion", response.created, response.model, choices, usage
    )
    return _encoder.encode(out)


def encode_chunk(chunk: ChatChunk, include_usage: bool) -> bytes | None:
    """One ``data:`` event, or None for a usage-only chunk (its usage is sent at the end)."""
    if not chunk.choices:
        return None
    choices = [_ChunkChoice(c.index, c.delta, c.finish_reason) for c in chunk.choices]
    kind = _ChunkNullUsage if include_usage else _Chunk
    out = kind(chunk.id, "chat.completion.chunk", chunk.created, chunk.model, choices)
    return b"data: " + _encoder.encode(out) + b"\n\n"


def encode_usage_chunk(rid: str, model: str, created: int, usage: Usage) -> bytes:
    out = _UsageChunk(rid, "chat.completion.chunk", created, model, [], usage_out(usage))
    return b"data: " + _encoder.encode(out) + b"\n\n"


def sse_error(body: bytes) -> bytes:
    """The in-band error event (the OpenAI error envelope as a data line), then ``[DONE]``."""
    return b"data: " + body + b"\n\n" + DONE
