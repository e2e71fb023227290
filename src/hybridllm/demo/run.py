"""Run the demo: an in-process mock upstream, the embedded config, a dozen requests, the totals."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hybridllm.demo.config import DEMO_CONFIG, SAMPLES
from hybridllm.errors import HybridLLMError
from hybridllm.mock import MockUpstream
from hybridllm.router import Router
from hybridllm.runtime import Runtime

__all__ = ["run_demo"]


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.6f}"


def _why(reasons: tuple[str, ...], statuses: list[str]) -> str:
    keep = [
        r
        for r in reasons
        if r.startswith(("rule", "tier", "private", "model")) and "skipped" not in r
    ]
    if "escalated" in statuses:
        keep.append("the local reply was too weak, escalated to the next deployment")
    return "; ".join(keep)


async def _demo(console: Console, ledger: Path) -> int:
    async with MockUpstream() as mock:
        config = ledger.parent / "hybridllm-demo.yaml"
        config.write_text(DEMO_CONFIG.format(url=mock.url, ledger=ledger))
        router = Router.from_config(config)
        table = Table(title="hybridllm demo: each request, where it went and why")
        for column in ("#", "kind", "route", "served by", "tier", "tries", "cost", "baseline"):
            table.add_column(column, no_wrap=True)
        whys: list[str] = []
        total = base = 0.0
        failures = 0
        async with Runtime(router) as runtime:
            for number, (kind, prompt) in enumerate(SAMPLES, 1):
                # The last sample gets a deliberately weak local reply: quality escalation.
                weak = number == len(SAMPLES)
                mock.set_faults("local-small", [{"reply": "I don't know."}] if weak else [])
                try:
                    done = await runtime.complete(prompt)
                except HybridLLMError as exc:
                    failures += 1
                    table.add_row(str(number), kind, "-", Text("failed", style="red"))
                    whys.append(f"{number}. {exc.message}")
                    continue
                dep = router.deployment(done.deployment)
                total += done.cost_usd or 0.0
                base += done.baseline_cost_usd or 0.0
                table.add_row(
                    str(number),
                    kind,
                    done.route,
                    f"{done.deployment} ({dep.where})",
                    str(dep.tier),
                    str(done.attempts),
                    _money(done.cost_usd),
                    _money(done.baseline_cost_usd),
                )
                whys.append(
                    f"{number}. " + _why(done.decision.reasons, [r.status for r in done.rows])
                )
        console.print(table)
        console.print(Text("why:", style="bold"))
        for line in whys:
            console.print(Text("  " + line))
        saving = base - total
        pct = f" ({100 * saving / base:.1f}%)" if base > 0 else ""
        console.print(
            f"total cost {_money(total)}, baseline (all on {router.baseline}) {_money(base)}, "
            f"saving {_money(saving)}{pct}"
        )
        console.print(f"ledger: {ledger} (every attempt is a row)")
        console.print(
            "Answers came from hybridllm's mock upstream (no keys, no network). "
            "Point a config at real deployments with `hybridllm init`."
        )
        return failures


def run_demo(ledger: Path | None = None) -> int:
    console = Console(highlight=False)
    if not console.is_terminal or console.width < 110:
        console = Console(highlight=False, width=120)
    if ledger is None:
        ledger = Path(tempfile.mkdtemp(prefix="hybridllm-demo-")) / "ledger.db"
    return asyncio.run(_demo(console, ledger))
