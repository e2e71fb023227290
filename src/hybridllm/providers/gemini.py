"""The Gemini ``generateContent`` wire format.

``POST {url}/models/{model}:generateContent``, streamed as ``:streamGenerateContent?alt=sse``; the
key travels only in the ``x-goog-api-key`` header, never in the URL. Request: system messages
become ``systemInstruction``; roles are ``user`` and ``model``; tool calls and results become
``functionCall`` / ``functionResponse`` parts (a result's function name is looked up from the call
it answers; replayed calls carry the placeholder thought signature); tools are declared with
``parametersJsonSchema`` (plain JSON Schema, no OpenAPI subset to translate into). Answer: text
parts joined (thought summaries left out), function calls as tool calls with synthesised ids,
usage with thoughts counted as completion tokens.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from hybridllm.errors import StreamBrokenError
from hybridllm.providers.convert import (
    load_arguments,
    new_id,
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

__all__ = ["GeminiAdapter", "StreamTranslator", "build_body", "parse_response", "parse_usage"]

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}
_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
# Gemini 3 refuses replayed function calls without the thought signature they came with. Our
# OpenAI-shaped history has nowhere to keep it, so replayed calls carry Google's documented
# placeholder, which skips the check (the model loses that step's reasoning state, not the call).
SKIP_SIGNATURE = "skip_thought_signature_validator"


# -- request ---------------------------------------------------------------------------------


def _parts(message: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in parts_of(message):
        if part.type == "text" and part.text:
            parts.append({"text": part.text})
        elif part.type == "image_url" and part.image_url is not None:
            url = part.image_url.url
            data = parse_data_url(url)
            if data is not None:
                parts.append({"inlineData": {"mimeType": data.mime, "data": data.data}})
            else:
                file: dict[str, str] = {"fileUri": url}
                mime = mimetypes.guess_type(url.split("?", 1)[0])[0]
                if mime:
                    file["mimeType"] = mime
                parts.append({"fileData": file})
    return parts


def _result(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _contents(messages: list[Message]) -> list[dict[str, Any]]:
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name, as of this point of the chat

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    for m in messages:
        if m.role in ("system", "developer"):
            continue
        if m.role == "tool":
            name = names.get(m.tool_call_id or "") or m.name or "tool"
            response = {"name": name, "response": {"result": _result(message_text(m))}}
            add("user", [{"functionResponse": response}])
        elif m.role == "assistant":
            parts = _parts(m)
            for call in m.tool_calls or ():
                names[call.id] = call.function.name
                args = load_arguments(call.function.arguments)
                parts.append(
                    {
                        "functionCall": {"name": call.function.name, "args": args},
                        "thoughtSignature": SKIP_SIGNATURE,
                    }
                )
            add("model", parts)
        else:
            add("user", _parts(m))
    return contents


def _tool_config(choice: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        mode = _MODES.get(choice)
        return {"functionCallingConfig": {"mode": mode}} if mode else None
    name = tool_choice_name(choice)
    if not name:
        return None
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}


def _generation_config(request: ChatRequest, deployment: Deployment) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    cap = request.output_cap or deployment.max_output_tokens
    if cap:
        config["maxOutputTokens"] = cap
    stops = request.stop_list()
    if stops:
        config["stopSequences"] = stops
    if request.seed is not None:
        config["seed"] = request.seed
    fmt = request.response_format
    if fmt is not None and fmt.type in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (fmt.json_schema or {}).get("schema") if fmt.type == "json_schema" else None
        if isinstance(schema, dict):
            config["responseJsonSchema"] = schema
    return config


def build_body(request: ChatRequest, deployment: Deployment) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": _contents(request.messages)}
    system = system_text(request.messages)
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    if request.tools:
        declarations = []
        for tool in request.tools:
            declaration: dict[str, Any] = {"name": tool.function.name}
            if tool.function.description:
                declaration["description"] = tool.function.description
            if tool.function.parameters:
                declaration["parametersJsonSchema"] = tool.function.parameters
            declarations.append(declaration)
        body["tools"] = [{"functionDeclarations": declarations}]
        tool_config = _tool_config(request.tool_choice)
        if tool_config is not None:
            body["toolConfig"] = tool_config
    config = _generation_config(request, deployment)
    if config:
        body["generationConfig"] = config
    return body


def _url(deployment: Deployment, *, stream: bool) -> str:
    model = deployment.model.removeprefix("models/")
    if stream:
        return f"{deployment.url}/models/{model}:streamGenerateContent?alt=sse"
    return f"{deployment.url}/models/{model}:generateContent"


def _headers(deployment: Deployment, *, stream: bool) -> dict[str, str]:
    headers = {"Content-Type": "application/json", **deployment.headers}
    if stream:
        headers["Accept"] = "text/event-stream"
    key = deployment.key
    if key:
        headers["x-goog-api-key"] = key
    return headers


# -- answer ----------------------------------------------------------------------------------


def parse_usage(data: Mapping[str, Any] | None) -> Usage | None:
    if not data:
        return None
    return Usage(
        prompt_tokens=(data.get("promptTokenCount") or 0)
        + (data.get("toolUsePromptTokenCount") or 0),
        completion_tokens=(data.get("candidatesTokenCount") or 0)
        + (data.get("thoughtsTokenCount") or 0),
        cached_tokens=data.get("cachedContentTokenCount") or 0,
    )


def _finish(reason: str | None, has_calls: bool) -> str | None:
    if reason is None:
        return None
    if has_calls and reason == "STOP":
        return "tool_calls"
    return FINISH_REASONS.get(reason, "stop")


def _candidate(data: Mapping[str, Any]) -> Mapping[str, Any]:
    candidates = data.get("candidates")
    return candidates[0] if candidates else {}


def _split(candidate: Mapping[str, Any]) -> tuple[str, list[ToolCall]]:
    """A candidate's answer text (thoughts left out) and its function calls."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    for part in (candidate.get("content") or {}).get("parts") or ():
        if "text" in part:
            if not part.get("thought"):
                texts.append(part["text"] or "")
        elif "functionCall" in part:
            fc = part["functionCall"]
            call_id = fc.get("id") or new_id("call_")
            arguments = orjson.dumps(fc.get("args") or {}).decode()
            calls.append(
                ToolCall(id=call_id, function=FunctionCall(name=fc["name"], arguments=arguments))
            )
    return "".join(texts), calls


