"""The demo on the real local tier: Gemma 3 270M in-process, cloud deployments without keys.

Each sample is routed; local ones are answered by the model, cloud ones find no key (dispatch
skips them without a call) and fall back to the local model; the reason is printed beside the
answer. The run ends with a report computed from the ledger rows it wrote.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hybridllm.config.models import Deployment
from hybridllm.demo.config import LOCAL_DEMO_CONFIG, LOCAL_SAMPLES
from hybridllm.demo.report import money, print_ledger_report
from hybridllm.dispatch.result import Completion
from hybridllm.errors import HybridLLMError
from hybridllm.providers.local_start import warm_up_local
from hybridllm.router import Router
from hybridllm.runtime import Runtime

__all__ = ["MAX_TOKENS", "local_demo"]

MAX_TOKENS = 48  # per answer: a 270M model says what it can in that, and the demo stays quick
_EXCERPT = 150


def _excerpt(text: str) -> str:
    flat = " / ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return flat if len(flat) <= _EXCERPT else flat[: _EXCERPT - 1] + "…"


def _fallback_reasons(done: Completion, deployments: dict[str, Deployment]) -> list[str]:
    """Why each deployment before the one that answered did not: skipped, or its failed attempt."""
    tried = {row.deployment: row for row in done.rows}
    reasons: list[str] = []
    for name in done.decision.chain:
        if name == done.deployment:
            break
        row = tried.get(name)
        if row is not None:
            reasons.append(f"{name}: attempt failed ({row.error_class or row.status})")
        elif not deployments[name].is_local and deployments[name].key is None:
            reasons.append(f"{name}: no API key configured, skipped without a call")
        else:
            reasons.append(f"{name}: skipped")
    return reasons


def _rule_reason(done: Completion) -> str:
    keep = [
        r
        for r in done.decision.reasons
        if (r.startswith("rule") and " matched" in r) or r.startswith(("tier", "private"))
    ]
    return "; ".join(keep) or done.decision.reasons[-1]


async def local_demo(console: Console, ledger: Path) -> int:
    config = ledger.parent / "hybridllm-demo.yaml"
    config.write_text(LOCAL_DEMO_CONFIG.format(ledger=ledger, max_tokens=MAX_TOKENS))
    router = Router.from_config(config)
    deployments = dict(router.config.deployments)
    local = deployments["local"]
    console.print(f"config: {config}")
    table = Table(title="hybridllm demo: each request, where it went, what it cost")
    for column in ("#", "kind", "route", "served by", "tries", "tokens", "ms", "cost", "baseline"):
        table.add_column(column, no_wrap=True)
    details: list[Text] = []
    failures = 0
    async with Runtime(router) as runtime:
        assert runtime.session is not None
        console.print(f"loading {local.model} in-process (llama.cpp)…", end=" ")
        [warm] = await warm_up_local([local], runtime.session)
        if warm.error:
            console.print(Text(f"failed: {warm.error}", style="red"))
            return 1
        console.print(f"ready in {warm.seconds:.1f}s")
        for number, (kind, prompt) in enumerate(LOCAL_SAMPLES, 1):
            if console.is_terminal:
                console.print(f"  {number:>2}/{len(LOCAL_SAMPLES)} {kind}…", end="\r")
            try:
                done = await runtime.complete(prompt)
            except HybridLLMError as exc:
                failures += 1
                table.add_row(str(number), kind, "-", Text("failed", style="red"))
                details.append(Text(f"{number}. {kind}: {exc.message}", style="red"))
                continue
            usage = done.response.usage
            table.add_row(
                str(number),
                kind,
                done.route,
                f"{done.deployment} ({deployments[done.deployment].where})",
                str(done.attempts),
                f"{usage.prompt_tokens}/{usage.completion_tokens}" if usage else "-",
                f"{done.latency_ms:.0f}",
                money(done.cost_usd),
                money(done.baseline_cost_usd),
            )
            detail = Text(f"{number}. {kind}: ", style="bold")
            detail.append(_excerpt(prompt), style="dim")
            detail.append(f"\n   → {_excerpt(done.response.text) or '(empty answer)'}")
            detail.append(f"\n   why: {_rule_reason(done)}", style="cyan")
            fallbacks = _fallback_reasons(done, deployments)
            if fallbacks:
                detail.append(
                    f"\n   fell back to {done.deployment}: " + "; ".join(fallbacks), style="yellow"
                )
            details.append(detail)
    if console.is_terminal:
        console.print(" " * 40, end="\r")
    console.print(table)
    for detail in details:
        console.print(detail)
    print_ledger_report(console, ledger, router.baseline)
    console.print(f"ledger: {ledger} (every attempt is a row)")
    console.print(
        f"Answers came from {local.model} (Q4_K_M, 253 MB) running in this process; no key was "
        "used and nothing left this machine. A 270M base model is a demo of the plumbing, not of "
        "quality: set model_path: to a bigger instruction-tuned GGUF, or add keys, and run "
        "`hybridllm init`."
    )
    return failures
