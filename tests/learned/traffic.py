"""Recorded traffic for the learning tests: ledger rows, request features and feedback.

Prompts are short requests about a handful of topics. With ``pattern=True`` every request about
kubernetes falls short on the cheap tier (half of them escalated by dispatch, half scored low by
the user) and the rest mostly do well: a pattern in the words that the shipped model, which reads
only hand-made signals, cannot see. With ``pattern=False`` the outcome is a coin toss.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hybridllm.learned.record import featurize
from hybridllm.ledger import LedgerRow, LedgerStore
from hybridllm.ledger.learning import FeatureRow, Feedback, learning_store

TOPICS = (
    "kubernetes",
    "postgres",
    "python",
    "email",
    "poem",
    "recipe",
    "travel",
    "history",
    "budget",
    "resume",
)
ASKS = (
    "How do I {verb} my {topic} setup?",
    "Explain {topic} to a beginner.",
    "Write a short note about {topic}.",
    "What is the best way to {verb} {topic}?",
    "Give me three tips on {topic} for {who}.",
    "Summarize this {topic} issue: {who} keeps failing.",
)
VERBS = ("debug", "configure", "scale", "improve", "clean up", "secure")
WHO = ("my team", "production", "a startup", "school", "the weekend", "our customers")
T0 = 1_750_000_000.0


@dataclass(frozen=True)
class Request:
    request_id: str
    prompt: str
    bad: bool  # the cheap tier fell short


def prompts(n: int, *, pattern: bool = True, seed: int = 0) -> list[Request]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        topic = rng.choice(TOPICS)
        text = rng.choice(ASKS).format(topic=topic, verb=rng.choice(VERBS), who=rng.choice(WHO))
        bad = (topic == "kubernetes" or rng.random() < 0.05) if pattern else rng.random() < 0.3
        out.append(Request(f"req-{seed}-{i:05d}", text, bad))
    return out


def _row(request_id: str, attempt: int, ts: float, tier: int, status: str) -> LedgerRow:
    cheap = tier == 1
    return LedgerRow(
        request_id=request_id,
        attempt=attempt,
        ts=ts,
        route="default",
        deployment="small" if cheap else "big",
        provider="ollama",
        model="small-model" if cheap else "big-model",
        tier=tier,
        locality="local",
        cost_center=None,
        key_name=None,
        prompt_tokens=20,
        completion_tokens=40,
        cached_tokens=0,
        cost_usd=0.0,
        baseline_cost_usd=0.0,
        latency_ms=100.0,
        ttft_ms=None,
        status=status,  # type: ignore[arg-type]
        error_class="WeakReply" if status == "escalated" else None,
        fallback_from=None if attempt == 1 else "small",
        streamed=False,
    )


def record(store: LedgerStore, requests: list[Request], *, seed: int = 0) -> None:
    """Write the requests as a gateway with ``learning.record: true`` and users would have.

    A bad answer is either escalated by dispatch (a second attempt on the strong tier, no
    feedback) or answered by the cheap tier and scored low; a good one is scored high.
    """
    rng = random.Random(seed + 1)
    rows: list[LedgerRow] = []
    features: list[FeatureRow] = []
    scores: list[Feedback] = []
    for i, req in enumerate(requests):
        ts = T0 + 60.0 * i
        escalate = req.bad and rng.random() < 0.5
        if escalate:
            rows += [
                _row(req.request_id, 1, ts, 1, "escalated"),
                _row(req.request_id, 2, ts, 3, "ok"),
            ]
            tier, deployment = 3, "big"
        else:
            rows.append(_row(req.request_id, 1, ts, 1, "ok"))
            tier, deployment = 1, "small"
            score = rng.uniform(0.0, 0.3) if req.bad else rng.uniform(0.7, 1.0)
            scores.append(Feedback(req.request_id, score, "user", ts + 30.0))
        features.append(
            FeatureRow(req.request_id, ts, tier, deployment, featurize(req.prompt).encode())
        )
    store.write_many(rows)
    tables = learning_store(store)
    tables.write_features(features)
    for fb in scores:
        tables.add_feedback(fb)


KUBE = "How do I secure my kubernetes setup?"
OTHER = "How do I secure my postgres setup?"

CONFIG = """
deployments:
  small: {{provider: ollama, model: small-model, tier: 1}}
  big: {{provider: ollama, model: big-model, tier: 3}}
routes:
  - name: hard
    when: {{difficulty: ">0.5"}}
    use: [big]
  - name: default
    use: [small, big]
ledger: "{ledger}"
learning:
  model: {model}
  record: true
"""
