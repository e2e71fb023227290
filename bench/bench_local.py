"""The local tier on this machine: time to first token and tokens/s, through the real adapter.

Run: .venv/bin/python bench/bench_local.py [--rounds N] [--max-tokens N] [--model-path GGUF]
Needs `pip install 'hybridllm[local]'`. Prints a table and writes bench/results/local.json.

Each case streams through ``LlamaCppAdapter`` (worker thread, queue, chat template) as the gateway
does; TTFT is request-to-first-text (slot, prefill, first token), decode tok/s is the tokens after
the first over the time after it, and "loop stall" is the longest gap of a 10 ms asyncio ticker
while the model generates (what a `/healthz` caller would wait at worst). The model is loaded
before timing; the load time is reported on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from hybridllm.config.models import Deployment
from hybridllm.providers.llamacpp import LlamaCppAdapter
from hybridllm.providers.local_model import LOCAL_INSTALL, missing_local_packages
from hybridllm.types import ChatRequest, Message

ROOT = Path(__file__).resolve().parents[1]

SHORT = "What is the difference between a process and a thread?"
NOTES = (
    "The billing migration finished on Tuesday; p95 latency fell from 840 ms to 310 ms. "
    "Two incidents were closed, the on-call rotation moves to a weekly cadence, and hiring "
    "opens for one backend role. "
)
LONG = "Summarize these notes for the weekly update:\n\n" + NOTES * 12  # ~500 prompt tokens


async def _one(
    adapter: LlamaCppAdapter,
    session: aiohttp.ClientSession,
    dep: Deployment,
    prompt: str,
    max_tokens: int,
) -> dict[str, float]:
    request = ChatRequest(
        messages=[Message(role="user", content=prompt)],
        max_tokens=max_tokens,
        temperature=0,
        seed=1,
    )
    gaps: list[float] = []
    running = True

    async def ticker() -> None:
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    first: float | None = None
    usage: Any = None
    async for chunk in adapter.stream(session, dep, request):
        if first is None and any(c.delta.content for c in chunk.choices):
            first = time.perf_counter()
        if chunk.usage is not None:
            usage = chunk.usage
    ended = time.perf_counter()
    running = False
    await tick
    assert usage is not None and first is not None
    decode = max(usage.completion_tokens - 1, 1) / max(ended - first, 1e-9)
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "ttft_ms": (first - started) * 1000,
        "decode_tps": decode,
        "total_s": ended - started,
        "loop_stall_ms": max(gaps, default=0.0) * 1000,
    }


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    dep = Deployment(
        name="bench-local",
        provider="llamacpp",
        model="gemma-3-270m" if args.model_path is None else Path(args.model_path).stem,
        model_path=args.model_path,
        n_ctx=2048,
        n_threads=args.threads,
    )
    adapter = LlamaCppAdapter()
    started = time.perf_counter()
    path = await adapter.warm_up(dep)
    load_s = time.perf_counter() - started
    model = adapter.model_for(dep)
    cases: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        await _one(adapter, session, dep, "Hi", 4)  # first-call costs out of the way
        for name, prompt in (("short prompt", SHORT), ("~500-token prompt", LONG)):
            # A different first line each round: llama.cpp reuses a cached prompt prefix, and a
            # repeated prompt would time no prefill at all.
            runs = [
                await _one(adapter, session, dep, f"Request {i}.\n{prompt}", args.max_tokens)
                for i in range(args.rounds)
            ]
            cases.append(
                {
                    "case": name,
                    "prompt_tokens": runs[0]["prompt_tokens"],
                    "completion_tokens": statistics.median(r["completion_tokens"] for r in runs),
                    "ttft_ms_p50": round(statistics.median(r["ttft_ms"] for r in runs), 1),
                    "decode_tps_p50": round(statistics.median(r["decode_tps"] for r in runs), 1),
                    "total_s_p50": round(statistics.median(r["total_s"] for r in runs), 2),
                    "loop_stall_ms_max": round(max(r["loop_stall_ms"] for r in runs), 1),
                }
            )
    adapter.close()
    return {
        "meta": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "model": path.name,
            "model_mb": round(path.stat().st_size / 1e6),
            "n_threads": model.settings.n_threads,
            "chat_format": model.chat_format,
            "rounds": args.rounds,
            "max_tokens": args.max_tokens,
            "load_s": round(load_s, 2),
        },
        "cases": cases,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model-path", default=None, help="a GGUF (default: the bundled model)")
    args = parser.parse_args()
    missing = missing_local_packages(need_small_model=args.model_path is None)
    if missing:
        raise SystemExit(f"the local tier is not installed ({', '.join(missing)}): {LOCAL_INSTALL}")
    result = asyncio.run(_bench(args))
    meta = result["meta"]
    print(
        f"{meta['model']} ({meta['model_mb']} MB), {meta['n_threads']} thread(s) of "
        f"{meta['cpus']} cpus, load avg {meta['load_avg_1m']}, loaded in {meta['load_s']}s"
    )
    print(
        f"{'case':<20}{'prompt':>8}{'out':>6}{'TTFT ms':>10}{'decode tok/s':>14}"
        f"{'total s':>9}{'loop stall ms':>15}"
    )
    for c in result["cases"]:
        print(
            f"{c['case']:<20}{c['prompt_tokens']:>8}{c['completion_tokens']:>6.0f}"
            f"{c['ttft_ms_p50']:>10}{c['decode_tps_p50']:>14}{c['total_s_p50']:>9}"
            f"{c['loop_stall_ms_max']:>15}"
        )
    out = ROOT / "bench/results/local.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
