"""The Anthropic Messages wire: ``message`` objects and the named-event SSE stream.

Usage follows the real API: ``input_tokens`` counts only uncached input, so the whole prompt is
``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from hybridllm.mock.replies import Prompt, Reply, ToolSpec
from hybridllm.mock.wire import StreamParts, WireError, WireName, text_of

__all__ = ["AnthropicWire"]

_STOP = {
    "stop": "end_turn",
    "stop_sequence": "stop_sequence",
    "length": "max_tokens",
    "tool": "tool_use",
}
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def _event(name: str, obj: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


def _block_text(block: Any) -> list[str]:
    """The prompt text of one content block (text, tool_result, tool_use input)."""
    if not isinstance(block, dict):
        return []
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str):
        return [block["text"]]
    if kind == "tool_result":
        return [text_of(block.get("content"))]
    if kind == "tool_use":
        return [orjson.dumps(block.get("input", {})).decode()]
    return []


class AnthropicWire:
    name: WireName = "anthropic"
    content_type = "text/event-stream; charset=utf-8"
    malformed = b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": \n\n'

    def api_key(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("x-api-key") or None

    def parse(self, body: Any, headers: Mapping[str, str], model: str, stream: bool) -> Prompt:
        if not headers.get("anthropic-version"):
            raise WireError(400, "anthropic-version: header is required")
        if not isinstance(body, dict):
            raise WireError(400, "There was an issue with your request body: not a JSON object")
        for name in ("model", "messages", "max_tokens"):
            if name not in body:
                raise WireError(400, f"{name}: Field required")
        if not isinstance(body["model"], str) or not isinstance(body["max_tokens"], int):
            raise WireError(400, "model: must be a string; max_tokens: must be an integer")
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            raise WireError(400, "messages: at least one message is required")
        if not all(
            isinstance(m, dict) and m.get("role") in ("user", "assistant") for m in messages
        ):
            raise WireError(400, "messages: each message needs role 'user' or 'assistant'")
        texts = [text_of(body.get("system"))]
        last_user = ""
        for m in messages:
            content = m.get("content")
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts.extend(t for block in content for t in _block_text(block))
            if m["role"] == "user":
                last_user = text_of(content)
        last = messages[-1].get("content")
        results = [
            b
            for b in (last if isinstance(last, list) else [])
            if isinstance(b, dict) and b.get("type") == "tool_result"
        ]
        tool_result = "\n".join(text_of(b.get("content")) for b in results) if results else None
        tools: list[ToolSpec] = []
        raw_tools = body.get("tools")
        if isinstance(raw_tools, list) and raw_tools:
            texts.append(orjson.dumps(raw_tools).decode())
            for t in raw_tools:
                if isinstance(t, dict) and isinstance(t.get("name"), str):
                    schema = t.get("input_schema")
                    tools.append(ToolSpec(t["name"], schema if isinstance(schema, dict) else {}))
        stops = body.get("stop_sequences")
        return Prompt(
            model=body["model"],
            stream=body.get("stream") is True,
            last_user_text=last_user,
            tool_result=tool_result,
            tools=tuple(tools),
            max_tokens=body["max_tokens"],
            stop=tuple(s for s in stops if isinstance(s, str)) if isinstance(stops, list) else (),
            text_bytes=sum(len(t.encode()) for t in texts),
        )

    def error_body(self, err: WireError) -> bytes:
        kind = _TYPES.get(err.status, "api_error" if err.status >= 500 else "invalid_request_error")
        error = {"type": kind, "message": err.message}
        return orjson.dumps({"type": "error", "error": error, "request_id": "req_mock"})

    def auth_error(self) -> WireError:
        return WireError(401, "invalid x-api-key")

    def context_error(self, tokens: int, window: int) -> WireError:
        return WireError(400, f"prompt is too long: {tokens} tokens > {window} maximum")

    def _usage(self, reply: Reply, output: int) -> dict[str, int]:
        return {
            "input_tokens": reply.prompt_tokens - reply.cached_tokens,
            "output_tokens": output,
            "cache_read_input_tokens": reply.cached_tokens,
            "cache_creation_input_tokens": 0,
        }

    def _message(self, prompt: Prompt, reply: Reply, rid: str, *, stream: bool) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if not stream:
            if reply.tool:
                tool = reply.tool
                block = {
                    "type": "tool_use",
                    "id": "toolu_mock_1",
                    "name": tool.name,
                    "input": tool.args,
                }
                content.append(block)
            else:
                content.append({"type": "text", "text": reply.text})
        out: dict[str, Any] = {
            "id": f"msg_{rid}",
            "type": "message",
            "role": "assistant",
            "content": content,
            "model": prompt.model,
            "stop_reason": None if stream else _STOP[reply.finish],
            "stop_sequence": None if stream else reply.stop_sequence,
        }
        if reply.usage:
            out["usage"] = self._usage(reply, 1 if stream else reply.completion_tokens)
        return out

    def complete(self, prompt: Prompt, reply: Reply, rid: str) -> bytes:
        return orjson.dumps(self._message(prompt, reply, rid, stream=False))

    def stream(self, prompt: Prompt, reply: Reply, rid: str, *, final: bool) -> StreamParts:
        parts = StreamParts()
        start = {"type": "message_start", "message": self._message(prompt, reply, rid, stream=True)}
        parts.head.append(_event("message_start", start))
        if reply.tool:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": "toolu_mock_1",
                "name": reply.tool.name,
                "input": {},
            }
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in reply.tool.chunks]
        else:
            block = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": w} for w in reply.chunks]
        parts.head.append(
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": block},
            )
        )
        parts.head.append(_event("ping", {"type": "ping"}))
        for delta in deltas:
            body = {"type": "content_block_delta", "index": 0, "delta": delta}
            parts.content.append(_event("content_block_delta", body))
        parts.tail.append(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
        message_delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": _STOP[reply.finish], "stop_sequence": reply.stop_sequence},
        }
        if reply.usage:
            message_delta["usage"] = {"output_tokens": reply.completion_tokens}
        parts.tail.append(_event("message_delta", message_delta))
        if final:
            parts.tail.append(_event("message_stop", {"type": "message_stop"}))
        return parts
