"""The demo without the local tier: every deployment is a prefix on the in-process mock upstream.

Used when llama-cpp-python or the bundled model is not installed: the engine, routes, ledger and
saving are the same; the answers are canned.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hybridllm.demo.config import MOCK_DEMO_CONFIG, SAMPLES
from hybridllm.demo.report import money, print_ledger_report
from hybridllm.errors import HybridLLMError
from hybridllm.mock import MockUpstream
from hybridllm.router import Router
from hybridllm.runtime import Runtime

__all__ = ["mock_demo"]


def _why(reasons: tuple[str, ...], statuses: list[str]) -> str:
    keep = [
        r
        for r in reasons
        if r.startswith(("rule", "tier", "private", "model")) and "skipped" not in r
    ]
    if "escalated" in statuses:
        keep.append("the local reply was too weak, escalated to the next deployment")
    return "; ".join(keep)


async def mock_demo(console: Console, ledger: Path) -> int:
    async with MockUpstream() as mock:
        config = ledger.parent / "hybridllm-demo.yaml"
        config.write_text(MOCK_DEMO_CONFIG.format(url=mock.url, ledger=ledger))
        router = Router.from_config(config)
        table = Table(title="hybridllm demo (mock upstream): each request, where it went and why")
        for column in ("#", "kind", "route", "served by", "tier", "tries", "cost", "baseline"):
            table.add_column(column, no_wrap=True)
        whys: list[str] = []
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
                table.add_row(
                    str(number),
                    kind,
                    done.route,
                    f"{done.deployment} ({dep.where})",
                    str(dep.tier),
                    str(done.attempts),
                    money(done.cost_usd),
                    money(done.baseline_cost_usd),
                )
                whys.append(
                    f"{number}. " + _why(done.decision.reasons, [r.status for r in done.rows])
                )
        console.print(table)
        console.print(Text("why:", style="bold"))
        for line in whys:
            console.print(Text("  " + line))
        print_ledger_report(console, ledger, router.baseline)
        console.print(f"ledger: {ledger} (every attempt is a row)")
        console.print(
            "Answers came from hybridllm's mock upstream (no keys, no network). "
            "Point a config at real deployments with `hybridllm init`."
        )
        return failures
