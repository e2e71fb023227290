"""Hints, pinning, /v1/route, /v1/models, /readyz, /metrics, and how failures are answered."""

from __future__ import annotations

import orjson
import pytest

from hybridllm.mock import MockUpstream
from hybridllm.server.metrics import METRIC_NAMES

from .conftest import CLAUDE_KEY, KEYS_CONFIG, PRIMARY_KEY, TEAM_KEY, GatewayFactory, Running
from .helpers import (
    CHAT,
    MESSAGES,
    anthropic,
    anthropic_error,
    call,
    chat,
    openai_error,
    sse_events,
)


@pytest.mark.parametrize(
    ("headers", "hints", "route", "deployment"),
    [
        ({"x-hybridllm-task": "code"}, None, "code", "claude"),
        ({}, {"task": "code"}, "code", "claude"),
        ({"x-hybridllm-tier": "1"}, None, "default", "local-a"),
        ({"x-hybridllm-private": "true"}, None, "default", "local-a"),
        ({}, {"private": True, "batch_size": 3}, "default", "local-a"),
        ({"x-hybridllm-task": "code"}, {"task": "chat"}, "default", "primary"),  # body wins
    ],
)
async def test_hints_from_headers_and_body_steer_the_route(
    gateway: Running,
    mock: MockUpstream,
    headers: dict[str, str],
    hints: dict[str, object] | None,
    route: str,
    deployment: str,
) -> None:
    body = chat(hybridllm=hints) if hints else chat()
    reply = await call(gateway.url, CHAT, body, headers=headers)
    assert reply.status == 200, reply.body
    assert reply.headers["x-hybridllm-route"] == route
    assert reply.headers["x-hybridllm-deployment"] == deployment
    (record,) = mock.records
    assert "hybridllm" not in record.body  # the hint field never goes upstream


async def test_cost_center_hint_lands_in_the_ledger(gateway: Running) -> None:
    await call(gateway.url, CHAT, chat(), headers={"x-hybridllm-cost-center": "marketing"})
    (row,) = gateway.rows()
    assert row.cost_center == "marketing"


async def test_route_returns_the_decision_without_calling_a_model(
    gateway: Running, mock: MockUpstream
) -> None:
    reply = await call(gateway.url, "/v1/route", chat("fix this python function"))
    assert reply.status == 200
    decision = reply.json()
    assert decision["route"] == "code"
    assert decision["chain"] == ["claude", "primary"]
    assert decision["features"]["task_type"] == "code"
    assert decision["reasons"]
    assert reply.headers["x-hybridllm-deployment"] == "claude"
    reply = await call(gateway.url, "/v1/route", chat("hi", model="local-a"))
    assert reply.json()["route"] == "pinned:local-a"
    assert mock.records == []


async def test_models_lists_auto_and_the_deployments(gateway: Running) -> None:
    reply = await call(gateway.url, "/v1/models", method="GET")
    ids = [m["id"] for m in reply.json()["data"]]
    assert ids == ["auto", "local-a", "primary", "claude"]


async def test_readyz_shows_an_open_breaker_and_stays_ready_while_one_is_usable(
    gateway: Running, mock: MockUpstream
) -> None:
    mock.set_faults("primary", [{"status": 500}])
    for _ in range(3):
        reply = await call(gateway.url, CHAT, chat(model="primary"))
        assert reply.status == 503
    reply = await call(gateway.url, "/readyz", method="GET")
    assert reply.status == 200
    deployments = reply.json()["deployments"]
    assert deployments["primary"]["state"] == "open"
    assert deployments["primary"]["usable"] is False
    assert deployments["claude"]["state"] == "closed"


async def test_readyz_is_503_when_every_breaker_is_open(
    gateway: Running, mock: MockUpstream
) -> None:
    for prefix in ("primary", "claude", "local-a"):
        mock.set_faults(prefix, [{"status": 500}])
        for _ in range(3):
            await call(gateway.url, CHAT, chat(model=prefix))
    reply = await call(gateway.url, "/readyz", method="GET")
    assert reply.status == 503
    assert reply.json()["ready"] is False
    assert reply.headers["content-type"].startswith("application/json")


async def test_healthz_is_ok(gateway: Running) -> None:
    reply = await call(gateway.url, "/healthz", method="GET")
    assert (reply.status, reply.json()) == (200, {"status": "ok"})


async def test_every_deployment_failing_is_a_503_in_each_envelope(
    gateway: Running, mock: MockUpstream
) -> None:
    for prefix in ("primary", "claude", "local-a"):
        mock.set_faults(prefix, [{"status": 500}])
    reply = await call(gateway.url, CHAT, chat())
    assert reply.status == 503
    assert openai_error(reply)["type"] == "no_deployment_available"
    assert reply.headers["x-hybridllm-route"] == "default"
    reply = await call(gateway.url, MESSAGES, anthropic())
    assert reply.status == 503
    assert anthropic_error(reply)["type"] == "overloaded_error"
    assert [r.status for r in gateway.rows()] == ["error"] * 6


async def test_rate_limited_everywhere_is_a_429_with_retry_after(
    gateway: Running, mock: MockUpstream
) -> None:
    for prefix in ("primary", "claude", "local-a"):
        mock.set_faults(prefix, [{"status": 429, "retry_after": 7}])
    reply = await call(gateway.url, CHAT, chat())
    assert reply.status == 429
    assert reply.headers["retry-after"] == "7"
    openai_error(reply)


