"""The mock upstream HTTP server: routing, fault application, streaming, records, control API.

URL layout: any path prefix (zero or more segments, the *deployment*) followed by a wire path::

    POST {prefix}/v1/chat/completions                                  OpenAI
    POST {prefix}/v1/messages                                          Anthropic
    POST {prefix}/v1beta/models/{model}:generateContent                Gemini
    POST {prefix}/v1beta/models/{model}:streamGenerateContent?alt=sse  Gemini stream
    GET  {prefix}/api/tags, GET {prefix}/v1/models                     model lists

    GET  /_mock/requests[?prefix=X]   POST /_mock/faults   GET /_mock/faults   POST /_mock/reset
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from hybridllm.mock.faults import FaultBook, FaultRule, parse_rules, parse_rules_mapping
from hybridllm.mock.records import RecordedRequest, sha256_hex
from hybridllm.mock.replies import Prompt, Reply, plan_reply
from hybridllm.mock.wire import Wire, WireError
from hybridllm.mock.wire_anthropic import AnthropicWire
from hybridllm.mock.wire_gemini import GeminiWire
from hybridllm.mock.wire_openai import OpenAIWire

__all__ = ["OLLAMA_MODELS", "MockUpstream"]

OLLAMA_MODELS = ("llama3.2:3b", "llama3.3:14b")
_OPENAI = re.compile(r"^(?P<prefix>.*?)/v1/chat/completions/?$")
_ANTHROPIC = re.compile(r"^(?P<prefix>.*?)/v1/messages/?$")
_GEMINI = re.compile(
    r"^(?P<prefix>.*?)/v1beta/models/(?P<model>[^/]+?):"
    r"(?P<method>generateContent|streamGenerateContent)$"
)
_TAGS = re.compile(r"^(?P<prefix>.*?)/api/tags/?$")
_MODELS = re.compile(r"^(?P<prefix>.*?)/v1/models/?$")
_DEFAULT_MESSAGES = {
    429: "Rate limit reached (mock). Please try again later.",
    500: "The server had an error while processing your request (mock).",
    502: "Bad gateway (mock).",
    503: "The model is overloaded. Please try again later (mock).",
    529: "Overloaded (mock).",
}


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


def _seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


class MockUpstream:
    """A fake OpenAI / Anthropic / Gemini / Ollama upstream on loopback HTTP.

    ``async with MockUpstream() as mock:`` starts it on a free port of 127.0.0.1.
    """

    def __init__(
        self, faults: Mapping[str, list[FaultRule | dict[str, Any]]] | None = None
    ) -> None:
        self.records: list[RecordedRequest] = []
        self._faults = FaultBook()
        self._wires: dict[str, Wire] = {
            "openai": OpenAIWire(),
            "anthropic": AnthropicWire(),
            "gemini": GeminiWire(),
        }
        self._gemini = GeminiWire()
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._next_id = 0
        self._url = ""
        self._port = 0
        for prefix, rules in (faults or {}).items():
            self.set_faults(prefix, rules)

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        return self._url

    @property
    def port(self) -> int:
        return self._port

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_get("/_mock/requests", self._get_requests)
        app.router.add_get("/_mock/faults", self._get_faults)
        app.router.add_post("/_mock/faults", self._post_faults)
        app.router.add_post("/_mock/reset", self._post_reset)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._closing = asyncio.Event()
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._url = f"http://{host}:{self._port}"
        return self._url

    async def stop(self) -> None:
        """Stop serving; hung and stalled answers are dropped."""
        self._closing.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> MockUpstream:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- state -----------------------------------------------------------------------------
    def records_for(self, prefix: str) -> list[RecordedRequest]:
        prefix = prefix.strip("/")
        return [r for r in self.records if r.prefix == prefix]

    def set_faults(self, prefix: str, rules: list[FaultRule | dict[str, Any]]) -> None:
        """Replace the rules of ``prefix`` (``""`` for no prefix). ``ValueError`` if malformed."""
        self._faults.set(prefix, parse_rules(rules))

    def faults(self) -> dict[str, list[FaultRule]]:
        return self._faults.all()

    def reset(self) -> None:
        """Forget records, rules and counters."""
        self.records.clear()
        self._faults.clear()
        self._next_id = 0

    # -- control API -----------------------------------------------------------------------
    async def _get_requests(self, request: web.Request) -> web.Response:
        prefix = request.query.get("prefix")
        records = self.records if prefix is None else self.records_for(prefix)
        return _json([r.to_dict() for r in records])

    async def _get_faults(self, request: web.Request) -> web.Response:
        return _json({p: [r.to_dict() for r in rules] for p, rules in self.faults().items()})

    async def _post_faults(self, request: web.Request) -> web.Response:
        try:
            parsed = parse_rules_mapping(orjson.loads(await request.read()))
        except (orjson.JSONDecodeError, ValueError) as exc:
            return _json({"error": str(exc)}, 400)
        for prefix, rules in parsed.items():
            self._faults.set(prefix, rules)
        return _json({"ok": True, "prefixes": sorted(parsed)})

    async def _post_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return _json({"ok": True})

    # -- upstream API ----------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if m := _OPENAI.match(path):
            return await self._chat(request, self._wires["openai"], m["prefix"], "", False)
        if m := _ANTHROPIC.match(path):
            return await self._chat(request, self._wires["anthropic"], m["prefix"], "", False)
        if m := _GEMINI.match(path):
            stream = m["method"] == "streamGenerateContent"
            return await self._chat(request, self._wires["gemini"], m["prefix"], m["model"], stream)
        if request.method == "GET" and _TAGS.match(path):
            models = [
                {"name": n, "model": n, "modified_at": "2025-01-01T00:00:00Z", "size": 0}
                for n in OLLAMA_MODELS
            ]
            return _json({"models": models})
        if request.method == "GET" and _MODELS.match(path):
            data = [
                {"id": n, "object": "model", "created": 0, "owned_by": "mock"}
                for n in OLLAMA_MODELS
            ]
            return _json({"object": "list", "data": data})
        error = {"message": f"Unknown path {path} (mock upstream)", "type": "invalid_request_error"}
        return _json({"error": {**error, "code": "not_found"}}, 404)

    async def _chat(
        self, request: web.Request, wire: Wire, prefix: str, path_model: str, stream: bool
    ) -> web.StreamResponse:
        if request.method != "POST":
            return self._error(wire, None, WireError(405, f"Method {request.method} not allowed"))
        prefix = prefix.strip("/")
        raw = await request.read()
        try:
            body: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        url_key = request.query.get("key")
        key = wire.api_key(request.headers) or url_key
        self._next_id += 1
        rid = f"mock{self._next_id}"
        model = body.get("model") if isinstance(body, dict) else None
        record = RecordedRequest(
            prefix=prefix,
            wire=wire.name,
            path=request.path,
            model=path_model or (model if isinstance(model, str) else ""),
            stream=stream or (isinstance(body, dict) and body.get("stream") is True),
            body=body if isinstance(body, dict) else {},
            key_sha256=sha256_hex(key),
            key_in_url=url_key is not None,
            ts=time.time(),
        )
        self.records.append(record)
        try:
            prompt = wire.parse(body, request.headers, path_model, stream)
        except WireError as err:
            return self._error(wire, record, err)
        rule = self._faults.match(prefix, key, prompt.prompt_tokens)
        if rule is not None:
            if rule.delay:
                await self._sleep(rule.delay)
            if rule.hang:
                await self._hold(request)
                return await self._drop(request)
            failure = self._rule_error(wire, rule, key, prompt)
            if failure is not None:
                response = self._error(wire, record, failure)
                if rule.retry_after is not None:
                    response.headers["Retry-After"] = _seconds(rule.retry_after)
                if rule.retry_after_ms is not None:
                    response.headers["retry-after-ms"] = str(rule.retry_after_ms)
                return response
        reply = plan_reply(prompt, rule)
        if not prompt.stream:
            if rule is not None and rule.close_after is not None:
                return await self._drop(request)
            record.status = 200
            return web.Response(
                body=wire.complete(prompt, reply, rid),
                content_type="application/json",
                headers={"x-request-id": rid},
            )
        if wire.name == "gemini" and request.query.get("alt") != "sse":
            record.status = 200
            payload = self._gemini.stream_array(prompt, reply, rid)
            return web.Response(body=payload, content_type="application/json")
        return await self._stream(request, wire, record, prompt, reply, rule, rid)

    def _rule_error(
        self, wire: Wire, rule: FaultRule, key: str | None, prompt: Prompt
    ) -> WireError | None:
        if rule.expect_key is not None and key != rule.expect_key:
            return wire.auth_error()
        window = rule.context_window
        if window is not None and prompt.prompt_tokens > window:
            return wire.context_error(prompt.prompt_tokens, window)
        if rule.status is not None and rule.status >= 400:
            message = rule.message or _DEFAULT_MESSAGES.get(
                rule.status, f"Mock error {rule.status}"
            )
            return WireError(rule.status, message)
        return None

    def _error(self, wire: Wire, record: RecordedRequest | None, err: WireError) -> web.Response:
        if record is not None:
            record.status = err.status
        return web.Response(
            body=wire.error_body(err), status=err.status, content_type="application/json"
        )

    async def _stream(
        self,
        request: web.Request,
        wire: Wire,
        record: RecordedRequest,
        prompt: Prompt,
        reply: Reply,
        rule: FaultRule | None,
        rid: str,
    ) -> web.StreamResponse:
        final = not (rule is not None and rule.no_final_event)
        parts = wire.stream(prompt, reply, rid, final=final)
        resp = web.StreamResponse(
            headers={
                "Content-Type": wire.content_type,
                "Cache-Control": "no-cache",
                "x-request-id": rid,
            }
        )
        await resp.prepare(request)
        record.status = 200
        try:
            for event in parts.head:
                await resp.write(event)
            for i in range(len(parts.content) + 1):
                if rule is not None:
                    if rule.stall_after is not None and i == min(
                        rule.stall_after, len(parts.content)
                    ):
                        await self._hold(request)
                        return await self._drop(request, resp)
                    if rule.close_after is not None and i == min(
                        rule.close_after, len(parts.content)
                    ):
                        return await self._drop(request, resp)
                    if rule.malformed_after is not None and i == min(
                        rule.malformed_after, len(parts.content)
                    ):
                        await resp.write(wire.malformed)
                    if rule.chunk_delay and 0 < i < len(parts.content):
                        await self._sleep(rule.chunk_delay)
                if i < len(parts.content):
                    await resp.write(parts.content[i])
            for event in parts.tail:
                await resp.write(event)
            await resp.write_eof()
        except ConnectionError:
            pass
        return resp

    # -- timing helpers --------------------------------------------------------------------
    async def _sleep(self, seconds: float) -> None:
        """Sleep, cut short when the server stops."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closing.wait()

    async def _hold(self, request: web.Request) -> None:
        """Keep the connection open, sending nothing, until the client leaves or we stop."""
        while not self._closing.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            await self._sleep(0.05)

    async def _drop(
        self, request: web.Request, resp: web.StreamResponse | None = None
    ) -> web.StreamResponse:
        """Close the connection without finishing the answer.

        aiohttp then fails to write the returned response to the closed transport and, as for any
        client that went away, ignores it quietly.
        """
        transport = request.transport
        if transport is not None:
            transport.abort()
        return resp if resp is not None else web.Response(status=204)
