"""``hybridllm report``: spend, savings, routing and latency from the ledger.

Rich tables for people (one row per group and a total, then the health figures); ``--json`` and
``--csv`` for machines. Unknown prices are shown as unknown, with how many requests they touch.
"""

from __future__ import annotations

import time

from rich.table import Table
from rich.text import Text

from hybridllm.cli.common import console, fail, load_router
from hybridllm.errors import HybridLLMError, UsageError
from hybridllm.report import (
    GROUP_BY,
    GroupStats,
    Report,
    build_report,
    parse_since,
    to_csv,
    to_json,
)

__all__ = ["run_report"]


def run_report(since: str, by: str, as_json: bool, as_csv: bool, ledger: str | None) -> None:
    if as_json and as_csv:
        fail(UsageError("--json and --csv: choose one"))
    if by not in GROUP_BY:
        fail(UsageError(f"--by {by!r}: expected one of {', '.join(GROUP_BY)}"))
    now = time.time()
    try:
        since_ts = parse_since(since, now)
    except UsageError as exc:
        fail(exc)
    url = ledger if ledger is not None else load_router().config.ledger
    try:
        report = build_report(url, since_ts, by, now=now)
    except HybridLLMError as exc:
        fail(exc)
    if as_json:
        console.out(to_json(report).decode(), end="")
    elif as_csv:
        console.out(to_csv(report), end="")
    else:
        _print(report, since)


def _money(value: float, unknown: int = 0) -> Text:
    shown = f"${value:,.2f}" if abs(value) >= 1 else f"${value:,.4f}"
    if unknown:
        return Text.assemble(shown, (f" +{unknown:,} unknown", "yellow"))
    return Text(shown)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def _saving(stats: GroupStats) -> Text:
    if stats.saving_usd is None:
        return Text("unknown", style="yellow")
    text = _money(stats.saving_usd)
    if stats.saving_pct is not None:
        text.append(f" ({stats.saving_pct:.1f}%)")
    if stats.priced_requests < stats.requests:
        text.append(f" over {stats.priced_requests:,} priced", style="yellow")
    return text


def _tiers(stats: GroupStats) -> str:
    return " ".join(f"t{t}:{share * 100:.0f}%" for t, share in stats.tier_shares.items()) or "-"


def _print(report: Report, since: str) -> None:
    table = Table(title=f"hybridllm report, last {since}, by {report.group_by} ({report.store})")
    columns = (
        (report.group_by, "left"),
        ("requests", "right"),
        ("attempts", "right"),
        ("tokens in/out/cached", "right"),
        ("cost", "right"),
        ("baseline", "right"),
        ("saving", "right"),
        ("tiers", "left"),
        ("fallback", "right"),
        ("escalated", "right"),
        ("errors", "right"),
        ("p50", "right"),
        ("p95", "right"),
    )
    for name, justify in columns:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for i, stats in enumerate((*report.groups, report.total)):
        if i == len(report.groups):
            table.add_section()
        table.add_row(
            Text(stats.group, style="bold" if stats.group == "total" else ""),
            f"{stats.requests:,}",
            f"{stats.attempts:,}",
            f"{stats.prompt_tokens:,}/{stats.completion_tokens:,}/{stats.cached_tokens:,}",
            _money(stats.cost_usd, stats.unknown_cost_requests),
            _money(stats.baseline_cost_usd, stats.unknown_baseline_requests),
            _saving(stats),
            _tiers(stats),
            _pct(stats.fallback_rate),
            _pct(stats.escalation_rate),
            _pct(stats.error_rate),
            _ms(stats.p50_latency_ms),
            _ms(stats.p95_latency_ms),
        )
    console.print(table)
    h = report.health
    health = Table(title="health", show_header=False)
    health.add_column("figure")
    health.add_column("value", justify="right")
    health.add_row("requests", f"{h.requests:,}")
    health.add_row("served locally", _pct(h.local_share))
    health.add_row("fallback rate", _pct(h.fallback_rate))
    health.add_row("p95 latency, served locally", _ms(h.p95_local_latency_ms))
    change = "" if h.cloud_spend_change_pct is None else f" ({h.cloud_spend_change_pct:+.1f}%)"
    health.add_row(
        "cloud spend, last 7 days",
        _money(h.cloud_spend_this_week_usd, h.cloud_unknown_cost_requests_this_week) + change,
    )
    health.add_row(
        "cloud spend, 7 days before",
        _money(h.cloud_spend_last_week_usd, h.cloud_unknown_cost_requests_last_week),
    )
    console.print(health)
    total = report.total
    if total.unknown_cost_requests or total.unknown_baseline_requests:
        console.print(
            Text(
                f"{total.unknown_cost_requests:,} requests have an unknown price and "
                f"{total.unknown_baseline_requests:,} an unknown baseline: costs above leave "
                f"them out (+N unknown); savings cover the {total.priced_requests:,} fully "
                "priced requests only",
                style="yellow",
            )
        )
    console.print(
        Text(
            "latency: end to end per request (first attempt start to last attempt end); "
            "requests, rates and latency count in the group of the attempt that answered",
            style="dim",
        )
    )
