"""The report's aggregation, in SQL, on SQLite and on Postgres.

It reads ``ledger_requests``, the one-row-per-request summary the ledger's triggers keep (see
:mod:`hybridllm.ledger.migrations`), instead of grouping a million attempts by request:

- requests whose attempts all fall inside the period come straight from the summary;
- the few requests cut by an edge of the period (attempts on both sides of ``since`` or
  ``until``) are recomputed from their ledger rows inside the period, exactly as if the period's
  rows were the whole ledger;
- attempt figures (tokens, cost, baseline, saving) of single-attempt requests come from the
  summary; those of multi-attempt requests from their ledger rows, so that each attempt counts in
  its own group (``--by deployment``, ``tier``, ``day``).

Percentiles: ``percentile_cont`` on Postgres; on SQLite, one scan of the requests ordered by
latency, interpolated as ``percentile_cont`` does. The cloud spend comparison reads the ledger's
``ts`` index directly.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from hybridllm.ledger.migrations import recompute_requests

__all__ = ["Aggregates", "Window", "aggregate_postgres", "aggregate_sqlite"]

_WEEK_S = 7 * 86_400.0
_Q = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]

_DAY = {
    "sqlite": "CAST({t}.{ts} / 86400 AS INTEGER)",
    "postgres": "CAST(floor({t}.{ts} / 86400) AS BIGINT)",
}
_COLUMN = {
    "cost_center": "{t}.cost_center",
    "route": "{t}.route",
    "deployment": "{t}.deployment",
    "tier": "{t}.tier",
    "key": "{t}.key_name",
}
_ROW_COLS = (
    "l.request_id, l.attempt, l.ts, l.route, l.deployment, l.tier, l.key_name, l.cost_center,"
    " l.prompt_tokens, l.completion_tokens, l.cached_tokens, l.cost_usd, l.baseline_cost_usd"
)


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


def _req_group(dialect: str, group_by: str, alias: str) -> str:
    """The group of a request: that of its final row."""
    if group_by == "day":
        return _DAY[dialect].format(t=alias, ts="final_ts")
    return _COLUMN[group_by].format(t=alias)


def _row_group(dialect: str, group_by: str, alias: str) -> str:
    if group_by == "day":
        return _DAY[dialect].format(t=alias, ts="ts")
    return _COLUMN[group_by].format(t=alias)


@dataclass(frozen=True, slots=True)
class _Plan:
    """The statements of one report, with their parameters."""

    setup: list[tuple[str, list[Any]]]  # fill the temporary tables of the cut requests
    # The period's requests, as two disjoint sources of summary rows with their group ``g`` and
    # ``via_rows`` (1: cut by an edge of the period, attempt figures from its rows):
    # (SELECT over one source, its parameters).
    reqs: list[tuple[str, list[Any]]]
    rows: str  # attempts of multi-attempt and cut requests, with their request's flags
    rows_params: list[Any]
    cloud: tuple[str, list[Any]]
    cleanup: list[str]


def _plan(dialect: str, group_by: str, window: Window, span: float) -> _Plan:
    """``span``: the longest a request lasts (first to last attempt start)."""
    p = "?" if dialect == "sqlite" else "%s"
    temp = "temp.{}" if dialect == "sqlite" else "{}"
    create = (
        "CREATE TEMP TABLE {} AS "
        if dialect == "sqlite"
        else "CREATE TEMP TABLE {} ON COMMIT DROP AS "
    )
    since, until = window.since, window.until

    def inside(first: str) -> tuple[str, list[Any]]:
        if since is None:
            return f"{first} < {p} AND r.last_ts < {p}", [until, until]
        return f"{first} >= {p} AND {first} < {p} AND r.last_ts < {p}", [since, until, until]

    inside_sql, inside_params = inside("r.first_ts")
    multi_sql, multi_params = inside_sql, inside_params
    multi_hint = " INDEXED BY ledger_requests_multi" if dialect == "sqlite" else ""
    cut_ids: list[str] = []
    cut_params: list[Any] = []
    for edge in (since, until):
        if edge is None:
            continue
        cut_ids.append(
            f"SELECT request_id FROM ledger_requests WHERE first_ts >= {p} AND first_ts < {p}"
            f" AND last_ts >= {p}"
        )
        cut_params += [edge - span, edge, edge]
    in_range = f"l.ts < {p}" if since is None else f"l.ts >= {p} AND l.ts < {p}"
    range_params: list[Any] = [until] if since is None else [since, until]
    cut_rows, cut_req = temp.format("hybridllm_cut_rows"), temp.format("hybridllm_cut_req")
    setup = [
        (
            create.format("hybridllm_cut_rows") + "SELECT l.* FROM"
            f" ({' UNION '.join(cut_ids)}) c JOIN ledger l ON l.request_id = c.request_id"
            f" WHERE {in_range}",
            cut_params + range_params,
        ),
        (create.format("hybridllm_cut_req") + recompute_requests(cut_rows, "1 = 1"), []),
    ]
    g_req = _req_group(dialect, group_by, "r")
    g_row = _row_group(dialect, group_by, "l")
    reqs = [
        (
            f"SELECT {g_req} AS g, 0 AS via_rows, r.* FROM ledger_requests r WHERE {inside_sql}",
            inside_params,
        ),
        (f"SELECT {g_req} AS g, 1 AS via_rows, r.* FROM {cut_req} r", []),
    ]
    rows = (
        f"SELECT {g_row} AS g, r.cost_unknown, r.baseline_unknown, {_ROW_COLS}"
        f" FROM ledger_requests r{multi_hint} JOIN ledger l ON l.request_id = r.request_id"
        f" WHERE r.attempts > 1 AND {multi_sql}"
        f" UNION ALL SELECT {g_row} AS g, r.cost_unknown, r.baseline_unknown, {_ROW_COLS}"
        f" FROM {cut_req} r JOIN {cut_rows} l ON l.request_id = r.request_id"
    )
    week_start = window.now - _WEEK_S
    cloud = (
        f"SELECT COALESCE(SUM(CASE WHEN ts >= {p} THEN cost_usd END), 0),"
        f" COALESCE(SUM(CASE WHEN ts < {p} THEN cost_usd END), 0),"
        f" COUNT(DISTINCT CASE WHEN ts >= {p} AND cost_usd IS NULL THEN request_id END),"
        f" COUNT(DISTINCT CASE WHEN ts < {p} AND cost_usd IS NULL THEN request_id END)"
        f" FROM ledger WHERE locality = 'cloud' AND ts >= {p} AND ts < {p}"
    )
    return _Plan(
        setup=setup,
        reqs=reqs,
        rows=rows,
        rows_params=multi_params,
        cloud=(cloud, [week_start] * 4 + [window.now - 2 * _WEEK_S, window.now]),
        cleanup=[f"DROP TABLE IF EXISTS {t}" for t in (cut_rows, cut_req)],
    )


_PRICED = "r.cost_unknown = 0 AND r.baseline_unknown = 0"
_SINGLE = "r.attempts = 1 AND r.via_rows = 0"
# Per (group, tier, locality): the request figures, and the attempt figures of single-attempt
# requests (their one row is their final row).
_MAIN = (
    "SELECT r.g, r.tier, r.locality, COUNT(*), SUM(r.answered), SUM(r.escalated),"
    " SUM(r.fell_back), SUM(r.cost_unknown),"
    " SUM(CASE WHEN r.answered = 1 THEN r.baseline_unknown ELSE 0 END),"
    f" SUM(CASE WHEN {_PRICED} THEN 1 ELSE 0 END),"
    f" SUM(CASE WHEN {_SINGLE} THEN 1 ELSE 0 END),"
    f" SUM(CASE WHEN {_SINGLE} THEN r.prompt_tokens ELSE 0 END),"
    f" SUM(CASE WHEN {_SINGLE} THEN r.completion_tokens ELSE 0 END),"
    f" SUM(CASE WHEN {_SINGLE} THEN r.cached_tokens ELSE 0 END),"
    f" SUM(CASE WHEN {_SINGLE} THEN r.cost_usd ELSE 0 END),"
    f" SUM(CASE WHEN {_SINGLE} THEN r.baseline_cost_usd ELSE 0 END),"
    f" SUM(CASE WHEN {_SINGLE} THEN r.cost_unknown ELSE 0 END),"
    f" SUM(CASE WHEN {_SINGLE} AND {_PRICED} THEN r.baseline_cost_usd - r.cost_usd ELSE 0 END),"
    f" SUM(CASE WHEN {_SINGLE} AND {_PRICED} THEN r.baseline_cost_usd ELSE 0 END)"
    " FROM ({reqs}) r GROUP BY r.g, r.tier, r.locality"
)
# Per group: the attempt figures of the multi-attempt and cut requests, row by row.
_ROWS = (
    "SELECT l.g, COUNT(*), SUM(l.prompt_tokens), SUM(l.completion_tokens),"
    " SUM(l.cached_tokens), COALESCE(SUM(l.cost_usd), 0), COALESCE(SUM(l.baseline_cost_usd), 0),"
    " COUNT(DISTINCT CASE WHEN l.cost_usd IS NULL THEN l.request_id END),"
    " COALESCE(SUM(CASE WHEN l.cost_unknown = 0 AND l.baseline_unknown = 0"
    " THEN l.baseline_cost_usd - l.cost_usd END), 0),"
    " COALESCE(SUM(CASE WHEN l.cost_unknown = 0 AND l.baseline_unknown = 0"
    " THEN l.baseline_cost_usd END), 0)"
    " FROM ({rows}) l GROUP BY l.g"
)


def _collect(q: _Q, plan: _Plan) -> tuple[Any, ...]:
    """attempts, requests, request_total, tiers from the main and the rows statements."""
    attempts: dict[Any, list[Any]] = {}
    requests: dict[Any, list[int]] = {}
    tiers: dict[tuple[Any, int, str], int] = {}
    for source, params in plan.reqs:
        for g, tier, locality, *nums in q(_MAIN.format(reqs=source), params):
            req = requests.setdefault(g, [0] * 7)
            for i in range(7):
                req[i] += int(nums[i] or 0)
            if nums[1]:
                key = (g, int(tier), str(locality))
                tiers[key] = tiers.get(key, 0) + int(nums[1])
            if nums[7]:
                _add(attempts, g, nums[7:])
    for g, *nums in q(_ROWS.format(rows=plan.rows), plan.rows_params):
        _add(attempts, g, nums)
    request_total = [sum(r[i] for r in requests.values()) for i in range(7)]
    return (
        {g: tuple(v) for g, v in attempts.items()},
        {g: tuple(v) for g, v in requests.items()},
        tuple(request_total),
        [(g, t, loc, n) for (g, t, loc), n in tiers.items()],
    )


def _add(into: dict[Any, list[Any]], g: Any, nums: Sequence[Any]) -> None:
    """Add (attempts, prompt, completion, cached, cost, baseline, unknown, saving, priced
    baseline) to the group's running sums."""
    kinds = (int, int, int, int, float, float, int, float, float)
    acc = into.setdefault(g, [k() for k in kinds])
    for i, kind in enumerate(kinds):
        acc[i] += kind(nums[i] or 0)


