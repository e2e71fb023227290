"""An attempt's ledger row: every field from its source (the row is built positionally)."""

from __future__ import annotations

from hybridllm.config.models import Deployment
from hybridllm.dispatch.record import AttemptRecord, CallContext
from hybridllm.pricing import Rates
from hybridllm.types import Usage


def test_attempt_row_takes_each_field_from_its_source() -> None:
    dep = Deployment(
        name="budget-dep",
        provider="openai",
        model="gpt-4o-mini",
        tier=2,
        api_key="x" * 8,
        base_url="http://127.0.0.1:9/v1",
    )
    record = AttemptRecord(
        ctx=CallContext("req-1", cost_center="team-a", key_name="key-a"),
        route="route-a",
        attempt=2,
        deployment=dep,
        rates=Rates("config", 1e-6, 2e-6),
        baseline=Rates("config", 1e-5, 2e-5),
        started_wall=1_700_000_000.5,
        started=100.0,
        fallback_from="local-dep",
        streamed=True,
    )
    row = record.row(
        status="partial",
        ended=100.25,
        usage=Usage(prompt_tokens=100, completion_tokens=10, cached_tokens=4),
        ttft=100.05,
        error_class="StreamBrokenError",
        final=True,
    )
    assert (row.request_id, row.attempt, row.ts, row.route) == (
        "req-1",
        2,
        1_700_000_000.5,
        "route-a",
    )
    assert (row.deployment, row.provider, row.model, row.tier, row.locality) == (
        "budget-dep",
        "openai",
        "gpt-4o-mini",
        2,
        "cloud",
    )
    assert (row.cost_center, row.key_name) == ("team-a", "key-a")
    assert (row.prompt_tokens, row.completion_tokens, row.cached_tokens) == (100, 10, 4)
    assert row.cost_usd is not None and abs(row.cost_usd - (100 * 1e-6 + 10 * 2e-6)) < 1e-12
    assert row.baseline_cost_usd is not None
    assert abs(row.baseline_cost_usd - (100 * 1e-5 + 10 * 2e-5)) < 1e-12
    assert (row.latency_ms, row.ttft_ms) == (250.0, 50.0)
    assert (row.status, row.error_class, row.fallback_from, row.streamed) == (
        "partial",
        "StreamBrokenError",
        "local-dep",
        True,
    )
