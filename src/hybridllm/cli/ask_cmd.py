"""``hybridllm ask``: route and answer one prompt from the command line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson
from rich.text import Text

from hybridllm.cli.common import EXIT_FAILED, console, err_console, fail, load_router, read_prompt
from hybridllm.errors import HybridLLMError, UsageError
from hybridllm.features.extract import Hints
from hybridllm.router import Router
from hybridllm.runtime import Runtime
from hybridllm.types import ChatRequest, Message

__all__ = ["run_ask"]


def _build_request(
    prompt: str | None, file: Path | None, system: str | None, model: str | None
) -> ChatRequest:
    text = read_prompt(prompt) if prompt is not None or file is None else ""
    if file is not None:
        try:
            attached = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(UsageError(f"--file {file}: cannot read it ({exc})"))
        text = f"{text}\n\n{attached}" if text else attached
    messages = [Message(role="system", content=system)] if system else []
    messages.append(Message(role="user", content=text))
    return ChatRequest(messages=messages, model=model or "auto")


def run_ask(
    prompt: str | None,
    tier: int | None,
    model: str | None,
    file: Path | None,
    system: str | None,
    verbose: bool,
    as_json: bool,
) -> None:
    router = load_router()
    if model is not None and model not in router.config.deployments:
        names = ", ".join(sorted(router.config.deployments))
        fail(UsageError(f"--model '{model}' is not a deployment; deployments: {names}"))
    request = _build_request(prompt, file, system, model)
    try:
        asyncio.run(_ask(router, request, Hints(tier=tier), verbose, as_json))
    except HybridLLMError as exc:
        if as_json:
            console.out(
                orjson.dumps({"error": {"type": exc.error_type, "message": exc.message}}).decode()
            )
            sys.exit(EXIT_FAILED)
        fail(exc)


async def _ask(
    router: Router, request: ChatRequest, hints: Hints, verbose: bool, as_json: bool
) -> None:
    async with Runtime(router) as runtime:
        done = await runtime.complete(request, hints)
    # The runtime is closed: every row of this request is committed before anything is printed.
    if as_json:
        usage = done.usage
        out = {
            "request_id": done.request_id,
            "text": done.text,
            "route": done.route,
            "deployment": done.deployment,
            "tier": router.deployment(done.deployment).tier,
            "attempts": done.attempts,
            "latency_ms": done.latency_ms,
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "cached_tokens": usage.cached_tokens,
            },
            "cost_usd": done.cost_usd,
            "baseline_cost_usd": done.baseline_cost_usd,
            "reasons": list(done.decision.reasons),
        }
        console.out(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
        return
    console.out(done.text)
    if verbose:
        dep = router.deployment(done.deployment)
        usage = done.usage
        cost = "unknown" if done.cost_usd is None else f"${done.cost_usd:.6f}"
        base = (
            "" if done.baseline_cost_usd is None else f" (baseline ${done.baseline_cost_usd:.6f})"
        )
        err_console.print(
            Text(
                f"route {done.route} | tier {dep.tier} | {done.deployment} "
                f"({dep.model}, {dep.where}) | {done.latency_ms:.0f} ms | "
                f"{usage.prompt_tokens} in / {usage.completion_tokens} out tokens | "
                f"cost {cost}{base} | attempts {done.attempts} | id {done.request_id}",
                style="dim",
            )
        )
