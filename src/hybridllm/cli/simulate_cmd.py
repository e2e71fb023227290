"""``hybridllm simulate``: what a workload would cost under the config, against the baseline."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text

from hybridllm.cli.common import console, fail, load_router
from hybridllm.errors import HybridLLMError
from hybridllm.simulate import dumps, read_workload, simulate

__all__ = ["money", "run_simulate"]


def money(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:,.4f}"


def run_simulate(path: Path, as_json: bool) -> None:
    router = load_router()
    try:
        result = simulate(router, read_workload(path))
    except HybridLLMError as exc:
        fail(exc)
    if as_json:
        console.out(dumps(result).decode())
        return
    table = Table(title=f"simulate {path} (baseline: {router.baseline or 'none'})")
    for column in ("line", "name", "calls", "route", "deployment", "cost", "baseline", "saving"):
        table.add_column(
            column, justify="right" if column in ("calls", "cost", "baseline", "saving") else "left"
        )
    for ln in result.lines:
        saving = (
            None
            if ln.cost_usd is None or ln.baseline_cost_usd is None
            else ln.baseline_cost_usd - ln.cost_usd
        )
        table.add_row(
            str(ln.line),
            ln.name,
            f"{ln.calls:,}",
            ln.route,
            ln.deployment or Text("none", style="red"),
            money(ln.cost_usd) + (" (batch)" if ln.batch_priced else ""),
            money(ln.baseline_cost_usd),
            money(saving),
        )
    total = result.total()
    pct = total["saving_pct"]
    table.add_section()
    table.add_row(
        "",
        Text("total", style="bold"),
        f"{total['calls']:,}",
        "",
        "",
        money(total["cost_usd"]),
        money(total["baseline_cost_usd"]),
        money(total["saving_usd"]) + (f" ({pct:.1f}%)" if pct is not None else ""),
    )
    console.print(table)
    for ln in result.lines:
        if ln.note:
            console.print(Text(f"line {ln.line}: {ln.note}", style="yellow"))
    if total["lines_with_unknown_cost"]:
        console.print(Text("totals leave out lines whose price is unknown", style="yellow"))