# -- SQLite ------------------------------------------------------------------------------------


def aggregate_sqlite(conn: sqlite3.Connection, group_by: str, window: Window) -> Aggregates:
    def q(sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in conn.execute(sql, args).fetchall()]

    # The summary is stored in first_ts order (SQLite): a period is one range read of it.
    ((span,),) = q("SELECT MAX(last_ts - first_ts) FROM ledger_requests", [])
    plan = _plan("sqlite", group_by, window, float(span or 0.0))
    for sql in plan.cleanup:
        conn.execute(sql)
    try:
        for sql, args in plan.setup:
            conn.execute(sql, args)
        attempts, requests, request_total, tiers = _collect(q, plan)
        (cloud,) = q(*plan.cloud)
        latencies: list[tuple[float, Any, int]] = []
        for source, params in plan.reqs:
            latencies += conn.execute(
                "SELECT r.end_ms - r.first_ts * 1000.0, r.g,"
                " CASE WHEN r.answered = 1 AND r.locality = 'local' THEN 1 ELSE 0 END"
                f" FROM ({source}) r",
                params,
            ).fetchall()
        # Sorting plain float lists in Python beats SQLite's sorter here.
        by_group: dict[Any, list[float]] = {}
        for lat, g_, _ in latencies:
            by_group.setdefault(g_, []).append(lat)
        for values in by_group.values():
            values.sort()
        every = sorted(lat for lat, _, _ in latencies)
        local = sorted(lat for lat, _, is_local in latencies if is_local)
    finally:
        for sql in plan.cleanup:
            conn.execute(sql)
    return Aggregates(
        attempts=attempts,
        requests=requests,
        request_total=request_total,
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
    """Runs in one transaction on ``conn``; the temporary tables go with its end."""

    def q(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        # Never prepared: the temporary tables' column types change with ``--by``, and a
        # statement prepared for one grouping would fail on a pooled connection reused for another.
        return [tuple(r) for r in conn.execute(sql.encode(), params, prepare=False).fetchall()]

    latency = "r.end_ms - r.first_ts * 1000.0"
    pct = (
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {latency}),"
        f" percentile_cont(0.95) WITHIN GROUP (ORDER BY {latency}),"
        f" percentile_cont(0.95) WITHIN GROUP (ORDER BY {latency})"
        " FILTER (WHERE r.answered = 1 AND r.locality = 'local')"
    )
    with conn.transaction():
        conn.execute("SET LOCAL work_mem = '128MB'")
        ((span,),) = q("SELECT MAX(last_ts - first_ts) FROM ledger_requests", [])
        plan = _plan("postgres", group_by, window, float(span or 0.0))
        for sql, args in plan.setup:
            conn.execute(sql.encode(), args)
        attempts, requests, request_total, tiers = _collect(q, plan)
        (cloud,) = q(*plan.cloud)
        percentiles: dict[Any, tuple[float | None, float | None]] = {}
        total: tuple[float | None, float | None] = (None, None)
        p95_local: float | None = None
        for is_total, g, p50, p95, p95_loc in q(
            f"SELECT GROUPING(r.g), r.g, {pct} FROM ({plan.reqs[0][0]}"
            f" UNION ALL {plan.reqs[1][0]}) r GROUP BY GROUPING SETS ((r.g), ())",
            plan.reqs[0][1] + plan.reqs[1][1],
        ):
            if is_total:
                total, p95_local = (_float(p50), _float(p95)), _float(p95_loc)
            else:
                percentiles[g] = (_float(p50), _float(p95))
    return Aggregates(
        attempts=attempts,
        requests=requests,
        request_total=request_total,
        tiers=tiers,
        percentiles=percentiles,
        total_percentiles=total,
        p95_local=p95_local,
        cloud=cloud,
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
