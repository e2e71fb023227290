"""Which deployment an attempt goes to next: the resilience order, written down once.

For one request, with one deadline and at most ``max_attempts`` upstream calls::

    for deployment in decision.chain:             # each deployment at most once per request
        skip if the request is private and the deployment is not local   (re-checked every hop)
        skip if it is a cloud deployment that needs an API key and has none
        skip if its breaker is open (half-open: only the one probe passes)
        skip if it is cooling down after a Retry-After, unless it is the last candidate and
             the wait fits in the time left (then wait)
        skip if our own rpm/tpm limit for it is spent
        before every attempt but the first: full-jitter backoff, capped by the time left
        attempt it; a fallback-class error moves on, a caller error ends the request

Skips are not attempts: they make no call and write no ledger row, but they are explained.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from hybridllm.config.models import Deployment, DispatchConfig
from hybridllm.dispatch.breaker import Breaker, Ticket
from hybridllm.dispatch.clock import Clock
from hybridllm.dispatch.limiter import DeploymentLimiter
from hybridllm.errors import (
    AuthError,
    CircuitOpenError,
    LocalRateLimitedError,
    NoDeploymentError,
    ProviderError,
    RateLimitedError,
)
from hybridllm.policy.decision import Decision

__all__ = ["Candidate", "RequestState", "Selector"]


@dataclass
class RequestState:
    decision: Decision
    deadline: float
    attempts: int = 0
    index: int = 0  # next position in the chain
    errors: list[ProviderError] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    last: str | None = None  # the deployment of the previous attempt


class Candidate(msgspec.Struct, frozen=True):
    name: str
    deployment: Deployment
    breaker: Breaker
    ticket: Ticket

    def succeeded(self) -> None:
        self.breaker.record(self.ticket, failed=False)

    def failed(self, breaker_failure: bool) -> None:
        self.breaker.record(self.ticket, failed=breaker_failure)

    def abandoned(self) -> None:
        self.breaker.abandon(self.ticket)


class Selector:
    """Per-process resilience state (breakers, cool-downs, limits) and the walk over a chain."""

    def __init__(
        self,
        deployments: dict[str, Deployment],
        settings: DispatchConfig,
        breakers: dict[str, Breaker],
        limiter: DeploymentLimiter,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.deployments = deployments
        self.settings = settings
        self.breakers = breakers
        self.limiter = limiter
        self.clock = clock
        self.rng = rng or random.Random()
        self.cooling: dict[str, float] = {}  # deployment -> monotonic time it may be called again
        # Shared state (Redis) hears of every Retry-After cool-down: (deployment, seconds).
        self.on_cooldown: Callable[[str, float], None] | None = None
        # Cloud deployments of providers that need a key, configured without one: never called.
        self.keyless = frozenset(name for name, dep in deployments.items() if dep.missing_key)

    def note_error(self, name: str, error: ProviderError) -> None:
        if error.retry_after:
            until = self.clock.now() + error.retry_after
            self.cooling[name] = max(self.cooling.get(name, 0.0), until)
            if self.on_cooldown is not None:
                self.on_cooldown(name, error.retry_after)

    async def next(self, state: RequestState) -> Candidate | None:
        """The next deployment to attempt, after skips and backoff; None when none is left."""
        chain = state.decision.chain
        while state.index < len(chain):
            if state.attempts >= self.settings.max_attempts:
                state.skipped.append(f"max_attempts ({self.settings.max_attempts}) reached")
                return None
            name = chain[state.index]
            state.index += 1
            dep = self.deployments[name]
            last_candidate = state.index == len(chain)
            if state.decision.private and not dep.is_local:
                state.skipped.append(f"{name}: cloud deployment, request is private")
                continue
            if name in self.keyless:
                state.skipped.append(f"{name}: no API key configured")
                state.errors.append(
                    AuthError(f"{name}: no API key configured; skipped", deployment=name)
                )
                continue
            now = self.clock.now()
            until = self.cooling.get(name, 0.0)
            if until > now:
                wait = until - now
                if not last_candidate or wait >= state.deadline - now:
                    state.skipped.append(f"{name}: cooling down {wait:.1f}s after Retry-After")
                    state.errors.append(
                        RateLimitedError(
                            f"{name} is cooling down for {wait:.1f}s (Retry-After)",
                            deployment=name,
                            retry_after=wait,
                        )
                    )
                    continue
                await self.clock.sleep(wait)
            breaker = self.breakers[name]
            ticket = await breaker.acquire()
            if ticket is None:
                state.skipped.append(f"{name}: circuit open, retry in {breaker.retry_in:.1f}s")
                state.errors.append(
                    CircuitOpenError(f"{name}: circuit breaker is open", deployment=name)
                )
                continue
            tokens = state.decision.features.tokens + (state.decision.features.output_cap or 0)
            if not await self.limiter.acquire(name, tokens):
                breaker.abandon(ticket)
                state.skipped.append(f"{name}: local rpm/tpm limit reached")
                state.errors.append(
                    LocalRateLimitedError(f"{name}: local rate limit reached", deployment=name)
                )
                continue
            if state.attempts > 0:
                await self._backoff(state)
            return Candidate(name, dep, breaker, ticket)
        return None

    async def _backoff(self, state: RequestState) -> None:
        cap = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (state.attempts - 1))
        delay = self.rng.uniform(0.0, cap)
        left = state.deadline - self.clock.now()
        await self.clock.sleep(min(delay, max(0.0, left)))

    def exhausted(self, state: RequestState) -> NoDeploymentError:
        decision = state.decision
        if not decision.chain:
            why = "; ".join(f"{d} dropped ({w})" for d, w in decision.dropped)
            if decision.private:
                why = f"the request is private ({'; '.join(decision.private_because)}) " + (
                    f"and no local deployment can serve it: {why}"
                    if why
                    else "and its route has no local deployment"
                )
            why = why or decision.reasons[-1]
            return NoDeploymentError(f"no deployment available for route '{decision.route}': {why}")
        parts = [f"{e.deployment or '?'}: {e.message}" for e in state.errors[-5:]]
        parts += [s for s in state.skipped if "max_attempts" in s]
        detail = "; ".join(parts) or "; ".join(state.skipped) or "nothing to try"
        return NoDeploymentError(
            f"all deployments failed for route '{decision.route}' "
            f"({state.attempts} attempt{'s' if state.attempts != 1 else ''}): {detail}",
            attempts=list(state.errors),
        )
