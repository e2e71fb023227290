"""The report's aggregation, in SQL, on SQLite and on Postgres.

One pass groups the period's rows by request into a temporary table (one row per request: its
final row's group, tier and locality, and its flags); the figures are then plain GROUP BYs over
that table and over the ledger joined to it. Percentiles: ``percentile_cont`` on Postgres; on
SQLite, one scan of the requests ordered by latency, interpolated as ``percentile_cont`` does.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

__all__ = ["Aggregates", "Window", "aggregate_postgres", "aggregate_sqlite"]

_WEEK_S = 7 * 86_400.0
_Q = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]

# The group of a row, by ``--by``: {t} is the table alias.
_GROUP_SQL: dict[str, dict[str, str]] = {
    "sqlite": {"day": "CAST({t}.ts / 86400 AS INTEGER)"},
    "postgres": {"day": "CAST(floor({t}.ts / 86400) AS BIGINT)"},
}
_COLUMN = {
    "cost_center": "{t}.cost_center",
    "route": "{t}.route",
    "deployment": "{t}.deployment",
    "tier": "{t}.tier",
    "key": "{t}.key_name",
}


@dataclass(frozen=True, slots=True)
class Window:
    since: float | None
    until: float
    now: float


@dataclass(slots=True)
class Aggregates:
    """Raw figures, straight from SQL; ``build_report`` turns them into a Report."""

    # group -> (attempts, prompt, completion, cached, cost, baseline, unknown-cost requests,
    #           saving over priced requests, baseline over priced requests)
    attempts: dict[Any, tuple[Any, ...]]
    # group -> (requests, answered, escalated, fell back, cost unknown, baseline unknown, priced)
    requests: dict[Any, tuple[Any, ...]]
    request_total: tuple[Any, ...]
    tiers: list[tuple[Any, int, str, int]]  # (group, tier, locality, answered requests)
    percentiles: dict[Any, tuple[float | None, float | None]]  # group -> (p50, p95)
    total_percentiles: tuple[float | None, float | None]
    p95_local: float | None
    cloud: tuple[Any, ...]  # (this week cost, last week cost, this unknown, last unknown)


def _group_expr(dialect: str, group_by: str, alias: str) -> str:
    template = _GROUP_SQL[dialect].get(group_by) or _COLUMN[group_by]
    return template.format(t=alias)


def _range(window: Window, p: str) -> tuple[str, list[float]]:
    where = ["1 = 1"]
    params: list[float] = []
    if window.since is not None:
        where.append(f"ts >= {p}")
        params.append(window.since)
    where.append(f"ts < {p}")
    params.append(window.until)
    return " AND ".join(where), params


def _statements(dialect: str, group_by: str, window: Window, p: str) -> dict[str, Any]:
    in_range, params = _range(window, p)
    l_range = in_range.replace("ts ", "l.ts ")
    req = (
        "SELECT request_id,"
        " COALESCE(MAX(CASE WHEN status IN ('ok', 'partial') THEN attempt END), MAX(attempt))"
        " AS final_attempt,"
        " MAX(CASE WHEN status IN ('ok', 'partial') THEN 1 ELSE 0 END) AS answered,"
        " MAX(CASE WHEN status = 'escalated' THEN 1 ELSE 0 END) AS escalated,"
        " MAX(CASE WHEN attempt > 1 OR fallback_from IS NOT NULL THEN 1 ELSE 0 END)"
        " AS fell_back,"
        " MAX(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS cost_unknown,"
        " MAX(CASE WHEN baseline_cost_usd IS NULL THEN 1 ELSE 0 END) AS baseline_unknown,"
        " MAX(ts * 1000.0 + latency_ms) - MIN(ts) * 1000.0 AS latency_ms"
        f" FROM ledger WHERE {in_range} GROUP BY request_id"
    )
    fin = (
        f"SELECT r.*, {_group_expr(dialect, group_by, 'l')} AS g, l.tier AS tier,"
        " l.locality AS locality"
        f" FROM ({req}) r JOIN ledger l"
        " ON l.request_id = r.request_id AND l.attempt = r.final_attempt"
    )
    attempts = (
        f"SELECT {_group_expr(dialect, group_by, 'l')} AS g, COUNT(*),"
        " SUM(l.prompt_tokens), SUM(l.completion_tokens), SUM(l.cached_tokens),"
        " COALESCE(SUM(l.cost_usd), 0), COALESCE(SUM(l.baseline_cost_usd), 0),"
        " COUNT(DISTINCT CASE WHEN l.cost_usd IS NULL THEN l.request_id END),"
        " COALESCE(SUM(CASE WHEN f.cost_unknown = 0 AND f.baseline_unknown = 0"
        " THEN l.baseline_cost_usd - l.cost_usd END), 0),"
        " COALESCE(SUM(CASE WHEN f.cost_unknown = 0 AND f.baseline_unknown = 0"
        " THEN l.baseline_cost_usd END), 0)"
        " FROM ledger l JOIN hybridllm_report_fin f ON f.request_id = l.request_id"
        f" WHERE {l_range} GROUP BY 1"
    )
    request_cols = (
        "COUNT(*), COALESCE(SUM(answered), 0), COALESCE(SUM(escalated), 0),"
        " COALESCE(SUM(fell_back), 0), COALESCE(SUM(cost_unknown), 0),"
        " COALESCE(SUM(CASE WHEN answered = 1 THEN baseline_unknown ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN cost_unknown = 0 AND baseline_unknown = 0 THEN 1 ELSE 0 END), 0)"
    )
    week_start = window.now - _WEEK_S
    cloud = (
        f"SELECT COALESCE(SUM(CASE WHEN ts >= {p} THEN cost_usd END), 0),"
        f" COALESCE(SUM(CASE WHEN ts < {p} THEN cost_usd END), 0),"
        f" COUNT(DISTINCT CASE WHEN ts >= {p} AND cost_usd IS NULL THEN request_id END),"
        f" COUNT(DISTINCT CASE WHEN ts < {p} AND cost_usd IS NULL THEN request_id END)"
        f" FROM ledger WHERE locality = 'cloud' AND ts >= {p} AND ts < {p}"
    )
    return {
        "fin": (fin, params),
        "attempts": (attempts, params),
        "requests": (f"SELECT g, {request_cols} FROM hybridllm_report_fin GROUP BY g", []),
        "request_total": (f"SELECT {request_cols} FROM hybridllm_report_fin", []),
        "tiers": (
            "SELECT g, tier, locality, COUNT(*) FROM hybridllm_report_fin WHERE answered = 1"
            " GROUP BY g, tier, locality",
            [],
        ),
        "cloud": (
            cloud,
            [week_start] * 4 + [window.now - 2 * _WEEK_S, window.now],
        ),
    }


def _collect(
    q: _Q, stmts: dict[str, Any]
) -> tuple[dict[Any, tuple[Any, ...]], dict[Any, tuple[Any, ...]], tuple[Any, ...], Any, Any]:
    attempts = {row[0]: tuple(row[1:]) for row in q(*stmts["attempts"])}
    requests = {row[0]: tuple(row[1:]) for row in q(*stmts["requests"])}
    (request_total,) = q(*stmts["request_total"])
    tiers = [(g, int(t), str(loc), int(n)) for g, t, loc, n in q(*stmts["tiers"])]
    (cloud,) = q(*stmts["cloud"])
    return attempts, requests, tuple(request_total), tiers, tuple(cloud)


# -- SQLite ------------------------------------------------------------------------------------


def aggregate_sqlite(conn: sqlite3.Connection, group_by: str, window: Window) -> Aggregates:
    """SQLite has no hash join and sorts for every GROUP BY, so it gets a plan of its own: the
    final row of each request is found in the one GROUP BY request_id pass (an arg-max over a
    sortable key) rather than by a join, and the saving of priced requests is the group's saving
    less that of the few requests with an unknown price."""
    stmts = _statements("sqlite", group_by, window, "?")
    range_sql, params = _range(window, "?")
    # A period covering most of the ledger is read faster by a plain scan than through the ts
    # index (one random lookup per row): ``+ts`` tells SQLite not to use the index.
    lo, hi = conn.execute("SELECT MIN(ts), MAX(ts) FROM ledger").fetchone()
    if lo is not None and (window.since is None or window.since - lo < 0.5 * (hi - lo)):
        range_sql = range_sql.replace("ts ", "+ts ")
    g = _group_expr("sqlite", group_by, "ledger")

    def q(sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in conn.execute(sql, args).fetchall()]

    final_key = (
        "MAX(CASE WHEN status IN ('ok', 'partial') THEN '1' ELSE '0' END"
        " || printf('%06d%06d', attempt, tier)"
        " || CASE WHEN locality = 'local' THEN 'L' ELSE 'C' END"
        f" || COALESCE('=' || {g}, '-'))"
    )
    g_back = "CASE WHEN substr(k, 15, 1) = '-' THEN NULL ELSE substr(k, 16) END"
    if group_by in ("tier", "day"):
        g_back = f"CAST({g_back} AS INTEGER)"
    fin = (
        "INSERT INTO temp.hybridllm_report_fin SELECT request_id,"
        " CAST(substr(k, 2, 6) AS INTEGER), answered, escalated, fell_back, cost_unknown,"
        f" baseline_unknown, latency_ms, {g_back}, CAST(substr(k, 8, 6) AS INTEGER),"
        " CASE substr(k, 14, 1) WHEN 'L' THEN 'local' ELSE 'cloud' END FROM ("
        f" SELECT request_id, {final_key} AS k,"
        " MAX(CASE WHEN status IN ('ok', 'partial') THEN 1 ELSE 0 END) AS answered,"
        " MAX(CASE WHEN status = 'escalated' THEN 1 ELSE 0 END) AS escalated,"
        " MAX(CASE WHEN attempt > 1 OR fallback_from IS NOT NULL THEN 1 ELSE 0 END)"
        " AS fell_back,"
        " MAX(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS cost_unknown,"
        " MAX(CASE WHEN baseline_cost_usd IS NULL THEN 1 ELSE 0 END) AS baseline_unknown,"
        " MAX(ts * 1000.0 + latency_ms) - MIN(ts) * 1000.0 AS latency_ms"
        f" FROM ledger WHERE {range_sql} GROUP BY request_id)"
    )
    attempts_sql = (
        f"SELECT {g} AS g, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens),"
        " SUM(cached_tokens), COALESCE(SUM(cost_usd), 0), COALESCE(SUM(baseline_cost_usd), 0),"
        " COUNT(DISTINCT CASE WHEN cost_usd IS NULL THEN request_id END)"
        f" FROM ledger WHERE {range_sql} GROUP BY 1"
    )
    unpriced_sql = (
        f"SELECT {g} AS g, COALESCE(SUM(cost_usd), 0), COALESCE(SUM(baseline_cost_usd), 0)"
        f" FROM ledger WHERE {range_sql} AND request_id IN (SELECT request_id"
        " FROM temp.hybridllm_report_fin WHERE cost_unknown = 1 OR baseline_unknown = 1)"
        " GROUP BY 1"
    )
    conn.execute("DROP TABLE IF EXISTS temp.hybridllm_report_fin")
    try:
        conn.execute(
            "CREATE TEMP TABLE hybridllm_report_fin (request_id TEXT, final_attempt,"
            " answered, escalated, fell_back, cost_unknown, baseline_unknown, latency_ms, g,"
            " tier, locality)"
        )
        conn.execute(fin, params)
        unpriced = {row[0]: (float(row[1]), float(row[2])) for row in q(unpriced_sql, params)}
        attempts: dict[Any, tuple[Any, ...]] = {}
        for row in q(attempts_sql, params):
            cost, baseline = float(row[5]), float(row[6])
            u_cost, u_baseline = unpriced.get(row[0], (0.0, 0.0))
            saving = (baseline - cost) - (u_baseline - u_cost)
            attempts[row[0]] = (*row[1:], saving, baseline - u_baseline)
        requests = {row[0]: tuple(row[1:]) for row in q(*stmts["requests"])}
        (request_total,) = q(*stmts["request_total"])
        tiers = [(g_, int(t), str(loc), int(n)) for g_, t, loc, n in q(*stmts["tiers"])]
        (cloud,) = q(*stmts["cloud"])
        by_group: dict[Any, list[float]] = {}
        every: list[float] = []
        local: list[float] = []
        for g_, answered, locality, latency in conn.execute(
            "SELECT g, answered, locality, latency_ms FROM temp.hybridllm_report_fin"
            " ORDER BY latency_ms"
        ):
            by_group.setdefault(g_, []).append(latency)
            every.append(latency)
            if answered == 1 and locality == "local":
                local.append(latency)
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.hybridllm_report_fin")
    return Aggregates(
        attempts=attempts,
        requests=requests,
        request_total=tuple(request_total),
        tiers=tiers,
        percentiles={k: (_cont(v, 0.5), _cont(v, 0.95)) for k, v in by_group.items()},
        total_percentiles=(_cont(every, 0.5), _cont(every, 0.95)),
        p95_local=_cont(local, 0.95),
        cloud=tuple(cloud),
    )


def _cont(ordered: list[float], p: float) -> float | None:
    """``percentile_cont(p)`` of an ascending list, with Postgres's arithmetic."""
    n = len(ordered)
    if not n:
        return None
    pos = p * (n - 1)
    lo = math.floor(pos)
    if lo + 1 >= n or pos == lo:
        return float(ordered[lo])
    first, second = float(ordered[lo]), float(ordered[lo + 1])
    return first + (pos - lo) * (second - first)


