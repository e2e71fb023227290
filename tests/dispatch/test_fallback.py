"""Dispatch against the mock upstream over real loopback HTTP."""

from __future__ import annotations

import asyncio

import pytest

from hybridllm.dispatch.clock import ManualClock
from hybridllm.errors import BadRequestError, NoDeploymentError, UpstreamTimeoutError
from hybridllm.mock import MockUpstream
from tests.dispatch.conftest import RuntimeFactory, ledger_rows


async def test_primary_failing_30_percent_of_1000_requests_every_request_answered(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    # Exactly 30%, spread evenly: every 10th request, then every 9th of the rest, then every
    # 8th of what is left. A 30% failure rate must not open the breaker (it opens at 50%).
    mock.set_faults(
        "primary",
        [{"status": 500, "every": 10}, {"status": 500, "every": 9}, {"status": 500, "every": 8}],
    )
    runtime = await make_runtime()
    sem = asyncio.Semaphore(20)

    async def one(i: int):  # type: ignore[no-untyped-def]
        async with sem:
            return await runtime.complete(f"question number {i}: what is the capital of France?")

    results = await asyncio.gather(*(one(i) for i in range(1000)))
    assert len(results) == 1000 and all(r.text for r in results)
    primary_failures = sum(1 for r in mock.records_for("primary") if r.status == 500)
    assert primary_failures == 300
    served_by_fallback = sum(1 for r in results if r.deployment == "fallback")
    assert served_by_fallback >= primary_failures  # every failure was served by the fallback
    attempts = sum(r.attempts for r in results)
    assert attempts == 1000 + primary_failures <= 1.3 * 1000
    await runtime.close()
    rows = ledger_rows(runtime)
    assert len(rows) == attempts
    assert {(r.request_id, r.attempt) for r in rows} == {
        (res.request_id, n) for res in results for n in range(1, res.attempts + 1)
    }


async def test_retry_after_2s_means_no_attempt_to_that_deployment_for_2s(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    mock.set_faults("primary", [{"status": 429, "retry_after": 2, "count": 1}])
    clock = ManualClock()
    runtime = await make_runtime(clock=clock)
    first = await runtime.complete("hello")
    assert first.deployment == "fallback" and first.attempts == 2
    for _ in range(5):
        clock.advance(0.3)  # 1.5 s in all: still inside the 2 s
        r = await runtime.complete("hello again")
        assert r.deployment == "fallback" and r.attempts == 1
    assert len(mock.records_for("primary")) == 1
    clock.advance(0.6)  # 2.1 s after the 429
    r = await runtime.complete("and now")
    assert r.deployment == "primary"
    assert len(mock.records_for("primary")) == 2


async def test_retry_after_on_the_last_candidate_waits_when_it_fits_the_deadline(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    mock.set_faults("fallback", [{"status": 429, "retry_after": 3, "count": 1}])
    mock.set_faults("primary", [{"status": 500}])
    clock = ManualClock()
    runtime = await make_runtime(clock=clock)
    with pytest.raises(NoDeploymentError):
        await runtime.complete("first")  # primary 500, fallback 429
    before = clock.now()
    r = await runtime.complete("second")  # primary 500 again, fallback cooling: waits 3 s
    assert r.deployment == "fallback"
    assert clock.now() - before >= 2.9


async def test_breaker_opens_on_a_dead_deployment_then_one_probe_per_cooldown(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    mock.set_faults("primary", [{"status": 503}])
    clock = ManualClock()
    runtime = await make_runtime(clock=clock)
    for _ in range(5):
        await runtime.complete("hi")
    assert len(mock.records_for("primary")) == 5  # min_calls reached: open now
    for _ in range(10):
        r = await runtime.complete("hi")
        assert r.deployment == "fallback" and r.attempts == 1
    assert len(mock.records_for("primary")) == 5
    clock.advance(10)  # cool-down over: half-open, many concurrent requests, one probe
    await asyncio.gather(*(runtime.complete("probe?") for _ in range(10)))
    assert len(mock.records_for("primary")) == 6
    clock.advance(10)  # the probe failed: the cool-down doubled to 20 s
    await asyncio.gather(*(runtime.complete("x") for _ in range(5)))
    assert len(mock.records_for("primary")) == 6
    clock.advance(10)
    await asyncio.gather(*(runtime.complete("y") for _ in range(5)))
    assert len(mock.records_for("primary")) == 7
    mock.set_faults("primary", [])
    clock.advance(40)  # next probe succeeds: closed again, every request goes to primary
    for _ in range(3):
        r = await runtime.complete("z")
        assert r.deployment == "primary"


async def test_stream_stalling_after_5_chunks_ends_with_idle_timeout_partial_usage_billed(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    mock.set_faults("primary", [{"stall_after": 5}])
    runtime = await make_runtime()
    _meta, chunks = await runtime.stream(
        {"messages": [{"role": "user", "content": "tell me"}], "stream": True}
    )
    texts: list[str] = []
    with pytest.raises(UpstreamTimeoutError, match="idle"):
        async for chunk in chunks:
            texts.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(texts)
    assert len(mock.records_for("primary")) == 1
    assert mock.records_for("fallback") == []  # no retry after the first byte
    await runtime.close()
    rows = ledger_rows(runtime)
    assert len(rows) == 1
    row = rows[0]
    assert row.status == "partial" and row.streamed
    assert row.error_class == "UpstreamTimeoutError"
    assert row.completion_tokens > 0 and row.cost_usd is not None and row.cost_usd > 0


async def test_stream_falls_back_when_the_primary_fails_before_the_first_byte(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    mock.set_faults("primary", [{"status": 502}])
    runtime = await make_runtime()
    meta, chunks = await runtime.stream(
        {"messages": [{"role": "user", "content": "hello"}], "stream": True}
    )
    text = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
    assert text.startswith("Mock answer from claude-sonnet-4-5")
    assert meta.deployment == "fallback" and meta.attempts == 2
    assert meta.usage is not None and meta.usage.completion_tokens > 0


async def test_credit_card_prompt_never_reaches_a_cloud_deployment_when_locals_fail(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    mock.set_faults("local-a", [{"status": 500}])
    mock.set_faults("local-b", [{"status": 503}])
    runtime = await make_runtime()
    with pytest.raises(NoDeploymentError) as info:
        await runtime.complete("charge my card 4111 1111 1111 1111 for the order")
    assert "private" in str(info.value) or "failed" in str(info.value)
    assert "4111" not in str(info.value)
    for cloud in ("primary", "fallback", "gem"):
        assert mock.records_for(cloud) == []
    assert len(mock.records_for("local-a")) == 1 and len(mock.records_for("local-b")) == 1


async def test_weak_reply_escalates_to_the_next_deployment_and_both_are_recorded(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    mock.set_faults(
        "local-a", [{"reply": "I don't know, sorry. That is beyond what I can do here."}]
    )
    runtime = await make_runtime()
    r = await runtime.complete("summarize this meeting")
    assert r.deployment == "primary" and r.attempts == 2
    statuses = [row.status for row in r.rows]
    assert statuses == ["escalated", "ok"]


async def test_caller_error_400_goes_back_without_fallback(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    mock.set_faults("primary", [{"status": 400, "message": "bad parameter"}])
    runtime = await make_runtime()
    with pytest.raises(BadRequestError):
        await runtime.complete("hello")
    assert mock.records_for("fallback") == []


async def test_context_window_error_falls_back_and_is_not_a_breaker_failure(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    mock.set_faults("primary", [{"context_window": 5}])
    runtime = await make_runtime()
    for _ in range(8):
        r = await runtime.complete("a prompt that is longer than five tokens for sure")
        assert r.deployment == "fallback"
    assert len(mock.records_for("primary")) == 8  # the breaker never opened


async def test_max_attempts_caps_a_long_chain(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    for prefix in ("local-a", "local-b", "primary", "fallback", "gem"):
        mock.set_faults(prefix, [{"status": 500}])
    runtime = await make_runtime()
    with pytest.raises(NoDeploymentError, match="3 attempts"):
        await runtime.complete("three deployments at most")
    assert (
        sum(len(mock.records_for(p)) for p in ("local-a", "local-b", "primary", "fallback", "gem"))
        == 3
    )


async def test_upstream_key_never_appears_in_the_error(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    mock.set_faults("primary", [{"status": 401, "message": "bad key sk-test-primary-000000000000"}])
    mock.set_faults("fallback", [{"status": 401}])
    runtime = await make_runtime()
    with pytest.raises(NoDeploymentError) as info:
        await runtime.complete("hello")
    assert "sk-test-primary-000000000000" not in str(info.value)


async def test_cloud_deployment_without_a_key_is_skipped_without_a_call(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    runtime = await make_runtime(text_edit=("    api_key: sk-test-primary-000000000000\n", ""))
    r = await runtime.complete("hello")
    assert r.deployment == "fallback" and r.attempts == 1
    assert mock.records_for("primary") == []


async def test_weak_reply_is_the_answer_and_the_ok_row_when_every_later_attempt_fails(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    mock.set_faults(
        "local-a", [{"reply": "I don't know, sorry. That is beyond what I can do here."}]
    )
    mock.set_faults("primary", [{"status": 500}])
    runtime = await make_runtime()
    r = await runtime.complete("summarize this meeting")
    assert r.deployment == "local-a" and r.text.startswith("I don't know")
    assert sorted((row.attempt, row.status) for row in r.rows) == [(1, "ok"), (2, "error")]
    assert r.baseline_cost_usd is not None and r.baseline_cost_usd > 0


async def test_upstream_auth_failure_is_logged_loudly_without_the_key(
    mock: MockUpstream, make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    mock.set_faults(
        "primary", [{"status": 401, "message": "invalid key sk-test-primary-000000000000"}]
    )
    runtime = await make_runtime()
    with caplog.at_level("ERROR", logger="hybridllm.dispatch"):
        r = await runtime.complete("hello")
    assert r.deployment == "fallback"
    assert "UPSTREAM AUTH FAILED for primary" in caplog.text
    assert "sk-test-primary-000000000000" not in caplog.text


async def test_an_attempt_past_its_total_limit_times_out_and_falls_back(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    mock.set_faults("primary", [{"hang": True}])
    runtime = await make_runtime(
        text_edit=(
            "timeout: {first_token: 2, idle: 0.5, total: 10}\n  fallback:",
            "timeout: {first_token: 2, idle: 0.5, total: 0.2}\n  fallback:",
        )
    )
    r = await runtime.complete("hello")
    assert (r.deployment, r.attempts) == ("fallback", 2)
    first = r.rows[0]
    assert (first.deployment, first.status, first.error_class) == (
        "primary",
        "error",
        UpstreamTimeoutError("x").error_class,
    )
    assert first.latency_ms < 2_000  # the 0.2 s limit, not the mock's hang


async def test_a_request_cancelled_from_outside_records_its_attempt_and_propagates(
    mock: MockUpstream, make_runtime: RuntimeFactory
) -> None:
    mock.set_faults("primary", [{"hang": True}])
    runtime = await make_runtime()
    task = asyncio.create_task(runtime.complete("hello"))
    for _ in range(500):  # until the attempt is in flight (at most 5 s)
        if mock.records_for("primary"):
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await runtime.close()
    rows = ledger_rows(runtime)
    assert [(r.deployment, r.status, r.error_class) for r in rows] == [
        ("primary", "error", "Cancelled")
    ]
    assert (
        mock.records_for("fallback") == []
    )  # a cancelled request is not a timeout to fall back from
