"""The report's figures: worked out by hand on a tiny ledger, and against direct SQL on a seeded
ledger, on both stores."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hybridllm.errors import UsageError
from hybridllm.ledger import LedgerRow, SqliteStore, open_store
from hybridllm.ledger.postgres import PostgresStore
from hybridllm.report import GROUP_BY, GroupStats, Report, build_report

from .conftest import NOW
from .pgservice import temp_schema

T = NOW - 86_400.0  # a day before "now": inside this week
Store = SqliteStore | PostgresStore


def row(request_id: str, attempt: int, deployment: str, status: str, **kw: Any) -> LedgerRow:
    tiers = {"local-small": (1, "local"), "local-large": (2, "local"), "deepseek": (2, "cloud")}
    tier, locality = tiers.get(deployment, (3, "cloud"))
    fields: dict[str, Any] = {
        "request_id": request_id,
        "attempt": attempt,
        "ts": T,
        "route": "default",
        "deployment": deployment,
        "provider": "p",
        "model": "m",
        "tier": tier,
        "locality": locality,
        "cost_center": "research",
        "key_name": "team-a",
        "prompt_tokens": 100,
        "completion_tokens": 10,
        "cached_tokens": 0,
        "cost_usd": 0.0,
        "baseline_cost_usd": 0.0,
        "latency_ms": 100.0,
        "ttft_ms": None,
        "status": status,
        "error_class": None if status == "ok" else "E",
        "fallback_from": None,
        "streamed": False,
    }
    fields.update(kw)
    return LedgerRow(**fields)


HAND_MADE = [
    # r1: answered locally at once.
    row("r1", 1, "local-small", "ok", baseline_cost_usd=0.01, latency_ms=100.0),
    # r2: local error, then deepseek answers: a fallback. End to end 700 ms.
    row(
        "r2",
        1,
        "local-small",
        "error",
        ts=T + 10,
        latency_ms=50.0,
        prompt_tokens=0,
        completion_tokens=0,
    ),
    row(
        "r2",
        2,
        "deepseek",
        "ok",
        ts=T + 10.5,
        latency_ms=200.0,
        cost_usd=0.001,
        baseline_cost_usd=0.02,
        fallback_from="local-small",
        cached_tokens=40,
    ),
    # r3: a weak local reply escalated to deepseek.
    row("r3", 1, "local-small", "escalated", ts=T + 20, latency_ms=300.0, cost_center="support"),
    row(
        "r3",
        2,
        "deepseek",
        "ok",
        ts=T + 20.3,
        latency_ms=900.0,
        cost_usd=0.002,
        baseline_cost_usd=0.03,
        fallback_from="local-small",
        cost_center="support",
    ),
    # r4: every attempt failed.
    row(
        "r4",
        1,
        "sonnet",
        "error",
        ts=T + 30,
        latency_ms=1000.0,
        cost_center="support",
        prompt_tokens=0,
        completion_tokens=0,
    ),
    row(
        "r4",
        2,
        "deepseek",
        "error",
        ts=T + 31,
        latency_ms=1000.0,
        cost_center="support",
        fallback_from="sonnet",
        prompt_tokens=0,
        completion_tokens=0,
    ),
    # r5: answered by a deployment whose price is unknown, no cost center or key.
    row(
        "r5",
        1,
        "mystery",
        "ok",
        ts=T + 40,
        cost_usd=None,
        baseline_cost_usd=0.05,
        cost_center=None,
        key_name=None,
        latency_ms=400.0,
    ),
    # r6: a stream that broke after its first byte, on a local tier-2 model.
    row(
        "r6",
        1,
        "local-large",
        "partial",
        ts=T + 50,
        baseline_cost_usd=0.004,
        latency_ms=300.0,
        streamed=True,
        ttft_ms=20.0,
    ),
    # r7: ten days ago, a cloud answer: outside --since, counted as last week's cloud spend.
    row("r7", 1, "sonnet", "ok", ts=NOW - 10 * 86_400, cost_usd=0.5, baseline_cost_usd=0.5),
]


@pytest.fixture(params=["sqlite", "postgres"])
def hand_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s: Store = SqliteStore(tmp_path / "hand.db")
        s.migrate()
        s.write_many(HAND_MADE)
        yield s
        s.close()
    else:
        with temp_schema() as url:
            s = PostgresStore(url)
            s.migrate()
            s.write_many(HAND_MADE)
            yield s
            s.close()


def by_group(report: Report) -> dict[str, GroupStats]:
    return {g.group: g for g in report.groups}


def test_a_hand_made_ledger_gives_the_figures_worked_out_by_hand(hand_store: Store) -> None:
    report = build_report(hand_store, T - 1, "cost_center", now=NOW)
    groups = by_group(report)
    assert list(groups) == ["research", "support", "(none)"]  # by requests, then name

    research = groups["research"]
    assert (research.requests, research.attempts) == (3, 4)
    assert research.prompt_tokens == 300 and research.cached_tokens == 40
    assert research.cost_usd == pytest.approx(0.001)
    assert research.baseline_cost_usd == pytest.approx(0.034)
    assert research.saving_usd == pytest.approx(0.033)
    assert research.saving_pct == pytest.approx(0.033 / 0.034 * 100)
    assert research.tier_shares == pytest.approx({1: 1 / 3, 2: 2 / 3})
    assert research.fallback_rate == pytest.approx(1 / 3)
    assert (research.escalation_rate, research.error_rate) == (0.0, 0.0)
    assert research.p50_latency_ms == pytest.approx(300.0)  # of 100, 300, 700
    assert research.p95_latency_ms == pytest.approx(300 + 0.9 * 400)

    support = groups["support"]
    assert (support.requests, support.attempts) == (2, 4)
    assert support.cost_usd == pytest.approx(0.002)
    assert support.saving_usd == pytest.approx(0.028)
    assert support.tier_shares == pytest.approx({2: 0.5})  # r4 was never served
    assert (support.fallback_rate, support.escalation_rate, support.error_rate) == (1.0, 0.5, 0.5)
    assert support.p50_latency_ms == pytest.approx((1200.0 + 2000.0) / 2)

    unknown = groups["(none)"]
    assert unknown.cost_usd == 0.0 and unknown.unknown_cost_requests == 1
    assert unknown.baseline_cost_usd == pytest.approx(0.05)
    assert unknown.priced_requests == 0
    assert unknown.saving_usd is None and unknown.saving_pct is None

    total = report.total
    assert (total.requests, total.attempts, total.unknown_cost_requests) == (6, 9, 1)
    assert total.priced_requests == 5
    assert total.saving_usd == pytest.approx(0.061)
    assert total.saving_pct == pytest.approx(0.061 / 0.064 * 100)
    assert total.error_rate == pytest.approx(1 / 6)
    assert total.tier_shares == pytest.approx({1: 1 / 6, 2: 3 / 6, 3: 1 / 6})

    health = report.health
    assert health.local_share == pytest.approx(2 / 6)  # r1 and r6
    assert health.fallback_rate == pytest.approx(3 / 6)
    assert health.p95_local_latency_ms == pytest.approx(100 + 0.95 * 200)
    assert health.cloud_spend_this_week_usd == pytest.approx(0.003)
    assert health.cloud_unknown_cost_requests_this_week == 1
    assert health.cloud_spend_last_week_usd == pytest.approx(0.5)
    assert health.cloud_spend_change_pct == pytest.approx((0.003 - 0.5) / 0.5 * 100)


def test_by_deployment_attempts_count_where_they_ran_and_requests_where_they_were_answered(
    hand_store: Store,
) -> None:
    groups = by_group(build_report(hand_store, T - 1, "deployment", now=NOW))
    local = groups["local-small"]
    assert (local.requests, local.attempts) == (1, 3)  # answered r1; failed r2, escalated r3
    deepseek = groups["deepseek"]
    assert (deepseek.requests, deepseek.attempts) == (3, 3)  # r2, r3 and r4's last attempt
    assert deepseek.error_rate == pytest.approx(1 / 3)
    sonnet = groups["sonnet"]
    assert (sonnet.requests, sonnet.attempts) == (0, 1)
    assert sonnet.fallback_rate is None and sonnet.p50_latency_ms is None
    assert sum(g.requests for g in groups.values()) == 6


def test_an_empty_period_gives_an_empty_report(hand_store: Store) -> None:
    report = build_report(hand_store, NOW - 60, "route", now=NOW)
    assert report.groups == ()
    assert report.total.requests == 0 and report.total.p95_latency_ms is None
    assert report.health.local_share is None


def test_an_unknown_grouping_or_missing_sqlite_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--by"):
        build_report("sqlite://:memory:", None, "model")
    with pytest.raises(UsageError, match="no ledger"):
        build_report(f"sqlite:///{tmp_path / 'missing.db'}", None, "route")


# -- a seeded ledger against direct SQL ------------------------------------------------------------

_GROUP_COLUMN = {
    "cost_center": "cost_center",
    "route": "route",
    "deployment": "deployment",
    "tier": "tier",
    "key": "key_name",
    "day": "ts",
}

_FINAL = """
    SELECT l.* FROM ledger l WHERE l.status IN ('ok', 'partial')
    UNION ALL
    SELECT l.* FROM ledger l
    WHERE NOT EXISTS (SELECT 1 FROM ledger o WHERE o.request_id = l.request_id
                      AND o.status IN ('ok', 'partial'))
      AND l.attempt = (SELECT MAX(o.attempt) FROM ledger o WHERE o.request_id = l.request_id)
