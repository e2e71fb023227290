"""The end of a demo run: totals computed from the ledger rows the run wrote."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hybridllm.ledger import LedgerRow, open_store

__all__ = ["money", "print_ledger_report", "read_rows"]


def money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.6f}"


def read_rows(ledger: Path) -> list[LedgerRow]:
    store = open_store(f"sqlite:///{ledger}")
    try:
        return list(store.rows())
    finally:
        store.close()


def print_ledger_report(console: Console, ledger: Path, baseline: str | None) -> None:
    """Per deployment: attempts, answers, tokens, cost; then the saving against the baseline."""
    rows = read_rows(ledger)
    by_dep: dict[str, list[LedgerRow]] = defaultdict(list)
    for row in rows:
        by_dep[row.deployment].append(row)
    table = Table(title=f"report: {len(rows)} ledger rows of this run ({ledger.name})")
    for column in ("deployment", "where", "attempts", "answered", "failed", "tokens in/out"):
        table.add_column(column, no_wrap=True)
    table.add_column("cost", justify="right")
    table.add_column("baseline", justify="right")
    for name, dep_rows in sorted(by_dep.items()):
        tokens_in = sum(r.prompt_tokens for r in dep_rows)
        tokens_out = sum(r.completion_tokens for r in dep_rows)
        table.add_row(
            name,
            dep_rows[0].locality,
            str(len(dep_rows)),
            str(sum(r.status in ("ok", "partial") for r in dep_rows)),
            str(sum(r.status == "error" for r in dep_rows)),
            f"{tokens_in}/{tokens_out}",
            money(sum(r.cost_usd or 0.0 for r in dep_rows)),
            money(sum(r.baseline_cost_usd or 0.0 for r in dep_rows)),
        )
    console.print(table)
    requests = len({r.request_id for r in rows})
    answered = {r.request_id for r in rows if r.status in ("ok", "partial", "escalated")}
    local = {r.request_id for r in rows if r.status == "ok" and r.locality == "local"}
    cost = sum(r.cost_usd or 0.0 for r in rows)
    base = sum(r.baseline_cost_usd or 0.0 for r in rows)
    saving = base - cost
    pct = f" ({100 * saving / base:.1f}%)" if base > 0 else ""
    console.print(
        f"{requests} requests, {len(answered)} answered, {len(local)} on the local tier; "
        f"cost {money(cost)} vs {money(base)} with everything on {baseline or 'the baseline'}: "
        f"saving {money(saving)}{pct}"
    )
