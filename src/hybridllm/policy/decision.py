"""The routing decision: a plain, immutable value, computed without I/O, printable as reasons."""

from __future__ import annotations

import msgspec

from hybridllm.config.models import Escalate
from hybridllm.features.extract import Features

__all__ = ["Decision"]


class Decision(msgspec.Struct, frozen=True, gc=False):
    route: str
    chain: tuple[str, ...]  # deployments to try, in order, after every filter
    private: bool
    private_because: tuple[str, ...]  # e.g. ("pii: email", "hint", "rule privacy_sensitive")
    features: Features
    reasons: tuple[str, ...]
    dropped: tuple[tuple[str, str], ...] = ()  # (deployment, why) for every filtered one
    escalate: Escalate | None = None
    tiers: tuple[int, ...] = ()  # the tier of each deployment in the chain
    localities: tuple[str, ...] = ()  # "local" | "cloud" for each deployment in the chain
    max_queue_wait: float | None = None  # the rule's limit on waiting for a busy local model

    @property
    def deployment(self) -> str | None:
        return self.chain[0] if self.chain else None

    @property
    def tier(self) -> int | None:
        return self.tiers[0] if self.tiers else None

    @property
    def pii(self) -> frozenset[str]:
        return self.features.pii

    def to_json(self) -> dict[str, object]:
        return {
            "route": self.route,
            "deployment": self.deployment,
            "chain": list(self.chain),
            "tier": self.tier,
            "private": self.private,
            "private_because": list(self.private_because),
            "pii": sorted(self.pii),
            "dropped": [{"deployment": d, "why": why} for d, why in self.dropped],
            "escalate": None if self.escalate is None else self.escalate.model_dump(),
            "features": self.features.public(),
            "reasons": list(self.reasons),
        }

    def explain(self) -> str:
        lines = [f"route: {self.route}", f"chain: {' -> '.join(self.chain) or '(none left)'}"]
        lines += [f"  - {reason}" for reason in self.reasons]
        return "\n".join(lines)
