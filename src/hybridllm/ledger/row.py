"""One ledger row: one attempt at one deployment for one request."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["COLUMNS", "LedgerRow", "Status"]

# ok: answered; error: failed (see error_class); escalated: answered but judged too weak, retried on
# the next deployment; partial: a stream that broke after its first byte (partial usage billed).
Status = Literal["ok", "error", "escalated", "partial"]


class LedgerRow(msgspec.Struct, frozen=True, gc=False):
    request_id: str
    attempt: int  # 1-based, in the order dispatch made them
    ts: float  # unix seconds when the attempt started
    route: str
    deployment: str
    provider: str
    model: str
    tier: int
    locality: str  # local | cloud
    cost_center: str | None
    key_name: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: float | None  # None: the price is unknown (never silently 0)
    baseline_cost_usd: float | None
    latency_ms: float
    ttft_ms: float | None
    status: Status
    error_class: str | None
    fallback_from: str | None  # the deployment tried just before this one in the same request
    streamed: bool


COLUMNS: tuple[str, ...] = LedgerRow.__struct_fields__
