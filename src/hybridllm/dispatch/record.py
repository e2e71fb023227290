"""Ledger rows and cost for attempts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import msgspec

from hybridllm.config.models import Deployment
from hybridllm.features.tokens import estimate_text_tokens
from hybridllm.ledger.row import LedgerRow, Status
from hybridllm.pricing import Rates
from hybridllm.types import Usage

__all__ = ["AttemptRecord", "CallContext", "LedgerSink", "estimate_usage"]


class LedgerSink(Protocol):
    """Where rows go: the batched background writer (or a list, in tests)."""

    def submit(self, row: LedgerRow) -> int: ...

    async def wait_durable(self, seq: int) -> None: ...


class CallContext(msgspec.Struct, frozen=True, gc=False):
    request_id: str
    cost_center: str | None = None
    key_name: str | None = None
    batch: bool = False  # priced at the deployment's batch discount


def estimate_usage(prompt_tokens: int, text: str) -> Usage:
    """Usage when the provider reported none (or the stream broke): our own upper-bound estimate."""
    return Usage(prompt_tokens=prompt_tokens, completion_tokens=estimate_text_tokens(text))


@dataclass(slots=True)
class AttemptRecord:
    """Facts gathered for one attempt, turned into a ledger row."""

    ctx: CallContext
    route: str
    attempt: int
    deployment: Deployment
    rates: Rates
    baseline: Rates | None
    started_wall: float
    started: float
    fallback_from: str | None
    streamed: bool

    def row(
        self,
        *,
        status: Status,
        ended: float,
        usage: Usage | None = None,
        ttft: float | None = None,
        error_class: str | None = None,
        final: bool = False,
    ) -> LedgerRow:
        duration = max(0.0, ended - self.started)
        u = usage or Usage()
        consumed = usage is not None and (u.prompt_tokens or u.completion_tokens)
        cost = self.rates.cost(u, duration_s=duration, batch=self.ctx.batch) if consumed else 0.0
        # The baseline is what the request would have cost on the baseline deployment: counted
        # once per request, on the row that delivered the answer.
        baseline: float | None = 0.0
        if final:
            baseline = self.baseline.cost(u) if self.baseline is not None else None
        dep = self.deployment
        ctx = self.ctx
        # Positional, in LedgerRow's field order (this runs once per attempt, on the hot path).
        return LedgerRow(
            ctx.request_id,
            self.attempt,
            self.started_wall,
            self.route,
            dep.name,
            dep.provider,
            dep.model,
            dep.tier,
            dep.where,
            ctx.cost_center,
            ctx.key_name,
            u.prompt_tokens,
            u.completion_tokens,
            u.cached_tokens,
            cost,
            baseline,
            round(duration * 1000.0, 3),
            None if ttft is None else round(max(0.0, ttft - self.started) * 1000.0, 3),
            status,
            error_class,
            self.fallback_from,
            self.streamed,
        )
