"""The OpenAI chat completions wire: ``chat.completion`` and ``chat.completion.chunk`` SSE."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from hybridllm.mock.replies import Prompt, Reply, ToolSpec
from hybridllm.mock.wire import StreamParts, WireError, WireName, text_of

__all__ = ["OpenAIWire"]

_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool": "tool_calls"}
_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "requests",
}
_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded", 404: "model_not_found"}


def _event(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _usage(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


class OpenAIWire:
    name: WireName = "openai"
    content_type = "text/event-stream; charset=utf-8"
    malformed = b'data: {"id": "chatcmpl-mock", "choices": [{"delta": {"content": \n\n'

    def api_key(self, headers: Mapping[str, str]) -> str | None:
        auth = headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return headers.get("api-key") or None

    def parse(self, body: Any, headers: Mapping[str, str], model: str, stream: bool) -> Prompt:
        if not isinstance(body, dict):
            raise WireError(400, "We could not parse the JSON body of your request.")
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise WireError(400, "you must provide a model parameter", "missing_required_parameter")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise WireError(
                400, "Missing required parameter: 'messages'.", "missing_required_parameter"
            )
        if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
            raise WireError(400, "Invalid 'messages': each message needs a 'role'.", "invalid_type")
        texts: list[str] = []
        last_user = ""
        for m in messages:
            text = text_of(m.get("content"))
            texts.append(text)
            for call in m.get("tool_calls") or []:
                args = call.get("function", {}).get("arguments") if isinstance(call, dict) else None
                if isinstance(args, str):
                    texts.append(args)
            if m["role"] == "user":
                last_user = text
        last = messages[-1]
        tool_result = text_of(last.get("content")) if last["role"] == "tool" else None
        tools: list[ToolSpec] = []
        raw_tools = body.get("tools")
        if isinstance(raw_tools, list) and raw_tools:
            texts.append(orjson.dumps(raw_tools).decode())
            for t in raw_tools:
                fn = t.get("function") if isinstance(t, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                    params = fn.get("parameters")
                    tools.append(ToolSpec(fn["name"], params if isinstance(params, dict) else {}))
        fmt = body.get("response_format")
        json_mode = isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")
        cap = body.get("max_completion_tokens") or body.get("max_tokens")
        stop = body.get("stop")
        stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
        opts = body.get("stream_options")
        return Prompt(
            model=body["model"],
            stream=body.get("stream") is True,
            last_user_text=last_user,
            tool_result=tool_result,
            tools=tuple(tools),
            json_mode=json_mode,
            max_tokens=cap if isinstance(cap, int) else None,
            stop=tuple(s for s in stops if isinstance(s, str)),
            text_bytes=sum(len(t.encode()) for t in texts),
            include_usage=isinstance(opts, dict) and opts.get("include_usage") is True,
        )

    def error_body(self, err: WireError) -> bytes:
        kind = _TYPES.get(
            err.status, "server_error" if err.status >= 500 else "invalid_request_error"
        )
        code = err.code or _CODES.get(err.status)
        param = "messages" if code == "context_length_exceeded" else None
        return orjson.dumps(
            {"error": {"message": err.message, "type": kind, "param": param, "code": code}}
        )

    def auth_error(self) -> WireError:
        return WireError(401, "Incorrect API key provided.", "invalid_api_key")

    def context_error(self, tokens: int, window: int) -> WireError:
        return WireError(
            400,
            f"This model's maximum context length is {window} tokens. However, your messages "
            f"resulted in {tokens} tokens. Please reduce the length of the messages.",
            "context_length_exceeded",
        )

    def _message(self, reply: Reply) -> dict[str, Any]:
        if reply.tool:
            call = {"name": reply.tool.name, "arguments": reply.tool.arguments}
            return {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_mock_1", "type": "function", "function": call}],
                "refusal": None,
            }
        return {"role": "assistant", "content": reply.text, "refusal": None}

    def complete(self, prompt: Prompt, reply: Reply, rid: str) -> bytes:
        out: dict[str, Any] = {
            "id": f"chatcmpl-{rid}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": prompt.model,
            "choices": [
                {
                    "index": 0,
                    "message": self._message(reply),
                    "logprobs": None,
                    "finish_reason": _FINISH[reply.finish],
                }
            ],
            "system_fingerprint": "fp_mock",
        }
        if reply.usage:
            out["usage"] = _usage(reply)
        return orjson.dumps(out)

    def stream(self, prompt: Prompt, reply: Reply, rid: str, *, final: bool) -> StreamParts:
        with_usage = prompt.include_usage and reply.usage
        base: dict[str, Any] = {
            "id": f"chatcmpl-{rid}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": prompt.model,
            "system_fingerprint": "fp_mock",
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            extra: dict[str, Any] = {"usage": None} if with_usage else {}
            return _event({**base, "choices": [choice], **extra})

        parts = StreamParts()
        if reply.tool:
            call = {"name": reply.tool.name, "arguments": ""}
            first = {"index": 0, "id": "call_mock_1", "type": "function", "function": call}
            parts.head.append(chunk({"role": "assistant", "content": None, "tool_calls": [first]}))
            for piece in reply.tool.chunks:
                delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                parts.content.append(chunk(delta))
        else:
            parts.head.append(chunk({"role": "assistant", "content": "", "refusal": None}))
            parts.content.extend(chunk({"content": word}) for word in reply.chunks)
        parts.tail.append(chunk({}, _FINISH[reply.finish]))
        if with_usage:
            parts.tail.append(_event({**base, "choices": [], "usage": _usage(reply)}))
        if final:
            parts.tail.append(b"data: [DONE]\n\n")
        return parts
