"""Ordered rules -> a chain of deployments, then the filters: tier pin, privacy, context window."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from hybridllm.config.loader import expand_chain
from hybridllm.config.models import Config, Deployment, Route
from hybridllm.errors import RoutingError
from hybridllm.features.extract import Features
from hybridllm.learned.model import ModelSource, shipped_source
from hybridllm.policy.conditions import Condition, compile_condition
from hybridllm.policy.decision import Decision
from hybridllm.pricing import Rates

__all__ = ["Policy"]


@dataclass(frozen=True, slots=True)
class _Rule:
    route: Route
    condition: Condition | None
    chain: tuple[str, ...]
    matched: str  # the reason when this rule matches
    # What a decision that keeps the whole chain says (no pin, not private, every window fits):
    # the same on every such request, so worked out once.
    serve: str = ""
    tiers: tuple[int, ...] = ()
    wheres: tuple[str, ...] = ()
    min_window: int | None = None  # the smallest context window in the chain (None: no limit)


class Policy:
    def __init__(self, config: Config, rates: dict[str, Rates]) -> None:
        self.deployments: dict[str, Deployment] = dict(config.deployments)
        # The model the `difficulty` condition asks: the config's learning.model, loaded lazily.
        self.difficulty = (
            shipped_source()
            if config.learning.model is None
            else ModelSource(config.learning.model)
        )
        self.rules = tuple(self._rule(config, route) for route in config.routes)
        # (rule, the condition that failed) -> the reason; formatted once, they recur on every
        # request (conditions hash by identity; there are as many keys as condition nodes).
        self._skipped: dict[tuple[int, Condition], str] = {}
        self._by_tier: dict[int, tuple[str, ...]] = {}
        for tier in {d.tier for d in self.deployments.values()}:
            members = [n for n, d in self.deployments.items() if d.tier == tier]
            members.sort(
                key=lambda n: (rates[n].input + rates[n].output, n) if rates[n].known else (1e9, n)
            )
            self._by_tier[tier] = tuple(members)

    def _rule(self, config: Config, route: Route) -> _Rule:
        if route.when is None:
            cond, why = None, "it has no conditions (default)"
        else:
            cond = compile_condition(route.when, difficulty=self.difficulty)
            why = cond.text
        chain = tuple(expand_chain(config, route.use))
        deps = [self.deployments[n] for n in chain]
        windows = [d.context_window for d in deps if d.context_window is not None]
        return _Rule(
            route,
            cond,
            chain,
            f"rule '{route.name}' matched: {why}",
            _serve_reason(chain),
            tuple(d.tier for d in deps),
            tuple(d.where for d in deps),
            min(windows) if windows else None,
        )

    def decide(self, features: Features) -> Decision:
        reasons: list[str] = []
        rule = self._match(features, reasons)
        window = rule.min_window
        if (
            rule.serve  # a rule of the config (a model pinned by name takes the full path)
            and features.tier_pin is None
            and not features.pii
            and not features.private_hint
            and not rule.route.private
            and (window is None or features.tokens + (features.output_cap or 0) <= window)
        ):  # nothing filters the chain: the common case, with what the rule worked out once
            reasons.append(rule.serve)
            return Decision(
                rule.route.name,
                rule.chain,
                False,
                (),
                features,
                tuple(reasons),
                (),
                rule.route.escalate,
                rule.tiers,
                rule.wheres,
                rule.route.max_queue_wait,
            )
        return self._filtered(features, rule, reasons)

    def _filtered(self, features: Features, rule: _Rule, reasons: list[str]) -> Decision:
        """The chain of the matched rule, less what a tier pin, privacy or a context window
        rules out; the reasons say what was dropped and why."""
        chain = list(rule.chain)
        dropped: list[tuple[str, str]] = []

        if features.tier_pin is not None:
            chain = self._pin(features, chain, reasons)

        private_because: list[str] = []
        if features.pii:
            private_because.append("pii: " + ", ".join(sorted(features.pii)))
        if features.private_hint:
            private_because.append("hint")
        if rule.route.private:
            private_because.append(f"rule {rule.route.name}")
        private = bool(private_because)
        if private:
            kept = []
            for name in chain:
                if self.deployments[name].is_local:
                    kept.append(name)
                else:
                    dropped.append((name, "cloud; the request is private"))
            reasons.append(
                f"private ({'; '.join(private_because)}): only local deployments may serve it"
            )
            chain = kept

        need = features.tokens + (features.output_cap or 0)
        kept = []
        for name in chain:
            window = self.deployments[name].context_window
            if window is not None and need > window:
                dropped.append((name, f"context window {window} < {need} tokens needed"))
            else:
                kept.append(name)
        chain = kept

        for name, why in dropped:
            reasons.append(f"dropped {name}: {why}")
        served = tuple(chain)
        reasons.append(_serve_reason(served))
        # Positional, in Decision's field order (once per request, on the hot path).
        return Decision(
            rule.route.name,
            served,
            private,
            tuple(private_because),
            features,
            tuple(reasons),
            tuple(dropped),
            rule.route.escalate,
            tuple(self.deployments[n].tier for n in chain),
            tuple(self.deployments[n].where for n in chain),
            rule.route.max_queue_wait,
        )

    def _match(self, features: Features, reasons: list[str]) -> _Rule:
        requested = features.model_requested
        if requested is not None and requested in self.deployments:
            reasons.append(f"model '{requested}' requested by name: pinned to that deployment")
            pinned = _Rule(
                Route(name=f"pinned:{requested}", use=[requested]), None, (requested,), ""
            )
            return pinned
        for i, rule in enumerate(self.rules):
            cond = rule.condition
            bad = None if cond is None else cond.failing(features)
            if bad is None:
                reasons.append(rule.matched)
                return rule
            reason = self._skipped.get((i, bad))
            if reason is None:
                reason = self._skipped[i, bad] = (
                    f"rule '{rule.route.name}' skipped: not ({bad.text})"
                )
            reasons.append(reason)
        raise RoutingError(
            "no rule matched this request and there is no default route "
            "(add a last rule without `when:`)"
        )

    def _pin(self, features: Features, chain: list[str], reasons: list[str]) -> list[str]:
        tier = features.tier_pin
        assert tier is not None
        source = "a [tag] in the prompt" if features.tier_source == "tag" else "a hint"
        in_chain = [n for n in chain if self.deployments[n].tier == tier]
        if in_chain:
            reasons.append(
                f"tier {tier} pinned by {source}: kept {', '.join(in_chain)} from the chain"
            )
            return in_chain
        others = list(self._by_tier.get(tier, ()))
        if others:
            reasons.append(
                f"tier {tier} pinned by {source}: the chain has none, using {', '.join(others)}"
            )
        else:
            reasons.append(f"tier {tier} pinned by {source}: no deployment has tier {tier}")
        return others


@functools.lru_cache(maxsize=1024)
def _serve_reason(chain: tuple[str, ...]) -> str:
    if not chain:
        return "no deployment left to serve this request"
    return f"serve with {chain[0]}" + (f", then {', '.join(chain[1:])}" if len(chain) > 1 else "")
