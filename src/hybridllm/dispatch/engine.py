"""Dispatch: turn a plan into an answer that survives failing providers, recording every attempt."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator

import aiohttp

from hybridllm.config.models import Deployment, Escalate
from hybridllm.dispatch.breaker import Breaker, BreakerSettings
from hybridllm.dispatch.clock import Clock, SystemClock
from hybridllm.dispatch.context import ATTEMPT, IN_PROCESS_WIRES, AttemptInfo
from hybridllm.dispatch.limiter import DeploymentLimiter
from hybridllm.dispatch.record import AttemptRecord, CallContext, LedgerSink, estimate_usage
from hybridllm.dispatch.result import Completion, StreamMeta
from hybridllm.dispatch.selection import Candidate, RequestState, Selector
from hybridllm.dispatch.timer import AttemptTimer
from hybridllm.errors import (
    AuthError,
    ProviderError,
    UpstreamConnectionError,
    UpstreamTimeoutError,
)
from hybridllm.ledger.row import LedgerRow
from hybridllm.providers import adapter_for
from hybridllm.router import Plan, Router
from hybridllm.types import ChatChunk, ChatResponse, Usage

__all__ = ["Dispatcher", "is_weak_reply"]

log = logging.getLogger("hybridllm.dispatch")


def is_weak_reply(text: str, rule: Escalate) -> bool:
    """A reply the rule's escalation judges too weak: too short, or holding an escalation phrase."""
    stripped = text.strip()
    if len(stripped) < rule.min_chars:
        return True
    lowered = stripped.lower()
    return any(phrase.lower() in lowered for phrase in rule.phrases)


