"""The model routes: ``POST /v1/chat/completions``, ``POST /v1/messages`` and ``POST /v1/route``.

One path for both protocols::

    auth -> body (size limit) -> guard (no provider URL/key) -> decode (OpenAI | Anthropic)
         -> model check ("auto" or a deployment) -> hints -> router.plan -> dispatch -> encode

Streams: the response starts only once dispatch has the first chunk (fallback is over, so route,
deployment and attempts are known and go in the headers). An error before that is an ordinary
HTTP error; after it, an in-band error event and a clean close. The hot path uses msgspec and
orjson only; metrics are derived from the ledger rows (see :mod:`hybridllm.server.rows`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import Response

from hybridllm.dispatch.record import CallContext
from hybridllm.dispatch.result import StreamMeta
from hybridllm.errors import HybridLLMError
from hybridllm.redact import install_log_redaction
from hybridllm.router import Plan, Router
from hybridllm.runtime import Runtime
from hybridllm.server.anthropic_front import AnthropicStream, decode_messages, encode_message
from hybridllm.server.auth import Caller, KeyRing
from hybridllm.server.envelope import (
    Flavor,
    GatewayError,
    error_body,
    error_headers,
    from_engine_error,
)
from hybridllm.server.inbound import HintParser, guard_body, read_body
from hybridllm.server.metrics import FLUSH_INTERVAL, GatewayMetrics
from hybridllm.server.openai_front import (
    DONE,
    decode_guarded_chat,
    encode_chunk,
    encode_response,
    encode_usage_chunk,
    sse_error,
)
from hybridllm.server.rows import MetricsSink
from hybridllm.server.sse import SSEResponse
from hybridllm.types import ChatChunk, ChatRequest

__all__ = ["Gateway"]

log = logging.getLogger("hybridllm.server")
install_log_redaction()

JSON = "application/json"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_API = {Flavor.OPENAI: "chat_completions", Flavor.ANTHROPIC: "messages"}


class _RequestIds:
    """32 hex characters, like ``uuid4().hex``, without a syscall per request: 64 random bits per
    process (fresh after a fork) followed by a 64-bit counter. Unique across the workers of one
    gateway and across restarts with overwhelming probability (the ledger's key needs that)."""

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)  # a forked worker: a new prefix

    def reseed(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count(int.from_bytes(os.urandom(4), "big"))

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFFFFFF:016x}"


new_request_id = _RequestIds()


def _cost(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.8f}"


@dataclass(slots=True)
class _Outcome:
    """How a stream ended, for metrics: the HTTP-like status (499: the client left)."""

    status: int = 200