async def test_upstream_client_error_goes_back_without_fallback(
    gateway: Running, mock: MockUpstream
) -> None:
    mock.set_faults("primary", [{"status": 400, "message": "bad temperature"}])
    reply = await call(gateway.url, CHAT, chat())
    assert reply.status == 400
    assert "bad temperature" in openai_error(reply)["message"]
    assert len(mock.records) == 1


async def test_private_request_with_no_local_deployment_is_a_503(gateway: Running) -> None:
    headers = {"x-hybridllm-private": "true", "x-hybridllm-tier": "3"}
    reply = await call(gateway.url, CHAT, chat(), headers=headers)
    assert reply.status == 503
    assert "private" in openai_error(reply)["message"]


async def test_fallback_is_invisible_to_the_caller_but_counted(
    gateway: Running, mock: MockUpstream
) -> None:
    mock.set_faults("primary", [{"status": 503, "count": 1}])
    reply = await call(gateway.url, CHAT, chat())
    assert reply.status == 200
    assert reply.headers["x-hybridllm-deployment"] == "claude"
    assert reply.headers["x-hybridllm-attempts"] == "2"
    rows = gateway.rows()
    assert [(r.deployment, r.status) for r in rows] == [("primary", "error"), ("claude", "ok")]
    assert rows[1].fallback_from == "primary"


async def test_stream_failing_before_the_first_byte_is_an_ordinary_http_error(
    gateway: Running, mock: MockUpstream
) -> None:
    for prefix in ("primary", "claude", "local-a"):
        mock.set_faults(prefix, [{"status": 500}])
    reply = await call(gateway.url, CHAT, chat(stream=True))
    assert reply.status == 503
    assert reply.headers["content-type"].startswith("application/json")
    openai_error(reply)


async def test_openai_stream_breaking_after_the_first_byte_ends_with_an_error_event(
    gateway: Running, mock: MockUpstream
) -> None:
    mock.set_faults("primary", [{"close_after": 3}])
    reply = await call(gateway.url, CHAT, chat(stream=True))
    assert reply.status == 200
    events = sse_events(reply.body)
    assert events[-1] == ("message", "[DONE]")
    error = orjson.loads(events[-2][1])["error"]
    assert error["type"] == "stream_error"
    assert len(events) > 3
    (row,) = gateway.rows()
    assert (row.status, row.error_class) == ("partial", "StreamBrokenError")


async def test_anthropic_stream_breaking_after_the_first_byte_ends_with_an_error_event(
    gateway: Running, mock: MockUpstream
) -> None:
    mock.set_faults("primary", [{"close_after": 3}])
    reply = await call(gateway.url, MESSAGES, anthropic(stream=True))
    assert reply.status == 200
    events = sse_events(reply.body)
    assert events[0][0] == "message_start"
    name, data = events[-1]
    assert name == "error"
    assert orjson.loads(data)["type"] == "error"
    assert "message_stop" not in [n for n, _ in events]


async def test_anthropic_stream_event_sequence(gateway: Running) -> None:
    reply = await call(gateway.url, MESSAGES, anthropic(stream=True))
    names = [n for n, _ in sse_events(reply.body)]
    assert names[:2] == ["message_start", "content_block_start"]
    assert set(names[2:-3]) == {"content_block_delta"}
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]


async def test_metrics_expose_every_name_and_no_key_material(
    make_gateway: GatewayFactory, mock: MockUpstream
) -> None:
    gw = await make_gateway(KEYS_CONFIG)
    auth = {"authorization": f"Bearer {TEAM_KEY}"}
    mock.set_faults("primary", [{"status": 503, "count": 1}])
    assert (await call(gw.url, CHAT, chat(), headers=auth)).status == 200
    assert (await call(gw.url, CHAT, chat(stream=True), headers=auth)).status == 200
    assert (await call(gw.url, MESSAGES, anthropic(), headers=auth)).status == 200
    assert (await call(gw.url, CHAT, chat(model="nope"), headers=auth)).status == 404
    reply = await call(gw.url, "/metrics", method="GET", headers=auth)
    assert reply.status == 200
    text = reply.body.decode()
    for name in METRIC_NAMES:
        assert f"# TYPE {name}" in text, name
    assert (
        'hybridllm_requests_total{api="chat_completions",deployment="claude",'
        'route="default",status="200"} 1.0'
    ) in text
    assert 'status="404"' in text
    assert (
        'hybridllm_fallbacks_total{from_deployment="primary",route="default",'
        'to_deployment="claude"} 1.0'
    ) in text
    assert 'hybridllm_breaker_state{deployment="primary"} 0.0' in text
    assert 'cost_center="research"' in text
    assert "hybridllm_time_to_first_token_seconds_count" in text
    assert "hybridllm_savings_usd_total{" in text
    for secret in (PRIMARY_KEY, CLAUDE_KEY, TEAM_KEY, "sk-"):
        assert secret not in text


async def test_no_upstream_key_in_any_error_body(gateway: Running, mock: MockUpstream) -> None:
    mock.set_faults("primary", [{"status": 400, "message": f"bad key {PRIMARY_KEY}"}])
    reply = await call(gateway.url, CHAT, chat())
    assert reply.status == 400
    assert PRIMARY_KEY not in reply.body.decode()
    assert "[REDACTED]" in reply.body.decode()
