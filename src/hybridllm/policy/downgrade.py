"""The deployments a request may use at all, cheapest first: where a budget downgrade walks to."""

from __future__ import annotations

from collections.abc import Callable

from hybridllm.config.models import Config
from hybridllm.policy.decision import Decision
from hybridllm.pricing import Rates

__all__ = ["allowed_deployments", "cheapest_chain"]


def allowed_deployments(config: Config, decision: Decision) -> list[str]:
    """Privacy (private: local only), context window, and a key where the provider needs one."""
    f = decision.features
    need = f.tokens + (f.output_cap or 0)
    names = []
    for name, dep in config.deployments.items():
        if decision.private and not dep.is_local:
            continue
        if dep.context_window is not None and need > dep.context_window:
            continue
        if dep.missing_key:
            continue
        names.append(name)
    return names


def cheapest_chain(
    config: Config, rates: dict[str, Rates], decision: Decision, worst_case: Callable[[str], float]
) -> list[str]:
    """Allowed deployments with a known price, cheapest worst case first (ties: lower tier)."""
    names = [n for n in allowed_deployments(config, decision) if rates[n].known]
    return sorted(names, key=lambda n: (worst_case(n), config.deployments[n].tier, n))