# -- Postgres ----------------------------------------------------------------------------------


def aggregate_postgres(conn: psycopg.Connection[Any], group_by: str, window: Window) -> Aggregates:
    """Runs in one transaction on ``conn``; the temporary table goes with its commit."""
    stmts = _statements("postgres", group_by, window, "%s")

    def q(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in conn.execute(sql.encode(), params).fetchall()]

    pct = (
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms),"
        " percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)"
    )
    with conn.transaction():
        conn.execute("SET LOCAL work_mem = '128MB'")
        fin_sql, fin_params = stmts["fin"]
        conn.execute(
            f"CREATE TEMP TABLE hybridllm_report_fin ON COMMIT DROP AS {fin_sql}".encode(),
            fin_params,
        )
        conn.execute("ANALYZE hybridllm_report_fin")
        attempts, requests, request_total, tiers, cloud = _collect(q, stmts)
        percentiles = {
            row[0]: (_float(row[1]), _float(row[2]))
            for row in q(f"SELECT g, {pct} FROM hybridllm_report_fin GROUP BY g", [])
        }
        ((p50, p95),) = q(f"SELECT {pct} FROM hybridllm_report_fin", [])
        ((p95_local,),) = q(
            "SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)"
            " FROM hybridllm_report_fin WHERE answered = 1 AND locality = 'local'",
            [],
        )
    return Aggregates(
        attempts=attempts,
        requests=requests,
        request_total=request_total,
        tiers=tiers,
        percentiles=percentiles,
        total_percentiles=(_float(p50), _float(p95)),
        p95_local=_float(p95_local),
        cloud=cloud,
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
