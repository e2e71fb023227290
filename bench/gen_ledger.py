"""Fill a ledger with realistic rows: ``python bench/gen_ledger.py URL --rows 1000000``.

Several routes with their chains, deployments across tiers and localities (one with an unknown
price), cost centers and virtual keys, fallbacks after errors, quality escalations, failed requests,
broken streams (partial), 30 days of timestamps ending now. Rows follow the dispatcher's rules: one
row per attempt, ``fallback_from`` naming the previous deployment, the baseline cost on the row
that delivered the answer and 0.0 on the others. Deterministic for a given ``--seed`` and ``now``.

Writes in batches (COPY on Postgres, one transaction per batch on SQLite).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from hybridllm.ledger import LedgerRow, open_store
from hybridllm.ledger.row import Status
from hybridllm.redact import redact

__all__ = ["DEPLOYMENTS", "ROUTES", "generate", "main"]


@dataclass(frozen=True, slots=True)
class Dep:
    name: str
    provider: str
    model: str
    tier: int
    locality: str
    price_in: float | None  # USD per 1M tokens; None: unknown
    price_out: float | None
    speed_ms: float  # typical latency of an answer
    fail: float  # chance an attempt fails


DEPLOYMENTS = {
    d.name: d
    for d in (
        Dep("local-small", "ollama", "llama3.3:14b", 1, "local", 0.0, 0.0, 900, 0.04),
        Dep("local-large", "openai", "qwen2.5:72b", 2, "local", 0.0, 0.0, 2400, 0.06),
        Dep("deepseek", "openai", "deepseek-chat", 2, "cloud", 0.27, 1.10, 1800, 0.03),
        Dep("gpt-mini", "openai", "gpt-4o-mini", 2, "cloud", 0.15, 0.60, 1300, 0.02),
        Dep("sonnet", "anthropic", "claude-sonnet-4-6", 3, "cloud", 3.0, 15.0, 3200, 0.02),
        Dep("mystery", "openai", "mystery-1", 3, "cloud", None, None, 2000, 0.05),
    )
}
BASELINE = DEPLOYMENTS["sonnet"]

# name -> (weight, chain, escalates)
ROUTES: dict[str, tuple[float, tuple[str, ...], bool]] = {
    "privacy_sensitive": (0.08, ("local-small", "local-large"), False),
    "code_generation": (0.14, ("sonnet", "deepseek"), False),
    "batch_processing": (0.12, ("deepseek", "gpt-mini", "local-small"), False),
    "long_context": (0.05, ("sonnet",), False),
    "simple": (0.33, ("local-small", "deepseek"), True),
    "default": (0.26, ("local-small", "deepseek", "sonnet"), False),
    "experimental": (0.02, ("mystery", "sonnet"), False),
}
COST_CENTERS = (("research", 0.3), ("support", 0.25), ("marketing", 0.15), ("platform", 0.2))
KEYS = ("team-a", "team-b", "team-c", "batch-job", "ci")
ERRORS = ("UpstreamTimeoutError", "RateLimitedError", "ServerError", "UpstreamConnectionError")
MAX_ATTEMPTS = 3


def _cost(dep: Dep, prompt: int, completion: int) -> float | None:
    if dep.price_in is None or dep.price_out is None:
        return None
    return (prompt * dep.price_in + completion * dep.price_out) / 1e6


def generate(
    n_rows: int, *, seed: int = 1, now: float | None = None, days: float = 30.0
) -> Iterator[LedgerRow]:
    """Yield about ``n_rows`` rows (whole requests; stops at the first request reaching it)."""
    rng = random.Random(seed)
    now = time.time() if now is None else now
    start = now - days * 86_400
    routes = list(ROUTES)
    weights = [ROUTES[r][0] for r in routes]
    centers = [c for c, _ in COST_CENTERS] + [None]
    center_w = [w for _, w in COST_CENTERS] + [1 - sum(w for _, w in COST_CENTERS)]
    made = 0
    i = 0
    while made < n_rows:
        i += 1
        route = rng.choices(routes, weights)[0]
        _, chain, escalates = ROUTES[route]
        cost_center = rng.choices(centers, center_w)[0]
        key = rng.choice(KEYS) if rng.random() < 0.85 else None
        streamed = rng.random() < 0.3
        prompt = int(rng.lognormvariate(6.0, 1.0)) + 10
        if route == "long_context":
            prompt += 20_000
        ts = start + rng.random() * (now - start - 600)
        last: str | None = None
        for attempt, name in enumerate(chain[:MAX_ATTEMPTS], start=1):
            dep = DEPLOYMENTS[name]
            has_next = attempt < min(len(chain), MAX_ATTEMPTS)
            latency = rng.lognormvariate(0, 0.5) * dep.speed_ms
            completion = int(rng.lognormvariate(5.0, 0.8))
            roll = rng.random()
            status: Status
            error_class: str | None = None
            if roll < dep.fail:
                status, error_class = "error", rng.choice(ERRORS)
                p_tok, c_tok = 0, 0
                latency = min(latency, rng.uniform(5, 30_000))
            elif streamed and roll < dep.fail + 0.01:
                status, error_class = "partial", "StreamBrokenError"
                p_tok, c_tok = prompt, completion // 3
            elif escalates and has_next and not streamed and roll < dep.fail + 0.12:
                status, error_class = "escalated", "WeakReply"
                p_tok, c_tok = prompt, rng.randint(1, 10)
            else:
                status = "ok"
                p_tok, c_tok = prompt, completion
            final = status in ("ok", "partial")
            cached = int(p_tok * rng.choice((0.0, 0.0, 0.5))) if dep.locality == "cloud" else 0
            baseline: float | None = 0.0
            if final:
                baseline = _cost(BASELINE, p_tok, c_tok)
            yield LedgerRow(
                request_id=f"g{seed}-{i:09d}",
                attempt=attempt,
                ts=round(ts, 6),
                route=route,
                deployment=name,
                provider=dep.provider,
                model=dep.model,
                tier=dep.tier,
                locality=dep.locality,
                cost_center=cost_center,
                key_name=key,
                prompt_tokens=p_tok,
                completion_tokens=c_tok,
                cached_tokens=cached,
                cost_usd=_cost(dep, p_tok, c_tok) if p_tok or c_tok else 0.0,
                baseline_cost_usd=baseline,
                latency_ms=round(latency, 3),
                ttft_ms=round(latency * 0.2, 3) if streamed and status != "error" else None,
                status=status,
                error_class=error_class,
                fallback_from=last,
                streamed=streamed,
            )
            made += 1
            if final:
                break
            last = name
            ts += latency / 1000 + (rng.uniform(0.05, 0.5) if status == "error" else 0.0)


def fill(
    url: str, n_rows: int, *, seed: int = 1, now: float | None = None, batch: int = 50_000
) -> int:
    """Write ``generate(n_rows)`` to the ledger at ``url``; the number of rows written."""
    store = open_store(url)
    written = 0
    try:
        pending: list[LedgerRow] = []
        for row in generate(n_rows, seed=seed, now=now):
            pending.append(row)
            if len(pending) >= batch:
                store.write_many(pending)
                written += len(pending)
                pending = []
        store.write_many(pending)
        written += len(pending)
    finally:
        store.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="ledger URL: sqlite:///path.db or postgresql://...")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=50_000)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        n = fill(args.url, args.rows, seed=args.seed, batch=args.batch)
    except Exception as exc:
        print(redact(f"error: {exc}"), file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    print(f"wrote {n:,} rows in {elapsed:.1f}s ({n / elapsed:,.0f} rows/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