class Gateway:
    """The engine behind the routes: router, runtime, keys, hint parser, metrics."""

    def __init__(
        self, router: Router, *, ledger_url: str | None = None, durable: bool = True
    ) -> None:
        self.router = router
        self.ledger_url = ledger_url
        # durable: a reply waits for its ledger row's commit (a reply the caller received has
        # its row, even after kill -9). False answers first and commits within the writer's
        # flush interval: a crash can lose the rows of replies already sent.
        self.durable = durable
        config = router.config
        self.keys = KeyRing(config.server.keys)
        self.hints = HintParser(d.tier for d in config.deployments.values())
        centers = {k.cost_center for k in config.server.keys if k.cost_center}
        centers |= {b.cost_center for b in config.budgets if b.cost_center}
        self.metrics = GatewayMetrics(centers)
        self.max_body = config.server.max_body_bytes
        self.deployments = tuple(config.deployments)
        self._models = frozenset(self.deployments) | {"auto", ""}
        self.runtime: Runtime | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        runtime = Runtime(self.router, ledger_url=self.ledger_url, durable=self.durable)
        await runtime.start()
        dispatcher = runtime.dispatcher
        assert dispatcher is not None and dispatcher.ledger is not None
        dispatcher.ledger = MetricsSink(dispatcher.ledger, self.metrics)
        if runtime.shared is not None:
            from hybridllm.state.metrics import SharedStateCollector

            self.metrics.registry.register(SharedStateCollector(runtime.shared))
        if self.metrics.multiprocess:  # another worker may answer the scrape: publish counts
            self._flusher = asyncio.create_task(self._flush_metrics())
        self.runtime = runtime

    async def _flush_metrics(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                self.metrics.flush()
            except Exception:  # metrics must never stop the gateway
                log.exception("metrics: could not flush the counts")

    async def close(self) -> None:
        if self._flusher is not None:
            flusher, self._flusher = self._flusher, None
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        self.metrics.flush()
        runtime, self.runtime = self.runtime, None
        if runtime is not None:
            await runtime.close()  # closes the upstream session, flushes the ledger

    # -- shared pieces -------------------------------------------------------------------------

    @staticmethod
    def request_id(headers: Mapping[str, str]) -> str:
        incoming = headers.get("x-request-id")
        if incoming is not None and _REQUEST_ID.match(incoming):
            return incoming
        return new_request_id()

    def error(
        self, flavor: Flavor, err: GatewayError, headers: Mapping[str, str] | None = None
    ) -> Response:
        out = error_headers(err)
        if headers:
            out.update(headers)
        return Response(error_body(flavor, err), err.status, out, JSON)

    def _runtime(self) -> Runtime:
        if self.runtime is None:
            raise GatewayError(503, "the gateway is starting or stopping", "unavailable")
        return self.runtime

    async def _prepare(self, request: Request, flavor: Flavor) -> tuple[Caller, ChatRequest, Plan]:
        caller = self.keys.authenticate(request.headers)
        body = await read_body(request, self.max_body)
        if flavor is Flavor.OPENAI:
            chat, body_hints = decode_guarded_chat(body)
        else:
            body_hints = guard_body(body)
            chat = decode_messages(body)
        if chat.model not in self._models:
            names = ", ".join(("auto", *self.deployments))
            raise GatewayError(
                404,
                f"the model '{chat.model}' is not served here; use 'auto' (routed) or one of "
                f"the deployments: {names}",
                "invalid_request_error",
                "model_not_found",
                "model",
            )
        hints = self.hints.parse(request.headers.raw, body_hints, caller)
        return caller, chat, self.router.plan(chat, hints)

    # -- POST /v1/route ------------------------------------------------------------------------

    async def route(self, request: Request) -> Response:
        rid = self.request_id(request.headers)
        try:
            _caller, _chat, plan = await self._prepare(request, Flavor.OPENAI)
        except GatewayError as err:
            return self.error(Flavor.OPENAI, err, {"x-request-id": rid})
        except HybridLLMError as exc:
            return self.error(Flavor.OPENAI, from_engine_error(exc), {"x-request-id": rid})
        decision = plan.decision
        headers = {
            "x-request-id": rid,
            "x-hybridllm-route": decision.route,
            "x-hybridllm-deployment": decision.deployment or "",
        }
        return Response(orjson.dumps(decision.to_json()), 200, headers, JSON)

    # -- POST /v1/chat/completions, POST /v1/messages ------------------------------------------

    async def chat_completions(self, request: Request) -> Response:
        return await self._answer(request, Flavor.OPENAI)

    async def messages(self, request: Request) -> Response:
        return await self._answer(request, Flavor.ANTHROPIC)

    async def _answer(self, request: Request, flavor: Flavor) -> Response:
        started = time.perf_counter()
        api = _API[flavor]
        rid = self.request_id(request.headers)
        m = self.metrics
        m.enter(api)
        streaming = False
        try:
            try:
                caller, chat, plan = await self._prepare(request, flavor)
                runtime = self._runtime()
            except (GatewayError, HybridLLMError) as exc:
                failure = exc if isinstance(exc, GatewayError) else from_engine_error(exc)
                m.observe(api, "", None, failure.status, time.perf_counter() - started)
                return self.error(flavor, failure, {"x-request-id": rid})
            decision = plan.decision
            ctx = CallContext(rid, decision.features.cost_center, caller.key_name)
            if chat.stream:
                response = await self._stream(runtime, plan, ctx, flavor, chat, started)
                streaming = isinstance(response, SSEResponse)
                return response
            try:
                done = await runtime.complete_plan(plan, ctx)
            except HybridLLMError as exc:
                failed = from_engine_error(exc)
                m.observe(api, decision.route, None, failed.status, time.perf_counter() - started)
                headers = {"x-request-id": rid, "x-hybridllm-route": decision.route}
                return self.error(flavor, failed, headers)
            if flavor is Flavor.OPENAI:
                body = encode_response(done.response)
            else:
                body = encode_message(done.response, rid)
            headers = {
                "x-request-id": rid,
                "x-hybridllm-route": decision.route,
                "x-hybridllm-deployment": done.deployment,
                "x-hybridllm-cost-usd": _cost(done.cost_usd),
                "x-hybridllm-attempts": str(done.attempts),
            }
            m.observe(
                api,
                decision.route,
                done.deployment,
                200,
                time.perf_counter() - started,
                done.cost_usd,
                done.baseline_cost_usd,
                ctx.cost_center,
            )
            return Response(body, 200, headers, JSON)
        finally:
            if not streaming:
                m.leave(api)

    async def _stream(
        self,
        runtime: Runtime,
        plan: Plan,
        ctx: CallContext,
        flavor: Flavor,
        chat: ChatRequest,
        started: float,
    ) -> Response:
        api = _API[flavor]
        route = plan.decision.route
        meta = StreamMeta(ctx.request_id, plan.decision)
        chunks = runtime.stream_plan(plan, ctx, meta)
        first: ChatChunk | None
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            first = None
        except HybridLLMError as exc:
            err = from_engine_error(exc)
            self.metrics.observe(api, route, None, err.status, time.perf_counter() - started)
            headers = {"x-request-id": ctx.request_id, "x-hybridllm-route": route}
            return self.error(flavor, err, headers)
        except BaseException:
            await _aclose(chunks)
            raise
        ttft = time.perf_counter() - started
        headers = {
            "x-request-id": ctx.request_id,
            "x-hybridllm-route": route,
            "x-hybridllm-deployment": meta.deployment or "",
            "x-hybridllm-attempts": str(meta.attempts),
        }
        outcome = _Outcome()
        if flavor is Flavor.OPENAI:
            opts = chat.stream_options
            include_usage = opts is not None and opts.include_usage
            events = _openai_events(first, chunks, meta, include_usage, outcome)
        else:
            events = _anthropic_events(first, chunks, meta, outcome)

        def on_close(disconnected: bool) -> None:
            m = self.metrics
            m.leave(api)
            status = 499 if disconnected else outcome.status
            seconds = time.perf_counter() - started
            m.observe(
                api,
                route,
                meta.deployment,
                status,
                seconds,
                meta.cost_usd,
                meta.baseline_cost_usd if status == 200 else None,
                ctx.cost_center,
                ttft,
            )

        return SSEResponse(events, headers, on_close)


async def _aclose(chunks: AsyncIterator[ChatChunk]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


def _stream_failure(exc: Exception, outcome: _Outcome) -> GatewayError:
    if isinstance(exc, HybridLLMError):
        err = from_engine_error(exc)
    else:
        log.exception("stream failed unexpectedly")
        err = GatewayError(500, "internal error in the gateway", "internal_error", "internal_error")
    outcome.status = err.status
    return err


async def _openai_events(
    first: ChatChunk | None,
    chunks: AsyncIterator[ChatChunk],
    meta: StreamMeta,
    include_usage: bool,
    outcome: _Outcome,
) -> AsyncIterator[bytes]:
    last = first
    try:
        if first is not None:
            piece = encode_chunk(first, include_usage)
            if piece is not None:
                yield piece
        async for chunk in chunks:
            last = chunk
            piece = encode_chunk(chunk, include_usage)
            if piece is not None:
                yield piece
    except Exception as exc:
        err = _stream_failure(exc, outcome)
        yield sse_error(error_body(Flavor.OPENAI, err))
        return
    finally:
        await _aclose(chunks)
    if include_usage and meta.usage is not None:
        rid = last.id if last is not None else f"chatcmpl-{meta.request_id}"
        model = last.model if last is not None else ""
        created = last.created if last is not None else int(time.time())
        yield encode_usage_chunk(rid, model, created, meta.usage)
    yield DONE


async def _anthropic_events(
    first: ChatChunk | None,
    chunks: AsyncIterator[ChatChunk],
    meta: StreamMeta,
    outcome: _Outcome,
) -> AsyncIterator[bytes]:
    state = AnthropicStream(meta.request_id)
    try:
        if first is not None:
            yield b"".join(state.feed(first))
        async for chunk in chunks:
            pieces = state.feed(chunk)
            if pieces:
                yield b"".join(pieces)
    except Exception as exc:
        err = _stream_failure(exc, outcome)
        yield state.error(error_body(Flavor.ANTHROPIC, err))
        return
    finally:
        await _aclose(chunks)
    yield state.finish(meta.usage)