"""


def direct(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            return [tuple(r) for r in conn.execute(sql)]
        finally:
            conn.close()
    with psycopg.connect(url) as pg:
        return [tuple(r) for r in pg.execute(sql.encode())]


def label(value: Any, group_by: str) -> str:
    if value is None:
        return "(none)"
    if group_by == "day":
        import datetime as dt

        return dt.datetime.fromtimestamp(float(value), dt.UTC).date().isoformat()
    return str(value)


def percentile_cont(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    pos = p * (len(values) - 1)
    lo = math.floor(pos)
    if lo + 1 >= len(values):
        return values[lo]
    return values[lo] + (pos - lo) * (values[lo + 1] - values[lo])


def expected_by_direct_sql(url: str, group_by: str) -> dict[str, dict[str, Any]]:
    col = _GROUP_COLUMN[group_by]
    out: dict[str, dict[str, Any]] = {}

    def entry(g: Any) -> dict[str, Any]:
        return out.setdefault(label(g, group_by), {})

    for g, attempts, pt, ct, cached, cost, baseline, unknown in direct(
        url,
        f"SELECT {col}, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens),"
        " SUM(cached_tokens), SUM(cost_usd), SUM(baseline_cost_usd),"
        " COUNT(DISTINCT CASE WHEN cost_usd IS NULL THEN request_id END)"
        f" FROM ledger GROUP BY {col}",
    ):
        e = entry(g)
        e["attempts"] = e.get("attempts", 0) + attempts
        for name, v in (
            ("prompt_tokens", pt),
            ("completion_tokens", ct),
            ("cached_tokens", cached),
        ):
            e[name] = e.get(name, 0) + int(v)
        e["cost_usd"] = e.get("cost_usd", 0.0) + float(cost or 0)
        e["baseline_cost_usd"] = e.get("baseline_cost_usd", 0.0) + float(baseline or 0)
        e["unknown_cost_requests"] = e.get("unknown_cost_requests", 0) + unknown
    finals = direct(
        url,
        f"SELECT f.{col}, f.status, f.tier, f.locality,"
        " (SELECT COUNT(*) FROM ledger o WHERE o.request_id = f.request_id"
        "   AND (o.attempt > 1 OR o.fallback_from IS NOT NULL)),"
        " (SELECT COUNT(*) FROM ledger o WHERE o.request_id = f.request_id"
        "   AND o.status = 'escalated'),"
        " (SELECT MAX(o.ts * 1000.0 + o.latency_ms) - MIN(o.ts) * 1000.0 FROM ledger o"
        "   WHERE o.request_id = f.request_id)"
        f" FROM ({_FINAL}) f",
    )
    latencies: dict[str, list[float]] = {}
    for g, status, tier, _loc, fallbacks, escalations, e2e in finals:
        e = entry(g)
        e["requests"] = e.get("requests", 0) + 1
        e.setdefault("tiers", {})
        if status in ("ok", "partial"):
            e["tiers"][tier] = e["tiers"].get(tier, 0) + 1
        else:
            e["errors"] = e.get("errors", 0) + 1
        e["fallbacks"] = e.get("fallbacks", 0) + (fallbacks > 0)
        e["escalations"] = e.get("escalations", 0) + (escalations > 0)
        latencies.setdefault(label(g, group_by), []).append(float(e2e))
    for key, values in latencies.items():
        out[key]["p50"] = percentile_cont(values, 0.5)
        out[key]["p95"] = percentile_cont(values, 0.95)
    return out


@pytest.mark.parametrize("group_by", GROUP_BY)
def test_report_figures_match_a_direct_sql_computation(seeded_url: str, group_by: str) -> None:
    report = build_report(seeded_url, None, group_by, now=NOW)
    expected = expected_by_direct_sql(seeded_url, group_by)
    groups = by_group(report)
    assert set(groups) == set(expected)
    for name, e in expected.items():
        got = groups[name]
        requests = e.get("requests", 0)
        assert got.attempts == e["attempts"], name
        assert got.requests == requests, name
        assert (got.prompt_tokens, got.completion_tokens, got.cached_tokens) == (
            e["prompt_tokens"],
            e["completion_tokens"],
            e["cached_tokens"],
        )
        assert got.cost_usd == pytest.approx(e["cost_usd"], rel=1e-9, abs=1e-12)
        assert got.baseline_cost_usd == pytest.approx(e["baseline_cost_usd"], rel=1e-9, abs=1e-12)
        assert got.unknown_cost_requests == e["unknown_cost_requests"]
        if not requests:
            assert got.error_rate is None and got.p95_latency_ms is None
            continue
        assert got.error_rate == pytest.approx(e.get("errors", 0) / requests)
        assert got.fallback_rate == pytest.approx(e["fallbacks"] / requests)
        assert got.escalation_rate == pytest.approx(e["escalations"] / requests)
        assert got.tier_shares == pytest.approx({t: n / requests for t, n in e["tiers"].items()})
        assert got.p50_latency_ms == pytest.approx(e["p50"], rel=1e-9)
        assert got.p95_latency_ms == pytest.approx(e["p95"], rel=1e-9)
    total = report.total
    assert total.attempts == sum(e["attempts"] for e in expected.values())
    assert (
        total.requests == direct(seeded_url, "SELECT COUNT(DISTINCT request_id) FROM ledger")[0][0]
    )


def test_the_seeded_ledger_has_every_kind_of_row(seed: list[LedgerRow]) -> None:
    statuses = {r.status for r in seed}
    assert statuses == {"ok", "error", "escalated", "partial"}
    assert any(r.cost_usd is None for r in seed)
    assert any(r.cost_center is None for r in seed) and any(r.key_name is None for r in seed)
    assert {r.locality for r in seed} == {"local", "cloud"}
    assert len({r.tier for r in seed}) == 3
    assert max(r.ts for r in seed) - min(r.ts for r in seed) > 25 * 86_400


def test_saving_and_totals_match_direct_sql_over_priced_requests(seeded_url: str) -> None:
    report = build_report(seeded_url, None, "route", now=NOW)
    ((saving, baseline, priced),) = direct(
        seeded_url,
        "SELECT SUM(baseline_cost_usd - cost_usd), SUM(baseline_cost_usd),"
        " COUNT(DISTINCT request_id) FROM ledger WHERE request_id NOT IN"
        " (SELECT request_id FROM ledger WHERE cost_usd IS NULL OR baseline_cost_usd IS NULL)",
    )
    assert report.total.priced_requests == priced
    assert report.total.saving_usd == pytest.approx(saving, rel=1e-9)
    assert report.total.saving_pct == pytest.approx(saving / baseline * 100, rel=1e-9)
    ((unknown,),) = direct(
        seeded_url, "SELECT COUNT(DISTINCT request_id) FROM ledger WHERE cost_usd IS NULL"
    )
    assert report.total.unknown_cost_requests == unknown > 0


def test_health_figures_match_direct_sql(seeded_url: str) -> None:
    report = build_report(seeded_url, None, "tier", now=NOW)
    h = report.health
    week = 7 * 86_400
    ((this_week, last_week),) = direct(
        seeded_url,
        f"SELECT SUM(CASE WHEN ts >= {NOW - week} THEN cost_usd END),"
        f" SUM(CASE WHEN ts < {NOW - week} THEN cost_usd END) FROM ledger"
        f" WHERE locality = 'cloud' AND ts >= {NOW - 2 * week} AND ts < {NOW}",
    )
    assert h.cloud_spend_this_week_usd == pytest.approx(this_week, rel=1e-9)
    assert h.cloud_spend_last_week_usd == pytest.approx(last_week, rel=1e-9)
    finals = direct(
        seeded_url,
        "SELECT f.locality, f.status, (SELECT MAX(o.ts * 1000.0 + o.latency_ms) - MIN(o.ts) * 1000.0"
        f" FROM ledger o WHERE o.request_id = f.request_id) FROM ({_FINAL}) f",
    )
    local = [float(e2e) for loc, st, e2e in finals if loc == "local" and st in ("ok", "partial")]
    assert h.local_share == pytest.approx(len(local) / len(finals))
    assert h.p95_local_latency_ms == pytest.approx(percentile_cont(local, 0.95), rel=1e-9)


def test_since_limits_the_report_to_newer_rows(seeded_url: str) -> None:
    since = NOW - 7 * 86_400
    report = build_report(seeded_url, since, "day", now=NOW)
    ((n,),) = direct(seeded_url, f"SELECT COUNT(*) FROM ledger WHERE ts >= {since}")
    assert report.total.attempts == n
    assert [g.group for g in report.groups] == sorted(g.group for g in report.groups)
    assert len(report.groups) in (7, 8)


def test_sqlite_and_postgres_give_the_same_report(tmp_path: Path, seed: list[LedgerRow]) -> None:
    reports = []
    with temp_schema() as pg_url:
        for url in (f"sqlite:///{tmp_path / 'a.db'}", pg_url):
            store = open_store(url)
            try:
                store.write_many(seed)
                reports.append(build_report(store, NOW - 14 * 86_400, "deployment", now=NOW))
            finally:
                store.close()
    a, b = (r.to_dict() for r in reports)
    a.pop("store")
    b.pop("store")
    assert _close(a, b)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        return all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        assert len(a) == len(b)
        return all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and b is not None:
        assert a == pytest.approx(b, rel=1e-9)
        return True
    assert a == b
    return True
