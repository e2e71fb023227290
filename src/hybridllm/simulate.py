"""What-if pricing of a workload under a config: routing only, no model called.

A workload is JSONL. A line is one request (``messages`` or ``prompt``; optional ``hints``,
``output_tokens``, ``calls``) or an aggregate (``name``, ``calls``, ``input_tokens``,
``output_tokens``, ``hints``, ``batchable``). Every line is priced at the deployment the router
picks, and against the baseline at list price.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import orjson

from hybridllm.errors import HybridLLMError, UsageError
from hybridllm.features.extract import Features, Hints
from hybridllm.router import Router
from hybridllm.types import ChatRequest, Message, Usage

__all__ = [
    "DEFAULT_OUTPUT_TOKENS",
    "SimLine",
    "SimResult",
    "WorkloadLine",
    "read_workload",
    "simulate",
]

DEFAULT_OUTPUT_TOKENS = 256


class WorkloadHints(msgspec.Struct, forbid_unknown_fields=True):
    task_type: str | None = None
    task: str | None = None
    complexity: str | None = None
    cost_center: str | None = None
    tier: int | None = None
    private: bool | None = None
    contains_pii: bool | None = None
    batch_size: int | None = None
    has_tools: bool | None = None
    has_images: bool | None = None
    model: str | None = None


class WorkloadLine(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    calls: int = 1
    messages: list[Message] | None = None
    prompt: str | None = None
    system: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    hints: WorkloadHints = msgspec.field(default_factory=WorkloadHints)
    batchable: bool = False


@dataclass(frozen=True)
class SimLine:
    line: int
    name: str
    calls: int
    route: str
    deployment: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    baseline_cost_usd: float | None
    batch_priced: bool
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "name": self.name,
            "calls": self.calls,
            "route": self.route,
            "deployment": self.deployment,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "baseline_cost_usd": self.baseline_cost_usd,
            "batch_priced": self.batch_priced,
            "saving_usd": _saving(self.cost_usd, self.baseline_cost_usd),
            "note": self.note,
        }


@dataclass
class SimResult:
    lines: list[SimLine] = field(default_factory=list)

    def total(self) -> dict[str, Any]:
        unknown = [
            ln.line for ln in self.lines if ln.cost_usd is None or ln.baseline_cost_usd is None
        ]
        cost = sum(ln.cost_usd for ln in self.lines if ln.cost_usd is not None)
        base = sum(ln.baseline_cost_usd for ln in self.lines if ln.baseline_cost_usd is not None)
        saving = base - cost
        return {
            "calls": sum(ln.calls for ln in self.lines),
            "cost_usd": cost,
            "baseline_cost_usd": base,
            "saving_usd": saving,
            "saving_pct": (100.0 * saving / base) if base > 0 else None,
            "lines_with_unknown_cost": unknown,
        }

    def to_json(self) -> dict[str, Any]:
        return {"lines": [ln.to_json() for ln in self.lines], "total": self.total()}


def _saving(cost: float | None, base: float | None) -> float | None:
    return None if cost is None or base is None else base - cost


_decoder = msgspec.json.Decoder(WorkloadLine)


def read_workload(path: Path) -> list[tuple[int, WorkloadLine]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the workload: {exc.strerror or exc}") from None
    lines: list[tuple[int, WorkloadLine]] = []
    for number, text in enumerate(raw.splitlines(), 1):
        if not text.strip() or text.lstrip().startswith(b"#"):
            continue
        try:
            item = _decoder.decode(text)
        except msgspec.ValidationError as exc:
            raise UsageError(f"{path}:{number}: {exc}") from None
        except msgspec.DecodeError as exc:
            raise UsageError(f"{path}:{number}: not valid JSON ({exc})") from None
        _validate(item, path, number)
        lines.append((number, item))
    if not lines:
        raise UsageError(f"{path}: the workload is empty (one JSON request or aggregate per line)")
    return lines


def _validate(item: WorkloadLine, path: Path, number: int) -> None:
    where = f"{path}:{number}"
    for key in ("calls", "input_tokens", "output_tokens"):
        value = getattr(item, key)
        if value is not None and value < 0:
            raise UsageError(f"{where}: '{key}' must be zero or more, got {value}")
    if item.calls == 0:
        raise UsageError(f"{where}: 'calls' must be at least 1")
    has_text = item.messages is not None or item.prompt is not None
    if not has_text and item.input_tokens is None:
        raise UsageError(f"{where}: a line needs 'messages', 'prompt', or 'input_tokens'")
    if item.messages is not None and item.prompt is not None:
        raise UsageError(f"{where}: give 'messages' or 'prompt', not both")


def simulate(router: Router, workload: list[tuple[int, WorkloadLine]]) -> SimResult:
    result = SimResult()
    baseline = router.baseline
    base_rates = router.rates[baseline] if baseline else None
    for number, item in workload:
        h = item.hints
        hints = Hints(
            task=h.task_type or h.task,
            complexity=h.complexity,
            cost_center=h.cost_center,
            tier=h.tier,
            private=h.private or h.contains_pii,
            batch_size=h.batch_size,
        )
        try:
            if item.messages is not None or item.prompt is not None:
                messages = list(item.messages or [])
                if item.system:
                    messages.insert(0, Message(role="system", content=item.system))
                if item.prompt is not None:
                    messages.append(Message(role="user", content=item.prompt))
                request = ChatRequest(messages=messages, model=h.model or "auto")
                decision = router.decide(request, hints)
            else:
                decision = router.policy.decide(_aggregate_features(item, hints))
        except HybridLLMError as exc:
            raise UsageError(f"line {number}: {exc.message}") from None
        tokens_in = item.input_tokens if item.input_tokens is not None else decision.features.tokens
        tokens_out = item.output_tokens if item.output_tokens is not None else DEFAULT_OUTPUT_TOKENS
        usage = Usage(prompt_tokens=tokens_in, completion_tokens=tokens_out)
        name = item.name or (f"line {number}")
        dep = decision.deployment
        cost: float | None = None
        batch_priced = False
        note = ""
        if dep is None:
            note = "no deployment left: " + decision.reasons[-1]
        else:
            rates = router.rates[dep]
            one = rates.cost(usage, batch=item.batchable)
            batch_priced = item.batchable and rates.batch_discount is not None
            cost = None if one is None else one * item.calls
            if one is None:
                note = f"no price known for {dep}"
        base_one = base_rates.cost(usage) if base_rates is not None else None
        result.lines.append(
            SimLine(
                number,
                name,
                item.calls,
                decision.route,
                dep,
                tokens_in,
                tokens_out,
                cost,
                None if base_one is None else base_one * item.calls,
                batch_priced,
                note,
            )
        )
    return result


def _aggregate_features(item: WorkloadLine, hints: Hints) -> Features:
    h = item.hints
    return Features(
        tokens=item.input_tokens or 0,
        output_cap=item.output_tokens,
        task_type=hints.task,
        complexity=hints.complexity or "medium",
        pii=frozenset({"hint"}) if h.contains_pii else frozenset(),
        private_hint=bool(h.private),
        tier_pin=h.tier,
        tier_source="hint" if h.tier is not None else None,
        batch_size=h.batch_size if h.batch_size is not None else 1,
        cost_center=h.cost_center,
        key_name=None,
        model_requested=h.model,
        has_tools=bool(h.has_tools),
        has_images=bool(h.has_images),
    )


def dumps(result: SimResult) -> bytes:
    return orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2)
