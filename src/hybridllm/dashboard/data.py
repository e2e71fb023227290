"""What the dashboard's JSON API returns, read from the ledger (every function blocks).

- :func:`summary`: the report over the period, grouped by deployment (totals, health, tier
  shares, rates, latency percentiles): :meth:`hybridllm.report.Report.to_dict`.
- :func:`spend`: cost and baseline cost per UTC day, the cost split by deployment.
- :func:`budgets`: each configured budget's spend this day and this month, and the month's
  burn-down (what is left of the monthly budget at the end of each day so far).
- :func:`latest`: the newest attempts, with what explains their routing.

Spend counts every attempt's known cost, as budgets and ``report`` do.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from hybridllm.budgets.periods import period_start
from hybridllm.config.models import Budget
from hybridllm.ledger.postgres import PostgresStore
from hybridllm.ledger.sqlite import SqliteStore
from hybridllm.ledger.store import LedgerStore
from hybridllm.report import build_report

__all__ = ["LATEST_COLUMNS", "budgets", "latest", "spend", "summary"]

_DAY_S = 86_400
LATEST_COLUMNS = (
    "ts",
    "request_id",
    "attempt",
    "route",
    "deployment",
    "tier",
    "locality",
    "cost_center",
    "key_name",
    "status",
    "fallback_from",
    "error_class",
    "cost_usd",
    "latency_ms",
)


def _query(store: LedgerStore, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """``sql`` with ``?`` placeholders and ``{day}`` for a row's UTC day number."""
    if isinstance(store, SqliteStore):
        conn: sqlite3.Connection = store.conn
        text = sql.format(day="CAST(ts / 86400 AS INTEGER)")
        return [tuple(r) for r in conn.execute(text, params).fetchall()]
    if isinstance(store, PostgresStore):
        text = sql.format(day="CAST(floor(ts / 86400) AS BIGINT)").replace("?", "%s")
        with store.pool.connection() as pg:
            return [tuple(r) for r in pg.execute(text.encode(), params).fetchall()]
    raise TypeError(f"the dashboard needs a SQLite or Postgres ledger, not {store!r}")


def _iso_day(day: int) -> str:
    return datetime.fromtimestamp(day * _DAY_S, UTC).date().isoformat()


def summary(store: LedgerStore, since: float | None, now: float) -> dict[str, Any]:
    return build_report(store, since, "deployment", now=now).to_dict()


def spend(store: LedgerStore, since: float | None, now: float) -> dict[str, Any]:
    rows = _query(
        store,
        "SELECT {day}, deployment, COALESCE(SUM(cost_usd), 0), COALESCE(SUM(baseline_cost_usd), 0)"
        " FROM ledger WHERE ts >= ? AND ts < ? GROUP BY 1, 2",
        [since if since is not None else float("-inf"), now],
    )
    if not rows:
        return {"days": [], "deployments": {}, "cost": [], "baseline": []}
    first = int(min(r[0] for r in rows)) if since is None else int(since // _DAY_S)
    days = list(range(first, int(now // _DAY_S) + 1))
    index = {d: i for i, d in enumerate(days)}
    by_dep: dict[str, list[float]] = {}
    cost = [0.0] * len(days)
    baseline = [0.0] * len(days)
    for day, dep, c, b in rows:
        i = index[int(day)]
        by_dep.setdefault(str(dep), [0.0] * len(days))[i] += float(c)
        cost[i] += float(c)
        baseline[i] += float(b)
    return {
        "days": [_iso_day(d) for d in days],
        "deployments": dict(sorted(by_dep.items())),
        "cost": cost,
        "baseline": baseline,
    }


def _budget_filter(budget: Budget) -> tuple[str, list[Any]]:
    where, params = [], []
    if budget.cost_center is not None:
        where.append("cost_center = ?")
        params.append(budget.cost_center)
    if budget.key is not None:
        where.append("key_name = ?")
        params.append(budget.key)
    return "".join(f" AND {w}" for w in where), params


def budget_name(budget: Budget) -> str:
    parts = [f"cost_center={budget.cost_center}"] if budget.cost_center else []
    parts += [f"key={budget.key}"] if budget.key else []
    return ", ".join(parts) or "everything"


def budgets(store: LedgerStore, configured: Sequence[Budget] | None, now: float) -> dict[str, Any]:
    """``configured``: the config's budgets; ``None`` when no config is loaded."""
    month = period_start("monthly", now)
    today = period_start("daily", now)
    month_days = list(range(int(month // _DAY_S), int(now // _DAY_S) + 1))
    out = []
    for budget in configured or ():
        where, params = _budget_filter(budget)
        per_day = dict(
            _query(
                store,
                "SELECT {day}, COALESCE(SUM(cost_usd), 0) FROM ledger"
                f" WHERE ts >= ? AND ts < ?{where} GROUP BY 1",
                [month, now, *params],
            )
        )
        spent_month = 0.0
        remaining = []
        for day in month_days:
            spent_month += float(per_day.get(day, 0.0))
            if budget.monthly_usd is not None:
                remaining.append(budget.monthly_usd - spent_month)
        spent_today = float(per_day.get(int(today // _DAY_S), 0.0))
        out.append(
            {
                "name": budget_name(budget),
                "cost_center": budget.cost_center,
                "key": budget.key,
                "action": budget.action,
                "daily_usd": budget.daily_usd,
                "monthly_usd": budget.monthly_usd,
                "spent_today_usd": spent_today,
                "spent_month_usd": spent_month,
                "remaining_by_day": remaining,
            }
        )
    return {
        "configured": configured is not None,
        "month_days": [_iso_day(d) for d in month_days],
        "budgets": out,
    }


def latest(store: LedgerStore, limit: int) -> dict[str, Any]:
    rows = _query(
        store,
        f"SELECT {', '.join(LATEST_COLUMNS)} FROM ledger ORDER BY ts DESC LIMIT ?",
        [limit],
    )
    rows.sort(key=lambda r: (-r[0], r[1], r[2]))  # newest first; a request's attempts in order
    return {"columns": list(LATEST_COLUMNS), "rows": [list(r) for r in rows]}
