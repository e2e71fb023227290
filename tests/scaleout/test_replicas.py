"""Three gateway processes sharing the real Redis (state) and PostgreSQL (ledger)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import psycopg
import pytest
import redis

from hybridllm.budgets.periods import period_key
from hybridllm.mock import MockUpstream
from hybridllm.state.budget_scripts import COUNTER
from tests.services import PrivateRedis

from .cluster import Cluster, config_text

THOUSAND_WORDS = " ".join(["word"] * 1000)  # 1000 completion tokens at $50/1M: exactly $0.05
BUDGET = "budgets:\n  - cost_center: research\n    daily_usd: {usd}\n    action: reject\n"


def ledger_rows(url: str) -> list[tuple[str, str, str, float | None]]:
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT request_id, status, deployment, cost_usd FROM ledger")
        return [(r[0], r[1], r[2], r[3]) for r in cur.fetchall()]


def budget_counter(redis_url: str, prefix: str) -> tuple[float, float]:
    """(spent, reserved) of the research daily budget, expired holds purged."""
    key = f"cost_center:research:daily:{period_key('daily', time.time())}"
    client = redis.Redis.from_url(redis_url)
    try:
        spent, reserved = client.eval(  # type: ignore[no-untyped-call]
            COUNTER, 2, f"{prefix}{{b}}:c:{key}", f"{prefix}{{b}}:x:{key}"
        )
    finally:
        client.close()
    return int(spent) / 1e9, int(reserved) / 1e9


async def test_a_dollar_budget_admits_exactly_twenty_of_200_concurrent_requests_over_three(
    tmp_path: Path,
    mock: MockUpstream,
    postgres_url: str,
    redis_prefix: str,
    clusters: list[Cluster],
) -> None:
    mock.set_faults("premium", [{"reply": THOUSAND_WORDS}])
    text = config_text(
        mock=mock.url, ledger=postgres_url, state="redis://127.0.0.1:6379/0",
        prefix=redis_prefix, deployments={"premium": "premium"}, use=["premium"],
        extra=BUDGET.format(usd="1.00"),
    )  # fmt: skip
    cluster = await Cluster.start(tmp_path, [text] * 3)
    clusters.append(cluster)
    replies = await asyncio.gather(
        *(
            cluster.chat(cluster.replicas[i % 3], rid=f"b{i}", cost_center="research")
            for i in range(200)
        )
    )
    statuses = [status for status, _, _ in replies]
    assert statuses.count(200) == 20
    assert statuses.count(429) == 180
    refused = next(body for status, body, _ in replies if status == 429)
    assert "cost center 'research' daily $1.00" in refused["error"]["message"]
    served_by = {headers["x-request-id"] for status, _, headers in replies if status == 200}
    rows = ledger_rows(postgres_url)
    assert {r[0] for r in rows} == served_by
    assert sum(r[3] or 0 for r in rows) == pytest.approx(1.00)
    assert budget_counter("redis://127.0.0.1:6379/0", redis_prefix) == (pytest.approx(1.0), 0.0)


async def test_a_deployment_failing_on_one_replicas_traffic_opens_its_breaker_for_all_three(
    tmp_path: Path,
    mock: MockUpstream,
    postgres_url: str,
    redis_prefix: str,
    clusters: list[Cluster],
) -> None:
    # Replica 0 reaches "flaky" through a path that fails; 1 and 2 through one that works, so
    # only replica 0's own traffic can open the breaker.
    mock.set_faults("flaky-0", [{"status": 500}])
    configs = [
        config_text(
            mock=mock.url, ledger=postgres_url, state="redis://127.0.0.1:6379/0",
            prefix=redis_prefix, deployments={"flaky": f"flaky-{min(i, 1)}", "backup": "backup"},
            use=["flaky", "backup"],
            extra="dispatch: {breaker_min_calls: 5, breaker_failure_rate: 0.5, "
            "breaker_cooldown: 120, backoff_base: 0.0, backoff_max: 0.0}\n",
        ).replace("dispatch: {backoff_base: 0.0, backoff_max: 0.0}\n", "")
        for i in range(3)
    ]  # fmt: skip
    cluster = await Cluster.start(tmp_path, configs)
    clusters.append(cluster)
    a, b, c = cluster.replicas
    for i in range(6):
        status, _, headers = await cluster.chat(a, rid=f"f{i}")
        assert (status, headers["x-hybridllm-deployment"]) == (200, "backup")
    for replica in (b, c):
        ready = await cluster.until(
            replica, lambda body: body["deployments"]["flaky"]["state"] == "open"
        )
        assert ready["shared_state"]["breakers"] == "shared"
    healthy_calls = len(mock.records_for("flaky-1"))
    for i in range(4):
        status, _, headers = await cluster.chat((b, c)[i % 2], rid=f"g{i}")
        assert (status, headers["x-hybridllm-deployment"]) == (200, "backup")
    assert len(mock.records_for("flaky-1")) == healthy_calls == 0


async def test_an_rpm_limit_of_60_holds_across_three_replicas_within_one_window(
    tmp_path: Path,
    mock: MockUpstream,
    postgres_url: str,
    redis_prefix: str,
    clusters: list[Cluster],
) -> None:
    text = config_text(
        mock=mock.url, ledger=postgres_url, state="redis://127.0.0.1:6379/0",
        prefix=redis_prefix, deployments={"limited": "limited", "spill": "spill"},
        use=["limited", "spill"],
    ).replace("timeout: {total: 20}", "timeout: {total: 20}\n    limits: {rpm: 60}", 1)  # fmt: skip
    cluster = await Cluster.start(tmp_path, [text] * 3)
    clusters.append(cluster)
    replies = await asyncio.gather(
        *(cluster.chat(cluster.replicas[i % 3], rid=f"r{i}", max_tokens=10) for i in range(150))
    )
    served = [headers["x-hybridllm-deployment"] for status, _, headers in replies if status == 200]
    assert len(served) == 150
    assert served.count("limited") == 60
    assert len(mock.records_for("limited")) == 60
    assert len(mock.records_for("spill")) == 90


OUTAGE_OPTIONS = ", socket_timeout: 0.2, connect_timeout: 0.2, rebuild_interval: 1"


async def test_redis_outage_refuses_budget_bound_requests_serves_the_rest_and_recovers(
    tmp_path: Path,
    mock: MockUpstream,
    postgres_url: str,
    private_redis: PrivateRedis,
    clusters: list[Cluster],
) -> None:
    mock.set_faults("premium", [{"reply": THOUSAND_WORDS}])
    text = config_text(
        mock=mock.url, ledger=postgres_url, state=private_redis.url, prefix="hl:",
        deployments={"premium": "premium"}, use=["premium"],
        extra=BUDGET.format(usd="10.00"), state_options=OUTAGE_OPTIONS,
    )  # fmt: skip
    cluster = await Cluster.start(tmp_path, [text] * 3)
    clusters.append(cluster)
    reps = cluster.replicas
    answered: set[str] = set()

    async def send(tag: str, n: int, cost_center: str | None) -> list[int]:
        replies = await asyncio.gather(
            *(cluster.chat(reps[i % 3], rid=f"{tag}{i}", cost_center=cost_center) for i in range(n))
        )
        answered.update(h["x-request-id"] for status, _, h in replies if status == 200)
        return [status for status, _, _ in replies]

    assert await send("before", 6, "research") == [200] * 6
    private_redis.stop()
    for replica in reps:
        body = await cluster.until(replica, lambda b: not b["shared_state"]["up"])
        assert body["ready"] is True  # degraded, still serving
        assert body["shared_state"]["breakers"] == "per-process (fallback)"
        assert body["shared_state"]["budgets"] == "refused"
    status, body, _ = await cluster.chat(reps[0], rid="refused", cost_center="research")
    assert status == 503
    assert body["error"]["type"] == "shared_state_unavailable"
    assert "budget state unavailable: redis at 127.0.0.1" in body["error"]["message"]
    assert await send("outage-budget", 6, "research") == [503] * 6
    assert await send("outage-free", 6, None) == [200] * 6
    async with cluster.session.get(reps[1].url + "/metrics") as resp:
        metrics = await resp.text()
    assert "hybridllm_shared_state_up 0.0" in metrics
    assert 'hybridllm_shared_state_fallback{component="breakers"} 1.0' in metrics

    private_redis.start()  # empty: nothing persisted
    for replica in reps:
        body = await cluster.until(replica, lambda b: b["shared_state"]["up"])
        assert body["shared_state"]["budgets"] == "shared"
    # Spend comes back from the ledger (the truth): the six requests from before the outage.
    for _ in range(200):
        if budget_counter(private_redis.url, "hl:")[0] == pytest.approx(0.30):
            break
        await asyncio.sleep(0.05)
    assert budget_counter(private_redis.url, "hl:") == (pytest.approx(0.30), 0.0)
    assert await send("after", 3, "research") == [200] * 3
    assert budget_counter(private_redis.url, "hl:") == (pytest.approx(0.45), 0.0)
    rows = ledger_rows(postgres_url)
    assert {r[0] for r in rows if r[1] == "ok"} == answered
    assert len(answered) == 15


async def test_kill_9_of_a_replica_under_load_its_holds_expire_and_the_others_keep_serving(
    tmp_path: Path,
    mock: MockUpstream,
    postgres_url: str,
    redis_prefix: str,
    clusters: list[Cluster],
) -> None:
    mock.set_faults("slow", [{"delay": 0.5}])
    configs = [
        config_text(
            mock=mock.url, ledger=postgres_url, state="redis://127.0.0.1:6379/0",
            prefix=redis_prefix, deployments={"main": "slow" if i == 0 else "fast"}, use=["main"],
            extra=BUDGET.format(usd="1000"), state_options=", hold_ttl: 6",
        )
        for i in range(3)
    ]  # fmt: skip
    cluster = await Cluster.start(tmp_path, configs)
    clusters.append(cluster)
    victim = cluster.replicas[0]
    answered: list[tuple[int, str, float]] = []  # replica, request id, when
    failed: list[tuple[int, str]] = []
    stop = asyncio.Event()

    async def worker(index: int, w: int) -> None:
        n = 0
        while not stop.is_set():
            rid = f"k{index}-{w}-{n}"
            n += 1
            try:
                status, _, _ = await cluster.chat(
                    cluster.replicas[index], rid=rid, cost_center="research"
                )
            except (TimeoutError, aiohttp.ClientError):
                failed.append((index, rid))
                if index == 0:
                    return
                continue
            if status == 200:
                answered.append((index, rid, time.monotonic()))
            else:
                failed.append((index, rid))

    workers = [asyncio.create_task(worker(i, w)) for i in range(3) for w in range(6)]
    await asyncio.sleep(1.2)
    await victim.kill()
    killed_at = time.monotonic()
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.gather(*workers)

    assert [f for f in failed if f[0] != 0] == []  # the others never failed a request
    assert any(i != 0 and at > killed_at + 0.5 for i, _, at in answered)
    _spent, reserved = budget_counter("redis://127.0.0.1:6379/0", redis_prefix)
    assert reserved > 0  # the dead replica's holds, until their TTL
    for _ in range(300):
        if budget_counter("redis://127.0.0.1:6379/0", redis_prefix)[1] == 0.0:
            break
        await asyncio.sleep(0.05)
    assert budget_counter("redis://127.0.0.1:6379/0", redis_prefix)[1] == 0.0
    rows = {r[0]: r[1] for r in ledger_rows(postgres_url)}
    assert all(rows.get(rid) == "ok" for _, rid, _ in answered)  # every reply has its row
    assert any(i == 0 for i, _, _ in answered)
