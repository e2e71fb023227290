"""What ``report`` computes: per-group figures, a total, and the health figures.

Two kinds of figure, attributed differently when a request's attempts fall in several groups
(``--by deployment`` or ``tier``):

- attempt figures (attempts, tokens, cost, baseline cost, saving) go to each attempt's own group;
- request figures (requests, tier shares, rates, latency) go to the group of the request's *final
  row*: the attempt that delivered the answer (status ok or partial), else its last attempt.

For the other groupings every attempt of a request is in the same group and the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

__all__ = ["GROUP_BY", "GroupBy", "GroupStats", "Health", "Report"]

GroupBy = Literal["cost_center", "route", "deployment", "tier", "day", "key"]
GROUP_BY: tuple[str, ...] = get_args(GroupBy)


@dataclass(frozen=True, slots=True)
class GroupStats:
    group: str  # the group's value; "(none)" for a missing cost center or key
    requests: int  # distinct request_ids whose final row is in the group
    attempts: int  # ledger rows in the group
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: float  # the sum of the known costs of the group's attempts
    unknown_cost_requests: int  # requests with an attempt here whose price is unknown
    baseline_cost_usd: float  # the sum of the known baseline costs (set on answering rows)
    unknown_baseline_requests: int  # answered requests whose baseline cost is unknown
    priced_requests: int  # requests whose every cost and baseline is known
    saving_usd: float | None  # baseline - cost, over the attempts of priced requests
    saving_pct: float | None  # saving / baseline of priced requests, in %
    tier_shares: dict[int, float]  # tier -> share of the group's requests answered by that tier
    fallback_rate: float | None  # share of requests with an attempt > 1 or a fallback_from
    escalation_rate: float | None  # share of requests with an escalated row
    error_rate: float | None  # share of requests with no ok or partial row
    p50_latency_ms: float | None  # of the requests' end-to-end latency (see Report)
    p95_latency_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["tier_shares"] = {str(k): v for k, v in sorted(self.tier_shares.items())}
        return out


@dataclass(frozen=True, slots=True)
class Health:
    requests: int
    local_share: float | None  # share of requests answered by a locality=local deployment
    fallback_rate: float | None
    p95_local_latency_ms: float | None  # end-to-end latency of requests answered locally
    cloud_spend_this_week_usd: float  # known cost of cloud attempts in [now - 7d, now)
    cloud_spend_last_week_usd: float  # ... in [now - 14d, now - 7d)
    cloud_unknown_cost_requests_this_week: int
    cloud_unknown_cost_requests_last_week: int
    cloud_spend_change_pct: float | None  # this week against last, in %

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class Report:
    """Latency is a request's end-to-end time: from the start of its first attempt to the end of
    its last one (backoff waits included), over the attempts inside the period."""

    group_by: str
    since: float | None
    until: float
    now: float
    groups: tuple[GroupStats, ...]
    total: GroupStats
    health: Health
    store: str = field(default="")

    def to_dict(self) -> dict[str, Any]:
        return {
            "group_by": self.group_by,
            "since": self.since,
            "until": self.until,
            "now": self.now,
            "store": self.store,
            "latency": "end-to-end per request: first attempt start to last attempt end (ms)",
            "groups": [g.to_dict() for g in self.groups],
            "total": self.total.to_dict(),
            "health": self.health.to_dict(),
        }
