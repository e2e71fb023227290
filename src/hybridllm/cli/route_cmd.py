"""``hybridllm route``: the decision and its reasons, no model called."""

from __future__ import annotations

import orjson
from rich.table import Table
from rich.text import Text

from hybridllm.cli.common import EXIT_FAILED, console, fail, load_router, read_prompt
from hybridllm.errors import HybridLLMError, UsageError
from hybridllm.features.extract import Hints
from hybridllm.policy.decision import Decision
from hybridllm.types import ChatRequest, Message

__all__ = ["print_decision", "run_route"]


def run_route(
    prompt: str | None,
    task: str | None,
    complexity: str | None,
    cost_center: str | None,
    batch_size: int | None,
    tokens: int | None,
    tier: int | None,
    private: bool,
    system: str | None,
    as_json: bool,
) -> None:
    if complexity is not None and complexity not in ("low", "medium", "high"):
        fail(UsageError(f"--complexity must be low, medium or high, not '{complexity}'"))
    router = load_router()
    text = read_prompt(prompt)
    messages = [Message(role="system", content=system)] if system else []
    messages.append(Message(role="user", content=text))
    hints = Hints(
        task=task,
        complexity=complexity,
        cost_center=cost_center,
        tier=tier,
        private=private or None,
        batch_size=batch_size,
        tokens=tokens,
    )
    try:
        decision = router.decide(ChatRequest(messages=messages), hints)
    except HybridLLMError as exc:
        fail(exc)
    if as_json:
        console.out(orjson.dumps(decision.to_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        print_decision(decision)
    if not decision.chain:
        raise SystemExit(EXIT_FAILED)


def print_decision(decision: Decision) -> None:
    f = decision.features
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("route", decision.route)
    table.add_row("deployment", decision.deployment or Text("none left", style="red"))
    table.add_row("chain", " -> ".join(decision.chain) or "-")
    table.add_row("tier", str(decision.tier) if decision.tier is not None else "-")
    private = Text("yes", style="yellow") if decision.private else Text("no")
    if decision.private:
        private.append(f" ({'; '.join(decision.private_because)})")
    table.add_row("private", private)
    table.add_row(
        "features",
        f"~{f.tokens} tokens, task {f.task_type or '-'}, complexity {f.complexity}, "
        f"batch {f.batch_size}" + (f", cost center {f.cost_center}" if f.cost_center else ""),
    )
    console.print(table)
    console.print(Text("why:", style="bold"))
    for reason in decision.reasons:
        console.print(Text(f"  - {reason}"))
