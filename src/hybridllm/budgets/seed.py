"""Rebuild budget spend from the ledger (the truth) when a process starts."""

from __future__ import annotations

from collections.abc import Callable

from hybridllm.budgets.manager import BudgetManager
from hybridllm.budgets.periods import period_start
from hybridllm.ledger.store import LedgerStore

__all__ = ["spend_from_ledger"]


def spend_from_ledger(
    manager: BudgetManager, open_store: Callable[[], LedgerStore]
) -> dict[str, float]:
    """The spend of every budget's current periods, summed from the ledger (blocking)."""
    now = manager.wall()
    month = period_start("monthly", now)
    day = period_start("daily", now)
    totals: dict[str, float] = {}
    keys_by_budget = []
    for budget in manager.config.budgets:
        for period, amount, start in (
            ("daily", budget.daily_usd, day),
            ("monthly", budget.monthly_usd, month),
        ):
            if amount is not None:
                keys_by_budget.append((budget, start, manager.counter_key(budget, period, now)))  # type: ignore[arg-type]
    if not keys_by_budget:
        return {}
    store = open_store()
    try:
        for row in store.rows(since=min(month, day)):
            cost = row.cost_usd or 0.0
            if not cost:
                continue
            for budget, start, key in keys_by_budget:
                if row.ts < start:
                    continue
                if budget.cost_center is not None and row.cost_center != budget.cost_center:
                    continue
                if budget.key is not None and row.key_name != budget.key:
                    continue
                totals[key] = totals.get(key, 0.0) + cost
    finally:
        store.close()
    return totals
