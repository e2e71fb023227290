"""What dispatch hands back: the answer and the facts about how it was obtained."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from hybridllm.ledger.row import LedgerRow
from hybridllm.policy.decision import Decision
from hybridllm.types import ChatResponse, Usage

__all__ = ["Completion", "StreamMeta"]


@dataclass
class StreamMeta:
    """Filled in while a stream runs; final once the stream has ended."""

    request_id: str
    decision: Decision
    deployment: str | None = None
    attempts: int = 0
    usage: Usage | None = None
    cost_usd: float | None = None
    baseline_cost_usd: float | None = None
    rows: list[LedgerRow] = field(default_factory=list)
    error: str | None = None


class Completion(msgspec.Struct, frozen=True):
    response: ChatResponse
    request_id: str
    decision: Decision
    deployment: str
    attempts: int
    cost_usd: float | None
    baseline_cost_usd: float | None
    latency_ms: float
    rows: tuple[LedgerRow, ...]

    @property
    def text(self) -> str:
        return self.response.text

    @property
    def usage(self) -> Usage:
        return self.response.usage or Usage()

    @property
    def route(self) -> str:
        return self.decision.route