class Dispatcher:
    def __init__(
        self,
        router: Router,
        session: aiohttp.ClientSession,
        ledger: LedgerSink | None = None,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        durable: bool = True,
    ) -> None:
        self.router = router
        self.session = session
        self.ledger = ledger
        self.clock: Clock = clock or SystemClock()
        self.durable = durable
        cfg = router.config.dispatch
        settings = BreakerSettings(
            cfg.breaker_window,
            cfg.breaker_min_calls,
            cfg.breaker_failure_rate,
            cfg.breaker_cooldown,
            cfg.breaker_cooldown_max,
        )
        deployments = dict(router.config.deployments)
        self.breakers = {name: Breaker(settings, self.clock) for name in deployments}
        self.selector = Selector(
            deployments, cfg, self.breakers, DeploymentLimiter(deployments), self.clock, rng
        )

    # -- shared pieces ------------------------------------------------------------------------

    def _state(self, plan: Plan) -> RequestState:
        return RequestState(plan.decision, self.clock.now() + self.router.config.dispatch.deadline)

    def _record(
        self, plan: Plan, ctx: CallContext, state: RequestState, cand: Candidate, streamed: bool
    ) -> AttemptRecord:
        state.attempts += 1
        baseline = self.router.baseline
        record = AttemptRecord(  # positional, in field order: once per attempt
            ctx,
            plan.decision.route,
            state.attempts,
            cand.deployment,
            self.router.rates[cand.name],
            self.router.rates[baseline] if baseline else None,
            self.clock.wall(),
            self.clock.now(),
            state.last,
            streamed,
        )
        state.last = cand.name
        if cand.deployment.wire in IN_PROCESS_WIRES:  # only in-process adapters read it
            ATTEMPT.set(
                AttemptInfo(
                    ctx.request_id,
                    plan.decision.route,
                    plan.decision.private,
                    plan.decision.max_queue_wait,
                    has_next=state.index < len(plan.decision.chain)
                    and state.attempts < self.router.config.dispatch.max_attempts,
                )
            )
        return record

    def _submit(self, row: LedgerRow, rows: list[LedgerRow]) -> int:
        rows.append(row)
        return self.ledger.submit(row) if self.ledger is not None else -1

    async def _durable(self, seq: int) -> None:
        if self.ledger is not None and self.durable and seq >= 0:
            await self.ledger.wait_durable(seq)

    def _timeout(self, dep: Deployment, state: RequestState, kind: str) -> float:
        limit = dep.timeout.total if kind == "total" else getattr(dep.timeout, kind)
        return max(0.001, min(limit, state.deadline - self.clock.now()))

    def _failed(self, cand: Candidate, error: ProviderError, state: RequestState) -> None:
        state.errors.append(error)
        if isinstance(error, AuthError):
            # A wrong or revoked upstream key: every request to it fails until someone acts.
            log.error("UPSTREAM AUTH FAILED for %s: %s (check its api_key)", cand.name, error)
        cand.failed(error.breaker_failure)
        self.selector.note_error(cand.name, error)

    def _cancelled(
        self,
        cand: Candidate,
        record: AttemptRecord,
        weak: tuple[Candidate, AttemptRecord, ChatResponse, Usage, float] | None,
        rows: list[LedgerRow],
    ) -> None:
        """The request was cancelled from outside during ``record``'s attempt: its rows."""
        cand.abandoned()
        if weak is not None:  # it consumed tokens: billed even though nobody got it
            _, w_record, _, w_usage, w_ended = weak
            self._submit(
                w_record.row(
                    status="escalated", ended=w_ended, usage=w_usage, error_class="WeakReply"
                ),
                rows,
            )
        self._submit(
            record.row(status="error", ended=self.clock.now(), error_class="Cancelled"), rows
        )

    # -- non-streaming ------------------------------------------------------------------------

    async def complete(self, plan: Plan, ctx: CallContext) -> Completion:
        state = self._state(plan)
        rows: list[LedgerRow] = []
        request = plan.request
        escalate = plan.decision.escalate
        # A reply judged too weak: its row is written once the request's fate is known
        # ("escalated" if a later attempt answers, "ok" if every later attempt fails).
        weak: tuple[Candidate, AttemptRecord, ChatResponse, Usage, float] | None = None
        while True:
            cand = await self.selector.next(state)
            if cand is None:
                break
            record = self._record(plan, ctx, state, cand, streamed=False)
            adapter = adapter_for(cand.deployment.wire)
            timer = AttemptTimer(self._timeout(cand.deployment, state, "total"))
            try:
                try:
                    response = await adapter.complete(self.session, cand.deployment, request)
                finally:
                    expired = timer.stop()
            except TimeoutError:
                err: ProviderError = _timed_out(cand)
            except ProviderError as exc:
                err = exc
            except aiohttp.ClientError as exc:
                err = UpstreamConnectionError(
                    f"{cand.name}: {type(exc).__name__}", deployment=cand.name
                )
            except asyncio.CancelledError:
                if expired:  # the attempt's time limit, not a cancellation from outside
                    err = _timed_out(cand)
                else:
                    self._cancelled(cand, record, weak, rows)
                    raise
            else:
                ended = self.clock.now()
                cand.succeeded()
                usage = response.usage or estimate_usage(
                    plan.decision.features.tokens, response.text
                )
                has_next = (
                    state.index < len(plan.decision.chain)
                    and state.attempts < self.router.config.dispatch.max_attempts
                )
                if (
                    escalate is not None
                    and has_next
                    and not response.choices[0].message.tool_calls
                    and is_weak_reply(response.text, escalate)
                ):
                    weak = (cand, record, response, usage, ended)
                    continue
                if weak is not None:
                    _, w_record, _, w_usage, w_ended = weak
                    escalated = w_record.row(
                        status="escalated", ended=w_ended, usage=w_usage, error_class="WeakReply"
                    )
                    self._submit(escalated, rows)
                row = record.row(status="ok", ended=ended, usage=usage, ttft=None, final=True)
                seq = self._submit(row, rows)
                await self._durable(seq)
                return _completion(response, ctx, plan, cand, state, row, rows)
            row = record.row(status="error", ended=self.clock.now(), error_class=err.error_class)
            self._submit(row, rows)
            self._failed(cand, err, state)
            if not err.fallback:
                if weak is not None:
                    break  # the weak answer beats a caller error from a stronger deployment
                raise err
        if weak is not None:
            # Every later deployment failed: the weak answer is still the answer, and its row
            # is the request's "ok" row.
            cand, record, response, usage, ended = weak
            row = record.row(status="ok", ended=ended, usage=usage, final=True)
            await self._durable(self._submit(row, rows))
            return _completion(response, ctx, plan, cand, state, row, rows)
        raise self.selector.exhausted(state)

    # -- streaming ----------------------------------------------------------------------------

    def stream(self, plan: Plan, ctx: CallContext, meta: StreamMeta) -> AsyncIterator[ChatChunk]:
        from hybridllm.dispatch.streaming import run_stream

        return run_stream(self, plan, ctx, meta)


def _timed_out(cand: Candidate) -> ProviderError:
    return UpstreamTimeoutError(
        f"{cand.name}: no answer within the time limit", deployment=cand.name
    )


def _completion(
    response: ChatResponse,
    ctx: CallContext,
    plan: Plan,
    cand: Candidate,
    state: RequestState,
    row: LedgerRow,
    rows: list[LedgerRow],
) -> Completion:
    """The answer of ``row``'s attempt, with every row of the request (positional: hot path)."""
    return Completion(
        response,
        ctx.request_id,
        plan.decision,
        cand.name,
        state.attempts,
        _sum_cost(rows),
        row.baseline_cost_usd,
        row.latency_ms,
        tuple(rows),
    )


def _sum_cost(rows: list[LedgerRow]) -> float | None:
    total = 0.0
    for row in rows:
        if row.cost_usd is None:
            return None
        total += row.cost_usd
    return total
