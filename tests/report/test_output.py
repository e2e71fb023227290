from __future__ import annotations

import csv
import io

import orjson

from hybridllm.report import GroupStats, build_report, to_csv, to_json
from hybridllm.report.model import Report

from .conftest import NOW


def test_json_holds_every_figure_of_every_group_the_total_and_the_health(
    seeded_url: str,
) -> None:
    report = build_report(seeded_url, None, "route", now=NOW)
    data = orjson.loads(to_json(report))
    assert data["group_by"] == "route"
    assert [g["group"] for g in data["groups"]] == [g.group for g in report.groups]
    assert set(data["groups"][0]) == set(GroupStats.__dataclass_fields__)
    assert data["total"]["requests"] == report.total.requests
    assert data["health"]["local_share"] == report.health.local_share
    assert "end-to-end" in data["latency"]
    assert all(isinstance(k, str) for k in data["total"]["tier_shares"])


def test_csv_has_one_line_per_group_then_the_total_and_a_share_column_per_tier(
    seeded_url: str,
) -> None:
    report: Report = build_report(seeded_url, None, "cost_center", now=NOW)
    lines = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert [line["cost_center"] for line in lines] == [g.group for g in report.groups] + ["total"]
    total = lines[-1]
    assert int(total["requests"]) == report.total.requests
    assert float(total["cost_usd"]) == report.total.cost_usd
    assert {"tier_1_share", "tier_2_share", "tier_3_share"} <= set(total)
    shares = sum(float(total[f"tier_{t}_share"]) for t in (1, 2, 3))
    assert shares == sum(report.total.tier_shares.values())


def test_unknown_figures_are_empty_csv_cells_not_zeros() -> None:
    from hybridllm.ledger import SqliteStore

    from .test_report_figures import HAND_MADE, T

    store = SqliteStore(":memory:")
    try:
        store.migrate()
        store.write_many(HAND_MADE)
        report = build_report(store, T - 1, "cost_center", now=NOW)
    finally:
        store.close()
    lines = {line["cost_center"]: line for line in csv.DictReader(io.StringIO(to_csv(report)))}
    assert lines["(none)"]["saving_usd"] == ""
    assert lines["(none)"]["unknown_cost_requests"] == "1"
