"""Streaming dispatch: fallback only before the first byte reaches the caller.

Chunks are held back until the first one that carries content (text, a tool call or a finish
reason): an upstream that sends only a role header and then fails can still fall back. After
that, the stream is committed to its deployment: a failure (idle gap, total time, broken chunk)
ends it with the error raised to the caller, who turns it into an in-band error event; the
partial usage is billed. The caller going away (``aclose``) is recorded the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp

from hybridllm.dispatch.record import CallContext, estimate_usage
from hybridllm.dispatch.result import StreamMeta
from hybridllm.dispatch.timer import AttemptTimer
from hybridllm.errors import (
    ProviderError,
    StreamBrokenError,
    UpstreamConnectionError,
    UpstreamTimeoutError,
)
from hybridllm.ledger.row import LedgerRow
from hybridllm.providers import adapter_for
from hybridllm.types import ChatChunk, Usage

if TYPE_CHECKING:
    from hybridllm.dispatch.engine import Dispatcher
    from hybridllm.router import Plan

__all__ = ["run_stream"]


def _has_payload(chunk: ChatChunk) -> bool:
    for choice in chunk.choices:
        d = choice.delta
        if d.content or d.tool_calls or choice.finish_reason:
            return True
    return False


def _as_provider_error(exc: BaseException, name: str, what: str) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeoutError(f"{name}: {what} timeout", deployment=name)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return StreamBrokenError(
            f"{name}: the stream broke ({type(exc).__name__})", deployment=name
        )
    return UpstreamConnectionError(f"{name}: {type(exc).__name__}", deployment=name)


async def run_stream(
    d: Dispatcher, plan: Plan, ctx: CallContext, meta: StreamMeta
) -> AsyncIterator[ChatChunk]:
    state = d._state(plan)
    rows: list[LedgerRow] = meta.rows
    clock = d.clock
    while True:
        cand = await d.selector.next(state)
        if cand is None:
            raise d.selector.exhausted(state)
        record = d._record(plan, ctx, state, cand, streamed=True)
        meta.attempts = state.attempts
        iterator = (
            adapter_for(cand.deployment.wire)
            .stream(d.session, cand.deployment, plan.request)
            .__aiter__()
        )
        held: list[ChatChunk] = []
        failure: BaseException | None = None
        timer = AttemptTimer(d._timeout(cand.deployment, state, "first_token"))
        try:
            try:
                while True:
                    chunk = await anext(iterator)
                    held.append(chunk)
                    if _has_payload(chunk):
                        break
            finally:
                expired = timer.stop()
        except StopAsyncIteration:
            pass  # an empty answer: still an answer
        except asyncio.CancelledError:
            if not expired:  # cancelled from outside (the caller left)
                cand.abandoned()
                await _close(iterator)
                row = record.row(status="error", ended=clock.now(), error_class="Cancelled")
                d._submit(row, rows)
                raise
            failure = TimeoutError()  # the first-token time limit
        except (ProviderError, TimeoutError, aiohttp.ClientError) as exc:
            failure = exc
        if failure is not None:
            err = _as_provider_error(failure, cand.name, "first-token")
            await _close(iterator)
            d._submit(
                record.row(status="error", ended=clock.now(), error_class=err.error_class), rows
            )
            d._failed(cand, err, state)
            if not err.fallback:
                raise err from None
            continue
        break

    # Committed: from here on the caller has bytes and there is no fallback.
    first_at = clock.now()
    meta.deployment = cand.name
    text_parts: list[str] = []
    usage: Usage | None = None
    status = "ok"
    error: ProviderError | None = None
    seq = -1
    try:
        for chunk in held:
            usage = _note(chunk, text_parts, usage)
            yield chunk
        total_left = state.deadline - clock.now()
        total_end = clock.now() + min(cand.deployment.timeout.total, max(0.0, total_left))
        while True:
            wait = min(cand.deployment.timeout.idle, total_end - clock.now())
            if wait <= 0:
                raise UpstreamTimeoutError(
                    f"{cand.name}: total time limit reached", deployment=cand.name
                )
            timer = AttemptTimer(wait)
            try:
                try:
                    chunk = await anext(iterator)
                finally:
                    expired = timer.stop()
            except StopAsyncIteration:
                break
            except (TimeoutError, asyncio.CancelledError) as exc:
                if isinstance(exc, asyncio.CancelledError) and not expired:
                    raise  # cancelled from outside (the caller left)
                kind = "idle" if wait >= cand.deployment.timeout.idle else "total"
                raise UpstreamTimeoutError(
                    f"{cand.name}: stream {kind} timeout after {wait:.1f}s without a chunk",
                    deployment=cand.name,
                ) from None
            usage = _note(chunk, text_parts, usage)
            yield chunk
    except (ProviderError, aiohttp.ClientError) as exc:
        error = _as_provider_error(exc, cand.name, "stream")
        status = "partial"
    except (GeneratorExit, asyncio.CancelledError):
        status = "partial"
        error = StreamBrokenError(f"{cand.name}: the caller went away", deployment=cand.name)
        error.provider_type = "client_disconnected"
        raise
    finally:
        await _close(iterator)
        ended = clock.now()
        billed = usage or estimate_usage(plan.decision.features.tokens, "".join(text_parts))
        if usage is not None and status == "partial" and not usage.completion_tokens:
            billed = estimate_usage(usage.prompt_tokens, "".join(text_parts))
        error_class = None
        if error is not None:
            error_class = (
                "ClientDisconnected"
                if error.provider_type == "client_disconnected"
                else error.error_class
            )
            if error_class == "ClientDisconnected":
                cand.abandoned()
            else:
                cand.failed(error.breaker_failure)
        else:
            cand.succeeded()
        row = record.row(
            status="ok" if status == "ok" else "partial",
            ended=ended,
            usage=billed,
            ttft=first_at,
            error_class=error_class,
            final=True,
        )
        seq = d._submit(row, rows)
        meta.usage = billed
        meta.cost_usd = (
            sum(r.cost_usd or 0.0 for r in rows)
            if all(r.cost_usd is not None for r in rows)
            else None
        )
        meta.baseline_cost_usd = row.baseline_cost_usd
        meta.error = None if error is None else error.message
    if error is not None:
        raise error
    await d._durable(seq)


def _note(chunk: ChatChunk, text_parts: list[str], usage: Usage | None) -> Usage | None:
    for choice in chunk.choices:
        if choice.delta.content:
            text_parts.append(choice.delta.content)
    return chunk.usage if chunk.usage is not None else usage


async def _close(iterator: AsyncIterator[ChatChunk]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        # Closing a broken upstream must not mask the real error.
        with contextlib.suppress(Exception):
            await aclose()
