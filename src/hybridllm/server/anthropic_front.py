"""The Anthropic Messages front: the inbound direction of ``providers/anthropic.py``.

- request: an Anthropic ``/v1/messages`` body -> :class:`ChatRequest` (``system`` becomes a system
  message, ``tool_use`` blocks become tool calls, ``tool_result`` blocks become tool messages);
- answer: :class:`ChatResponse` -> an Anthropic ``message`` object;
- stream: OpenAI-style :class:`ChatChunk` deltas -> Anthropic SSE events (``message_start``,
  ``content_block_start`` / ``_delta`` (``text_delta``, ``input_json_delta``) / ``_stop``,
  ``message_delta``, ``message_stop``), and ``event: error`` for a failure after the first byte.

Usage follows Anthropic: ``input_tokens`` excludes cache reads and writes, reported apart.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from hybridllm.providers.convert import load_arguments
from hybridllm.server.envelope import GatewayError
from hybridllm.server.inbound import bad_body
from hybridllm.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ContentPart,
    FunctionCall,
    FunctionDef,
    ImageURL,
    Message,
    Tool,
    ToolCall,
    Usage,
)

__all__ = ["AnthropicStream", "decode_messages", "encode_message", "usage_json"]

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


class _Source(msgspec.Struct):
    type: str
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


class _Block(msgspec.Struct):
    type: str
    text: str | None = None
    source: _Source | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None
    tool_use_id: str | None = None
    content: str | list[_Block] | None = None
    is_error: bool | None = None


class _Msg(msgspec.Struct):
    role: str
    content: str | list[_Block]


class _Tool(msgspec.Struct):
    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None


class _ToolChoice(msgspec.Struct):
    type: str
    name: str | None = None


class _Metadata(msgspec.Struct):
    user_id: str | None = None


class AnthropicRequest(msgspec.Struct):
    model: str
    max_tokens: int
    messages: list[_Msg]
    system: str | list[_Block] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    stream: bool = False
    tools: list[_Tool] | None = None
    tool_choice: _ToolChoice | None = None
    metadata: _Metadata | None = None


_decoder = msgspec.json.Decoder(AnthropicRequest)


def _bad(message: str, param: str) -> GatewayError:
    return GatewayError(400, message, code="invalid_value", param=param)


def _text_of(content: str | list[_Block] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(b.text for b in content if b.type == "text" and b.text)


def _image(block: _Block, where: str) -> ContentPart:
    src = block.source
    if src is None:
        raise _bad(f"an image block needs a 'source' at {where}", where)
    if src.type == "base64" and src.data is not None:
        url = f"data:{src.media_type or 'application/octet-stream'};base64,{src.data}"
    elif src.type == "url" and src.url:
        url = src.url
    else:
        raise _bad(f"unsupported image source type '{src.type}' at {where}", where)
    return ContentPart(type="image_url", image_url=ImageURL(url=url))


def _user_messages(blocks: list[_Block], where: str) -> list[Message]:
    tools: list[Message] = []
    parts: list[ContentPart] = []
    for j, block in enumerate(blocks):
        here = f"{where}.content[{j}]"
        if block.type == "text":
            parts.append(ContentPart(type="text", text=block.text or ""))
        elif block.type == "image":
            parts.append(_image(block, here))
        elif block.type == "tool_result":
            text = _text_of(block.content)
            if block.is_error:
                text = f"Error: {text}"
            tools.append(Message(role="tool", tool_call_id=block.tool_use_id or "", content=text))
        elif block.type in ("thinking", "redacted_thinking"):
            continue
        else:
            raise _bad(f"unsupported content block type '{block.type}' at {here}", here)
    out = tools
    if parts:
        plain = all(p.type == "text" for p in parts)
        content: str | list[ContentPart] = (
            "\n".join(p.text or "" for p in parts) if plain else parts
        )
        out.append(Message(role="user", content=content))
    return out


def _assistant_message(blocks: list[_Block], where: str) -> Message:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for j, block in enumerate(blocks):
        if block.type == "text":
            texts.append(block.text or "")
        elif block.type == "tool_use":
            arguments = orjson.dumps(block.input if block.input is not None else {}).decode()
            calls.append(
                ToolCall(
                    id=block.id or f"toolu_{j}",
                    function=FunctionCall(name=block.name or "", arguments=arguments),
                )
            )
        elif block.type in ("thinking", "redacted_thinking"):
            continue
        else:
            here = f"{where}.content[{j}]"
            raise _bad(f"unsupported content block type '{block.type}' at {here}", here)
    text = "".join(texts)
    return Message(
        role="assistant", content=text if text or not calls else None, tool_calls=calls or None
    )


def _tool_choice(choice: _ToolChoice | None) -> str | dict[str, Any] | None:
    if choice is None:
        return None
    if choice.type == "tool" and choice.name:
        return {"type": "function", "function": {"name": choice.name}}
    mapped = {"auto": "auto", "any": "required", "none": "none"}.get(choice.type)
    if mapped is None:
        raise _bad(f"unsupported tool_choice type '{choice.type}'", "tool_choice")
    return mapped


def to_chat_request(req: AnthropicRequest) -> ChatRequest:
    if not req.messages:
        raise _bad("'messages' must hold at least one message", "messages")
    if req.max_tokens < 1:
        raise _bad("'max_tokens' must be at least 1", "max_tokens")
    messages: list[Message] = []
    system = _text_of(req.system)
    if system:
        messages.append(Message(role="system", content=system))
    for i, m in enumerate(req.messages):
        where = f"$.messages[{i}]"
        if m.role not in ("user", "assistant"):
            raise _bad(
                f"invalid role '{m.role}' at {where}.role; expected user or assistant",
                f"messages[{i}].role",
            )
        if isinstance(m.content, str):
            messages.append(Message(role=m.role, content=m.content))
        elif m.role == "user":
            messages.extend(_user_messages(m.content, where))
        else:
            messages.append(_assistant_message(m.content, where))
    tools = None
    if req.tools:
        tools = [
            Tool(
                function=FunctionDef(
                    name=t.name,
                    description=t.description,
                    parameters=t.input_schema or {"type": "object", "properties": {}},
                )
            )
            for t in req.tools
        ]
    return ChatRequest(
        messages=messages,
        model=req.model,
        temperature=req.temperature,
        top_p=req.top_p,
        max_tokens=req.max_tokens,
        stop=req.stop_sequences or None,
        stream=req.stream,
        tools=tools,
        tool_choice=_tool_choice(req.tool_choice),
        user=req.metadata.user_id if req.metadata is not None else None,
    )


def decode_messages(body: bytes) -> ChatRequest:
    """An Anthropic Messages body as our request; a 400 naming the bad field otherwise."""
    try:
        req = _decoder.decode(body)
    except msgspec.MsgspecError as exc:
        raise bad_body(exc) from None
    return to_chat_request(req)


# -- answers -----------------------------------------------------------------------------------


def usage_json(usage: Usage | None) -> dict[str, int]:
    u = usage or Usage()
    return {
        "input_tokens": max(0, u.prompt_tokens - u.cached_tokens - u.cache_creation_tokens),
        "output_tokens": u.completion_tokens,
        "cache_read_input_tokens": u.cached_tokens,
        "cache_creation_input_tokens": u.cache_creation_tokens,
    }


def _message_id(raw: str, request_id: str) -> str:
    return raw if raw.startswith("msg_") else f"msg_{request_id}"


def encode_message(response: ChatResponse, request_id: str) -> bytes:
    content: list[dict[str, Any]] = []
    finish = None
    if response.choices:
        choice = response.choices[0]
        finish = choice.finish_reason
        text = response.text
        if text or not choice.message.tool_calls:
            content.append({"type": "text", "text": text})
        for call in choice.message.tool_calls or ():
            content.append(
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.function.name,
                    "input": load_arguments(call.function.arguments),
                }
            )
    return orjson.dumps(
        {
            "id": _message_id(response.id, request_id),
            "type": "message",
            "role": "assistant",
            "model": response.model,
            "content": content,
            "stop_reason": STOP_REASONS.get(finish or "stop", "end_turn"),
            "stop_sequence": None,
            "usage": usage_json(response.usage),
        }
    )


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class AnthropicStream:
    """Turns our chunks into Anthropic events; one instance per response."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.started = False
        self.index = -1  # the open content block, -1: none
        self.open_kind: str | None = None
        self.tool_blocks: dict[int, int] = {}  # tool call index -> content block index
        self.stop_reason: str | None = None
        self.usage: Usage | None = None

    def _close(self) -> list[bytes]:
        if self.open_kind is None:
            return []
        self.open_kind = None
        return [_event("content_block_stop", {"type": "content_block_stop", "index": self.index})]

    def _open(self, block: dict[str, Any], kind: str) -> list[bytes]:
        out = self._close()
        self.index += 1
        self.open_kind = kind
        out.append(
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": self.index, "content_block": block},
            )
        )
        return out

    def _start(self, raw_id: str, model: str) -> list[bytes]:
        if self.started:
            return []
        self.started = True
        message: dict[str, Any] = {
            "id": _message_id(raw_id, self.request_id),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [_event("message_start", {"type": "message_start", "message": message})]

    def feed(self, chunk: ChatChunk) -> list[bytes]:
        out = self._start(chunk.id, chunk.model)
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                if self.open_kind != "text":
                    out += self._open({"type": "text", "text": ""}, "text")
                out.append(
                    _event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": self.index,
                            "delta": {"type": "text_delta", "text": delta.content},
                        },
                    )
                )
            for call in delta.tool_calls or ():
                block = self.tool_blocks.get(call.index)
                if block is None:
                    fn = call.function
                    out += self._open(
                        {
                            "type": "tool_use",
                            "id": call.id or f"toolu_{self.request_id}_{call.index}",
                            "name": (fn.name if fn is not None else None) or "",
                            "input": {},
                        },
                        "tool_use",
                    )
                    block = self.tool_blocks[call.index] = self.index
                if call.function is not None and call.function.arguments:
                    out.append(
                        _event(
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": block,
                                "delta": {
                                    "type": "input_json_delta",
                                    "partial_json": call.function.arguments,
                                },
                            },
                        )
                    )
            if choice.finish_reason:
                self.stop_reason = STOP_REASONS.get(choice.finish_reason, "end_turn")
        return out

    def finish(self, usage: Usage | None) -> bytes:
        """The closing events; ``usage`` is what was billed (the upstream's, else an estimate)."""
        out = self._start("", "")
        out += self._close()
        delta = {"stop_reason": self.stop_reason or "end_turn", "stop_sequence": None}
        out.append(
            _event(
                "message_delta",
                {"type": "message_delta", "delta": delta, "usage": usage_json(usage or self.usage)},
            )
        )
        out.append(_event("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def error(self, body: bytes) -> bytes:
        """``event: error`` with the Anthropic error envelope, after closing an open block."""
        head = self._start("", "") + self._close()
        return b"".join(head) + b"event: error\ndata: " + body + b"\n\n"
