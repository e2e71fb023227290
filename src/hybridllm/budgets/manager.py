"""Admission: reserve the worst case before the call, settle the actual cost after.

The worst case of a request is, over the deployments of its chain, the most one attempt can
cost: the prompt estimate at the input price plus the output cap (the request's ``max_tokens``,
else the deployment's ``max_output_tokens``, else 4,096) at the output price. It is reserved in
every budget that applies (the cost center's and the virtual key's, daily and monthly) in one
atomic step, settled to the actual cost when the request ends, and released on error or
cancellation. Over a budget: ``alert`` lets the request through and alerts; ``downgrade`` moves
it to the cheapest deployment it may use (privacy and context window still hold) whose worst
case fits; ``reject`` refuses it with a 429 naming the budget and when it resets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from msgspec.structs import replace

from hybridllm.budgets.periods import Period, period_end, period_key
from hybridllm.budgets.state import BudgetState, Limit
from hybridllm.config.models import Budget, Config
from hybridllm.errors import BudgetExceededError, SharedStateUnavailableError
from hybridllm.pricing import Rates
from hybridllm.router import Plan

__all__ = ["DEFAULT_OUTPUT_CAP", "Admission", "AlertClaim", "AlertHook", "BudgetManager"]

log = logging.getLogger("hybridllm.budgets")
DEFAULT_OUTPUT_CAP = 4_096
AlertHook = Callable[
    [Budget, Period, float, float, float], None
]  # budget, period, spent, limit, at
# Several replicas: True for the one that sends the alert of (counter key, threshold).
AlertClaim = Callable[[str, float], Awaitable[bool]]


@dataclass
class Admission:
    """A held reservation. ``settle`` or ``release`` exactly once (later calls do nothing)."""

    manager: BudgetManager | None
    plan: Plan
    keys: list[str] = field(default_factory=list)
    reserved: float = 0.0
    hold: str = ""
    notes: tuple[str, ...] = ()
    _done: bool = False

    async def settle(self, actual: float | None) -> None:
        if self._done:
            return
        self._done = True
        if self.manager is not None and self.keys:
            # An unknown price settles at the reserved worst case: never under-count spend.
            spent = self.reserved if actual is None else actual
            await self.manager.state.settle(self.hold, self.keys, self.reserved, spent)
            await self.manager.check_alerts(self.keys)

    async def release(self) -> None:
        if self._done:
            return
        self._done = True
        if self.manager is not None and self.keys:
            await self.manager.state.release(self.hold, self.keys, self.reserved)


@dataclass(frozen=True, slots=True)
class _Applicable:
    budget: Budget
    period: Period
    limit: Limit
    label: str


class BudgetManager:
    def __init__(
        self,
        config: Config,
        rates: dict[str, Rates],
        state: BudgetState,
        *,
        wall: Callable[[], float] = time.time,
        on_alert: AlertHook | None = None,
        claim_alert: AlertClaim | None = None,
    ) -> None:
        self.config = config
        self.rates = rates
        self.state = state
        self.wall = wall
        self.on_alert = on_alert
        self.claim_alert = claim_alert
        self.thresholds = sorted(set(config.alerts.at))
        self._alerted: set[tuple[str, float]] = set()
        self._by_key: dict[str, tuple[Budget, Period]] = {}
        self._key_costs = {k.name: k.cost_center for k in config.server.keys}

    @property
    def active(self) -> bool:
        return bool(self.config.budgets)

    def counter_key(self, budget: Budget, period: Period, ts: float) -> str:
        who = f"cost_center:{budget.cost_center}" if budget.cost_center else f"key:{budget.key}"
        return f"{who}:{period}:{period_key(period, ts)}"

    def applicable(self, cost_center: str | None, key_name: str | None) -> list[_Applicable]:
        now = self.wall()
        found: list[_Applicable] = []
        for budget in self.config.budgets:
            if budget.cost_center is not None and budget.cost_center != cost_center:
                continue
            if budget.key is not None and budget.key != key_name:
                continue
            for period, amount in (("daily", budget.daily_usd), ("monthly", budget.monthly_usd)):
                if amount is None:
                    continue
                key = self.counter_key(budget, period, now)  # type: ignore[arg-type]
                self._by_key[key] = (budget, period)  # type: ignore[assignment]
                scope = "cost center" if budget.cost_center else "key"
                who = budget.cost_center or budget.key
                label = f"{scope} '{who}' {period} ${amount:.2f}"
                found.append(_Applicable(budget, period, Limit(key, amount), label))  # type: ignore[arg-type]
        return found

    def worst_case(self, plan: Plan, names: tuple[str, ...]) -> float:
        f = plan.decision.features
        worst = 0.0
        for name in names:
            dep = self.config.deployments[name]
            cap = f.output_cap or dep.max_output_tokens or DEFAULT_OUTPUT_CAP
            cost = self.rates[name].worst_case(f.tokens, cap)
            worst = max(worst, cost or 0.0)
        return worst

    async def admit(self, plan: Plan, cost_center: str | None, key_name: str | None) -> Admission:
        budgets = self.applicable(cost_center, key_name)
        if not budgets or not plan.decision.chain:
            return Admission(None, plan)
        limits = [b.limit for b in budgets]
        keys = [limit.key for limit in limits]
        amount = self.worst_case(plan, plan.decision.chain)
        hold = await self.state.try_reserve(limits, amount)
        if hold is not None:
            return Admission(self, plan, keys, amount, hold)
        over = await self._over(budgets, amount)
        action = _strictest(b.budget.action for b in over)
        if action == "alert":
            hold = await self.state.try_reserve(limits, amount, force=True)
            for b in over:
                await self._alert(b.budget, b.period, b.limit, force_at=1.0)
            note = f"over budget ({over[0].label}): let through, alert sent"
            return Admission(self, plan, keys, amount, hold or "", (note,))
        if action == "downgrade":
            admitted = await self._downgrade(plan, limits, keys, over[0].label)
            if admitted is not None:
                return admitted
        first = over[0]
        reset = period_end(first.period, self.wall())
        error = BudgetExceededError(
            f"budget exceeded: {first.label} is spent "
            f"(this request may cost up to ${amount:.4f}); it resets at "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(reset))}"
        )
        error.retry_after = max(1.0, reset - self.wall())
        raise error

    async def _over(self, budgets: list[_Applicable], amount: float) -> list[_Applicable]:
        over = []
        for b in budgets:
            c = await self.state.counter(b.limit.key)
            if c.spent + c.reserved + amount > b.limit.limit_usd + 1e-12:
                over.append(b)
        return over or budgets

    async def _downgrade(
        self, plan: Plan, limits: list[Limit], keys: list[str], label: str
    ) -> Admission | None:
        from hybridllm.policy.downgrade import cheapest_chain

        decision = plan.decision
        for name in cheapest_chain(self.config, self.rates, decision, self.worst_case_one(plan)):
            amount = self.worst_case(plan, (name,))
            hold = await self.state.try_reserve(limits, amount)
            if hold is not None:
                reason = (
                    f"over budget ({label}): downgraded to {name}, the cheapest allowed deployment"
                )
                new = replace(
                    decision,
                    chain=(name,),
                    tiers=(self.config.deployments[name].tier,),
                    localities=(self.config.deployments[name].where,),
                    reasons=(*decision.reasons, reason),
                )
                return Admission(self, Plan(plan.request, new), keys, amount, hold, (reason,))
        return None

    def worst_case_one(self, plan: Plan) -> Callable[[str], float]:
        return lambda name: self.worst_case(plan, (name,))

    async def check_alerts(self, keys: list[str]) -> None:
        if not self.thresholds:
            return
        for key in keys:
            found = self._by_key.get(key)
            if found is None:
                continue
            budget, period = found
            amount = budget.daily_usd if period == "daily" else budget.monthly_usd
            if amount:
                try:
                    await self._alert(budget, period, Limit(key, amount))
                except SharedStateUnavailableError:
                    return  # the request is answered; alerts resume with the shared state

    async def _alert(
        self, budget: Budget, period: Period, limit: Limit, force_at: float | None = None
    ) -> None:
        spent = (await self.state.counter(limit.key)).spent
        ratio = spent / limit.limit_usd if limit.limit_usd else 0.0
        for at in self.thresholds:
            if (ratio >= at or (force_at is not None and at <= force_at)) and (
                limit.key,
                at,
            ) not in self._alerted:
                self._alerted.add((limit.key, at))
                if self.claim_alert is not None and not await self.claim_alert(limit.key, at):
                    continue  # another replica sent this one
                who = budget.cost_center or budget.key
                log.warning(
                    "budget alert: %s %s spent $%.4f of $%.2f (threshold %.0f%%)",
                    who,
                    period,
                    spent,
                    limit.limit_usd,
                    at * 100,
                )
                if self.on_alert is not None:
                    self.on_alert(budget, period, spent, limit.limit_usd, at)


def _strictest(actions: object) -> str:
    order = {"reject": 2, "downgrade": 1, "alert": 0}
    return max(actions, key=lambda a: order[a])  # type: ignore[call-overload,no-any-return]
