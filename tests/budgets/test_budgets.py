"""Budgets end to end: reservation under concurrency, cancellation, downgrade, alerts, restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from hybridllm.errors import BudgetExceededError
from hybridllm.features.extract import Hints
from hybridllm.mock import MockUpstream
from hybridllm.router import Router
from hybridllm.runtime import Runtime
from tests.dispatch.conftest import ledger_rows
from tests.services import postgres_url  # noqa: F401  (fixture)

CONFIG = """
deployments:
  local:
    provider: ollama
    model: llama3.2:3b
    base_url: {url}/local/v1
    tier: 1
  premium:
    provider: openai
    model: premium-model
    base_url: {url}/premium/v1
    api_key: sk-test-premium-0000000000000
    tier: 3
    price: {{input: 0.0, output: 50.0}}     # $0.05 worst case at max_tokens 1000
baseline: premium
routes:
  - name: default
    use: [premium]
budgets:
  - cost_center: research
    daily_usd: 1.00
    action: {action}
alerts: {{webhook: {webhook}, at: [0.5, 1.0]}}
ledger: sqlite:///{ledger}
state: {state}
"""


@pytest.fixture
async def mock() -> AsyncIterator[MockUpstream]:
    async with MockUpstream() as upstream:
        yield upstream


async def _runtime(
    tmp_path: Path, mock: MockUpstream, action: str, webhook: str = "null", state: str = "memory"
) -> Runtime:
    path = tmp_path / "hybridllm.yaml"
    ledger = tmp_path / "l.db"
    text = CONFIG.format(url=mock.url, action=action, webhook=webhook, ledger=ledger, state=state)
    path.write_text(text)
    return await Runtime(Router.from_config(path)).start()


def _request(i: int) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": f"question {i}"}], "max_tokens": 1000}


RESEARCH = Hints(cost_center="research")


async def _counter(runtime: Runtime) -> tuple[float, float]:
    assert runtime.budgets is not None
    import time

    from hybridllm.budgets.periods import period_key

    c = await runtime.budgets.state.counter(
        f"cost_center:research:daily:{period_key('daily', time.time())}"
    )
    return c.spent, c.reserved


@pytest.fixture(params=["memory", "postgres"])
def budget_state(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory"
    return str(request.getfixturevalue("postgres_url"))


@pytest.mark.parametrize("cancel_share", [0.0, 0.3])
async def test_one_dollar_budget_admits_exactly_20_of_200_concurrent_5_cent_requests(
    tmp_path: Path, mock: MockUpstream, cancel_share: float, budget_state: str
) -> None:
    # Answers take 2.5 s: all 200 reserve while the first 20 are still in flight.
    mock.set_faults("premium", [{"delay": 2.5}])
    runtime = await _runtime(tmp_path, mock, "reject", state=budget_state)
    tasks = [asyncio.create_task(runtime.complete(_request(i), RESEARCH)) for i in range(200)]
    # Wait until every request was either refused or reached the upstream: all were admitted
    # or rejected. Then cancel some of the callers while their requests are in flight.
    while sum(t.done() for t in tasks) + len(mock.records_for("premium")) < 200:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    cancelled = set()
    for i, task in enumerate(tasks):
        if i % 10 < cancel_share * 10 and not task.done():
            task.cancel()
            cancelled.add(i)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    rejected = [r for r in results if isinstance(r, BudgetExceededError)]
    answered = [r for r in results if not isinstance(r, BaseException)]
    assert len(rejected) == 180
    assert (
        len(answered) + sum(1 for i in cancelled if not isinstance(results[i], BudgetExceededError))
        == 20
    )
    assert "cost center 'research' daily $1.00" in str(rejected[0]) and "resets at" in str(
        rejected[0]
    )
    spent, reserved = await _counter(runtime)
    assert reserved == pytest.approx(0.0)
    assert spent <= 1.0
    assert spent == pytest.approx(sum(r.cost_usd for r in answered))  # type: ignore[union-attr]
    await runtime.close()


async def test_downgrade_moves_an_over_budget_cost_center_to_the_cheapest_allowed_deployment(
    tmp_path: Path, mock: MockUpstream
) -> None:
    runtime = await _runtime(tmp_path, mock, "downgrade")
    assert runtime.budgets is not None
    await runtime.budgets.state.seed_spent(
        runtime.budgets.counter_key(
            runtime.router.config.budgets[0], "daily", __import__("time").time()
        ),
        0.99,
    )
    done = await runtime.complete(_request(1), RESEARCH)
    assert done.deployment == "local"
    assert any("downgraded to local" in r for r in done.decision.reasons)
    other = await runtime.complete(_request(2), Hints(cost_center="ops"))  # no budget: premium
    assert other.deployment == "premium"
    await runtime.close()
    rows = ledger_rows(runtime)
    assert [(r.cost_center, r.deployment) for r in rows] == [
        ("research", "local"),
        ("ops", "premium"),
    ]
    # ... and in `report`: research is served by the local tier, ops by the premium one.
    from hybridllm.report import build_report

    report = build_report(runtime.ledger_url, None, "cost_center")
    groups = {g.group: g for g in report.groups}
    assert groups["research"].tier_shares == {1: 1.0} and groups["research"].cost_usd == 0.0
    assert groups["ops"].tier_shares == {3: 1.0} and groups["ops"].cost_usd > 0


async def test_webhook_gets_exactly_one_alert_per_threshold_per_period_in_a_burst(
    tmp_path: Path, mock: MockUpstream
) -> None:
    received: list[dict[str, object]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        runtime = await _runtime(tmp_path, mock, "alert", webhook=f"http://127.0.0.1:{port}/hook")
        # Each answer costs ~15 output tokens * $50/M = ~$0.00075: make them cost more.
        mock.set_faults("premium", [{"reply": " ".join(["word"] * 400)}])  # ~$0.02 each
        await asyncio.gather(*(runtime.complete(_request(i), RESEARCH) for i in range(80)))
        assert runtime.alerts is not None
        await runtime.alerts.drain()
        thresholds = sorted(float(r["threshold"]) for r in received)  # type: ignore[arg-type]
        assert thresholds == [0.5, 1.0]
        assert all(r["budget"] == "research" and r["period"] == "daily" for r in received)
        await runtime.close()
    finally:
        await runner.cleanup()


async def test_spend_is_rebuilt_from_the_ledger_when_a_process_starts(
    tmp_path: Path, mock: MockUpstream
) -> None:
    runtime = await _runtime(tmp_path, mock, "reject")
    for i in range(3):
        await runtime.complete(_request(i), RESEARCH)
    spent_before, _ = await _counter(runtime)
    await runtime.close()
    again = await _runtime(tmp_path, mock, "reject")
    spent_after, reserved = await _counter(again)
    assert spent_after == pytest.approx(spent_before) and spent_before > 0
    assert reserved == 0.0
    await again.close()


async def test_stream_reservation_is_settled_when_the_stream_ends(
    tmp_path: Path, mock: MockUpstream
) -> None:
    runtime = await _runtime(tmp_path, mock, "reject")
    meta, chunks = await runtime.stream({**_request(1), "stream": True}, RESEARCH)
    async for _ in chunks:
        pass
    spent, reserved = await _counter(runtime)
    assert reserved == 0.0 and spent == pytest.approx(meta.cost_usd)
    await runtime.close()