def _blocked(data: Mapping[str, Any]) -> bool:
    return bool((data.get("promptFeedback") or {}).get("blockReason"))


def parse_response(data: Mapping[str, Any], deployment: Deployment) -> ChatResponse:
    candidate = _candidate(data)
    text, calls = _split(candidate)
    finish = _finish(candidate.get("finishReason"), bool(calls))
    if not candidate and _blocked(data):
        finish = "content_filter"
    message = Message(
        role="assistant",
        content=text if text or not calls else None,
        tool_calls=calls or None,
    )
    return ChatResponse(
        id=data.get("responseId") or new_id("gen-"),
        model=data.get("modelVersion") or deployment.model,
        choices=[Choice(message=message, finish_reason=finish)],
        usage=parse_usage(data.get("usageMetadata")),
        created=now(),
    )


class StreamTranslator:
    """Each streamed ``GenerateContentResponse`` in, OpenAI-style chunks out."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.id = ""
        self.model = deployment.model
        self.created = now()
        self.finished = False
        self._calls = 0
        self._started = False
        self._usage: Mapping[str, Any] | None = None

    def usage(self) -> Usage | None:
        return parse_usage(self._usage)

    def feed(self, data: Mapping[str, Any]) -> list[ChatChunk]:
        if "error" in data:
            raise error_from_payload(data, self.deployment)
        self.id = self.id or data.get("responseId") or new_id("gen-")
        self.model = data.get("modelVersion") or self.model
        if data.get("usageMetadata"):
            self._usage = data["usageMetadata"]
        candidate = _candidate(data)
        text, calls = _split(candidate)
        deltas = [
            ToolCallDelta(
                index=self._calls + i,
                id=call.id,
                type="function",
                function=FunctionCallDelta(
                    name=call.function.name, arguments=call.function.arguments
                ),
            )
            for i, call in enumerate(calls)
        ]
        self._calls += len(calls)
        reason = candidate.get("finishReason")
        finish = _finish(reason, self._calls > 0) if reason else None
        if finish is None and not candidate and _blocked(data):
            finish = "content_filter"
        if finish is not None:
            self.finished = True
        if not text and not deltas and finish is None and self._started:
            return []
        delta = Delta(content=text or None, tool_calls=deltas or None)
        if not self._started:
            self._started = True
            delta.role = "assistant"
            if delta.content is None and not deltas:
                delta.content = ""
        chunk = ChatChunk(
            id=self.id,
            model=self.model,
            choices=[ChunkChoice(delta=delta, finish_reason=finish)],
            created=self.created,
        )
        return [chunk]

    def usage_chunk(self) -> ChatChunk | None:
        usage = self.usage()
        if usage is None:
            return None
        return ChatChunk(
            id=self.id, model=self.model, choices=[], usage=usage, created=self.created
        )


class GeminiAdapter:
    """``generateContent`` / ``streamGenerateContent?alt=sse`` with ``x-goog-api-key``."""

    wire = "gemini"

    async def complete(
        self, session: aiohttp.ClientSession, deployment: Deployment, request: ChatRequest
    ) -> ChatResponse:
        body = orjson.dumps(build_body(request, deployment))
        url = _url(deployment, stream=False)
        raw = await fetch(session, deployment, url, body, _headers(deployment, stream=False))
        return parse_response(load_json(raw, deployment), deployment)

    async def stream(
        self, session: aiohttp.ClientSession, deployment: Deployment, request: ChatRequest
    ) -> AsyncIterator[ChatChunk]:
        body = orjson.dumps(build_body(request, deployment))
        url = _url(deployment, stream=True)
        headers = _headers(deployment, stream=True)
        state = StreamTranslator(deployment)
        async with (
            post(session, deployment, url, body, headers) as resp,
            aclosing(iter_sse(resp, deployment)) as events,
        ):
            async for event in events:
                data = parse_data(event, deployment)
                if isinstance(data, list):  # an array-framed answer: take its items in order
                    items = data
                elif isinstance(data, dict):
                    items = [data]
                else:
                    raise StreamBrokenError(
                        f"{deployment.name}: unexpected stream event", deployment=deployment.name
                    )
                for item in items:
                    for chunk in state.feed(item):
                        yield chunk
        if not state.finished:
            raise StreamBrokenError(
                f"{deployment.name}: stream ended without a finishReason",
                deployment=deployment.name,
            )
        usage = state.usage_chunk()
        if usage is not None:
            yield usage
