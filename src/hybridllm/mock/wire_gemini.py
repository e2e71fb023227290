"""The Gemini ``generateContent`` / ``streamGenerateContent?alt=sse`` wire."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from hybridllm.mock.replies import Prompt, Reply, ToolSpec
from hybridllm.mock.wire import StreamParts, WireError, WireName, text_of, texts_in

__all__ = ["GeminiWire"]

_FINISH = {"stop": "STOP", "stop_sequence": "STOP", "length": "MAX_TOKENS", "tool": "STOP"}
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _get(d: dict[str, Any], camel: str, snake: str) -> Any:
    return d.get(camel, d.get(snake))


def _part_texts(part: Any) -> list[str]:
    if not isinstance(part, dict):
        return []
    if isinstance(part.get("text"), str):
        return [part["text"]]
    for key in ("functionCall", "function_call", "functionResponse", "function_response"):
        if isinstance(part.get(key), dict):
            return [orjson.dumps(part[key]).decode()]
    return []


def _response_text(response: Any) -> str:
    """The text of a functionResponse ``response`` object."""
    if isinstance(response, dict):
        for key in ("result", "content", "output"):
            if isinstance(response.get(key), str):
                return str(response[key])
    return orjson.dumps(response).decode()


class GeminiWire:
    name: WireName = "gemini"
    content_type = "text/event-stream"
    malformed = b'data: {"candidates": [{"content": \r\n\r\n'

    def api_key(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("x-goog-api-key") or None

    def parse(self, body: Any, headers: Mapping[str, str], model: str, stream: bool) -> Prompt:
        if not isinstance(body, dict):
            raise WireError(400, "Invalid JSON payload received.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise WireError(400, "* GenerateContentRequest.contents: contents is not specified")
        if not all(isinstance(c, dict) and isinstance(c.get("parts"), list) for c in contents):
            raise WireError(400, "* GenerateContentRequest.contents: each content needs parts")
        system = _get(body, "systemInstruction", "system_instruction")
        texts = texts_in(system.get("parts")) if isinstance(system, dict) else []
        last_user = ""
        for c in contents:
            texts.extend(t for p in c["parts"] for t in _part_texts(p))
            if c.get("role", "user") != "model":
                text = text_of(c["parts"])
                if text:
                    last_user = text
        responses = [
            _get(p, "functionResponse", "function_response")
            for p in contents[-1]["parts"]
            if isinstance(p, dict)
            and isinstance(_get(p, "functionResponse", "function_response"), dict)
        ]
        tool_result = (
            "\n".join(_response_text(r.get("response")) for r in responses) if responses else None
        )
        tools: list[ToolSpec] = []
        raw_tools = body.get("tools")
        if isinstance(raw_tools, list) and raw_tools:
            texts.append(orjson.dumps(raw_tools).decode())
            for t in raw_tools:
                decls = (
                    _get(t, "functionDeclarations", "function_declarations")
                    if isinstance(t, dict)
                    else None
                )
                for d in decls if isinstance(decls, list) else []:
                    if isinstance(d, dict) and isinstance(d.get("name"), str):
                        params = d.get("parameters", d.get("parametersJsonSchema"))
                        tools.append(
                            ToolSpec(d["name"], params if isinstance(params, dict) else {})
                        )
        config = _get(body, "generationConfig", "generation_config")
        config = config if isinstance(config, dict) else {}
        cap = _get(config, "maxOutputTokens", "max_output_tokens")
        stops = _get(config, "stopSequences", "stop_sequences")
        mime = _get(config, "responseMimeType", "response_mime_type")
        return Prompt(
            model=model,
            stream=stream,
            last_user_text=last_user,
            tool_result=tool_result,
            tools=tuple(tools),
            json_mode=mime == "application/json",
            max_tokens=cap if isinstance(cap, int) else None,
            stop=tuple(s for s in stops if isinstance(s, str)) if isinstance(stops, list) else (),
            text_bytes=sum(len(t.encode()) for t in texts),
        )

    def error_body(self, err: WireError) -> bytes:
        status = _STATUS.get(err.status, "INTERNAL" if err.status >= 500 else "FAILED_PRECONDITION")
        return orjson.dumps(
            {"error": {"code": err.status, "message": err.message, "status": status}}
        )

    def auth_error(self) -> WireError:
        return WireError(401, "API key not valid. Please pass a valid API key.")

    def context_error(self, tokens: int, window: int) -> WireError:
        return WireError(
            400,
            f"The input token count ({tokens}) exceeds the maximum number of tokens allowed "
            f"({window}).",
        )

    def _usage(self, reply: Reply, output: int) -> dict[str, int]:
        usage = {
            "promptTokenCount": reply.prompt_tokens,
            "candidatesTokenCount": output,
            "totalTokenCount": reply.prompt_tokens + output,
        }
        if reply.cached_tokens:
            usage["cachedContentTokenCount"] = reply.cached_tokens
        return usage

    def _response(
        self,
        prompt: Prompt,
        reply: Reply,
        rid: str,
        parts: list[dict[str, Any]],
        output: int,
        finish: bool,
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = _FINISH[reply.finish]
        out: dict[str, Any] = {"candidates": [candidate]}
        if reply.usage:
            out["usageMetadata"] = self._usage(reply, output)
        out["modelVersion"] = prompt.model
        out["responseId"] = rid
        return out

    def _parts(self, reply: Reply) -> list[list[dict[str, Any]]]:
        """The model parts, one list per stream chunk."""
        if reply.tool:
            return [[{"functionCall": {"name": reply.tool.name, "args": reply.tool.args}}]]
        return [[{"text": word}] for word in reply.chunks]

    def complete(self, prompt: Prompt, reply: Reply, rid: str) -> bytes:
        parts = [p for chunk in self._parts(reply) for p in chunk]
        if not reply.tool:
            parts = [{"text": reply.text}]
        out = self._response(prompt, reply, rid, parts, reply.completion_tokens, True)
        return orjson.dumps(out)

    def stream(self, prompt: Prompt, reply: Reply, rid: str, *, final: bool) -> StreamParts:
        out = StreamParts()
        chunks = self._parts(reply)
        for i, parts in enumerate(chunks):
            last = final and i == len(chunks) - 1
            output = reply.completion_tokens if last else min(i + 1, reply.completion_tokens)
            body = self._response(prompt, reply, rid, parts, output, last)
            out.content.append(b"data: " + orjson.dumps(body) + b"\r\n\r\n")
        if final and not chunks:
            body = self._response(prompt, reply, rid, [{"text": ""}], 0, True)
            out.tail.append(b"data: " + orjson.dumps(body) + b"\r\n\r\n")
        return out

    def stream_array(self, prompt: Prompt, reply: Reply, rid: str) -> bytes:
        """``streamGenerateContent`` without ``alt=sse``: one JSON array of every chunk."""
        chunks = self._parts(reply) or [[{"text": ""}]]
        items = [
            self._response(
                prompt,
                reply,
                rid,
                parts,
                reply.completion_tokens if i == len(chunks) - 1 else i + 1,
                i == len(chunks) - 1,
            )
            for i, parts in enumerate(chunks)
        ]
        return orjson.dumps(items)
