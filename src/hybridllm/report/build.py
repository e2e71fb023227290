"""``build_report``: the figures ``hybridllm report`` shows, computed by the store's database."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

from hybridllm.errors import UsageError
from hybridllm.ledger.open import open_store, sqlite_path
from hybridllm.ledger.sqlite import SqliteStore
from hybridllm.ledger.store import LedgerStore
from hybridllm.report.model import GROUP_BY, GroupStats, Health, Report
from hybridllm.report.sql import Aggregates, Window, aggregate_postgres, aggregate_sqlite

__all__ = ["build_report"]

NONE_LABEL = "(none)"


def build_report(
    store_or_url: LedgerStore | str,
    since: float | None,
    group_by: str,
    *,
    until: float | None = None,
    now: float | None = None,
) -> Report:
    """The report over the rows with ``since <= ts < until`` (``until`` defaults to ``now``).

    ``store_or_url``: an open SQLite or Postgres store (left open), or a ledger URL (opened and
    closed here; a SQLite file that does not exist is a :class:`UsageError`). The cloud spend
    comparison always covers the 14 days before ``now``, whatever ``since`` says.
    """
    if group_by not in GROUP_BY:
        raise UsageError(f"--by {group_by!r}: expected one of {', '.join(GROUP_BY)}")
    now = time.time() if now is None else now
    window = Window(since=since, until=now if until is None else until, now=now)
    if isinstance(store_or_url, str):
        store = _open(store_or_url)
        try:
            return _build(store, group_by, window)
        finally:
            store.close()
    return _build(store_or_url, group_by, window)


def _open(url: str) -> LedgerStore:
    if url.startswith("sqlite://"):
        path = sqlite_path(url)
        if path != ":memory:" and not os.path.exists(path):
            raise UsageError(f"no ledger at {path} (from {url})")
    return open_store(url)


def _build(store: LedgerStore, group_by: str, window: Window) -> Report:
    from hybridllm.ledger.postgres import PostgresStore

    if isinstance(store, SqliteStore):
        agg = aggregate_sqlite(store.conn, group_by, window)
        name = f"sqlite:{store.path}"
    elif isinstance(store, PostgresStore):
        with store.pool.connection() as conn:
            agg = aggregate_postgres(conn, group_by, window)
        name = store.url
    else:
        raise UsageError(f"report needs a SQLite or Postgres ledger store, not {store!r}")
    return _assemble(agg, group_by, window, name)


def _assemble(agg: Aggregates, group_by: str, window: Window, name: str) -> Report:
    shares: dict[Any, dict[int, int]] = {}
    local_answered = 0
    for g, tier, locality, n in agg.tiers:
        by_tier = shares.setdefault(g, {})
        by_tier[tier] = by_tier.get(tier, 0) + n
        if locality == "local":
            local_answered += n
    keys = set(agg.attempts) | set(agg.requests)
    groups = [
        _stats(
            _label(g, group_by),
            agg.attempts.get(g),
            agg.requests.get(g),
            shares.get(g, {}),
            agg.percentiles.get(g, (None, None)),
        )
        for g in keys
    ]
    groups.sort(key=_sort_key(group_by))
    all_tiers: dict[int, int] = {}
    for by_tier in shares.values():
        for tier, n in by_tier.items():
            all_tiers[tier] = all_tiers.get(tier, 0) + n
    attempt_sum = _sum_attempts(list(agg.attempts.values()), agg.request_total)
    total = _stats("total", attempt_sum, agg.request_total, all_tiers, agg.total_percentiles)
    this_week, last_week, unknown_this, unknown_last = agg.cloud
    this_week, last_week = float(this_week), float(last_week)
    health = Health(
        requests=total.requests,
        local_share=_rate(local_answered, total.requests),
        fallback_rate=total.fallback_rate,
        p95_local_latency_ms=agg.p95_local,
        cloud_spend_this_week_usd=this_week,
        cloud_spend_last_week_usd=last_week,
        cloud_unknown_cost_requests_this_week=int(unknown_this),
        cloud_unknown_cost_requests_last_week=int(unknown_last),
        cloud_spend_change_pct=(this_week - last_week) / last_week * 100 if last_week else None,
    )
    return Report(
        group_by=group_by,
        since=window.since,
        until=window.until,
        now=window.now,
        groups=tuple(groups),
        total=total,
        health=health,
        store=name,
    )


def _stats(
    group: str,
    attempts: tuple[Any, ...] | None,
    requests: tuple[Any, ...] | None,
    tiers: dict[int, int],
    percentiles: tuple[float | None, float | None],
) -> GroupStats:
    n_att, prompt, completion, cached, cost, baseline, unknown_cost, saving, priced_baseline = (
        attempts or (0, 0, 0, 0, 0.0, 0.0, 0, 0.0, 0.0)
    )
    n_req, _answered, escalated, fell_back, _cost_unknown, baseline_unknown, priced = requests or (
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    )
    n_req = int(n_req)
    priced_baseline = float(priced_baseline or 0.0)
    if abs(priced_baseline) < 1e-12:  # SQLite derives it by subtraction: rounding, not money
        priced_baseline = 0.0
    has_priced = bool(priced) or bool(priced_baseline)
    return GroupStats(
        group=group,
        requests=n_req,
        attempts=int(n_att),
        prompt_tokens=int(prompt or 0),
        completion_tokens=int(completion or 0),
        cached_tokens=int(cached or 0),
        cost_usd=float(cost or 0.0),
        unknown_cost_requests=int(unknown_cost),
        baseline_cost_usd=float(baseline or 0.0),
        unknown_baseline_requests=int(baseline_unknown),
        priced_requests=int(priced),
        saving_usd=float(saving or 0.0) if has_priced else None,
        saving_pct=float(saving or 0.0) / priced_baseline * 100 if priced_baseline else None,
        tier_shares={t: n / n_req for t, n in sorted(tiers.items())} if n_req else {},
        fallback_rate=_rate(fell_back, n_req),
        escalation_rate=_rate(escalated, n_req),
        error_rate=_rate(n_req - int(_answered), n_req),
        p50_latency_ms=percentiles[0],
        p95_latency_ms=percentiles[1],
    )


def _sum_attempts(
    rows: list[tuple[Any, ...]], request_total: tuple[Any, ...]
) -> tuple[Any, ...] | None:
    if not rows:
        return None
    summed = [sum((r[i] or 0) for r in rows) for i in range(len(rows[0]))]
    # A request may have unknown-cost attempts in several groups: count it once.
    summed[6] = int(request_total[4] or 0)
    return tuple(summed)


def _rate(part: Any, whole: int) -> float | None:
    return int(part) / whole if whole else None


def _label(g: Any, group_by: str) -> str:
    if g is None:
        return NONE_LABEL
    if group_by == "day":
        return datetime.fromtimestamp(int(g) * 86_400, UTC).date().isoformat()
    return str(g)


def _sort_key(group_by: str) -> Any:
    if group_by == "day":
        return lambda s: s.group
    if group_by == "tier":
        return lambda s: (int(s.group) if s.group.lstrip("-").isdigit() else 0, s.group)
    return lambda s: (-s.requests, -s.attempts, s.group)
