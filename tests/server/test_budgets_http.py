"""Budgets through the gateway: a spent budget answers 429 in the caller's envelope."""

from __future__ import annotations

from tests.server.conftest import GatewayFactory
from tests.server.helpers import (
    CHAT,
    MESSAGES,
    anthropic,
    anthropic_error,
    call,
    chat,
    openai_error,
)

BUDGET = """
budgets:
  - cost_center: research
    daily_usd: 0.0001
    action: reject
"""


async def test_spent_budget_is_a_429_naming_the_budget_with_retry_after(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway(BUDGET)
    hints = {"x-hybridllm-cost-center": "research"}
    reply = await call(gw.url, CHAT, chat("hello", max_tokens=1000), headers=hints)
    assert reply.status == 429
    error = openai_error(reply)
    assert error["type"] == "budget_exceeded"
    assert "cost center 'research' daily" in error["message"] and "resets at" in error["message"]
    assert int(reply.headers["retry-after"]) >= 1
    other = await call(
        gw.url, CHAT, chat("hello", max_tokens=1000), headers={"x-hybridllm-cost-center": "ops"}
    )
    assert other.status == 200  # no budget for that cost center


async def test_spent_budget_on_the_anthropic_route_uses_its_envelope(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway(BUDGET)
    reply = await call(
        gw.url,
        MESSAGES,
        anthropic("hello", max_tokens=1000),
        headers={"x-hybridllm-cost-center": "research"},
    )
    assert reply.status == 429
    assert anthropic_error(reply)["type"] in ("rate_limit_error", "budget_exceeded")


async def test_spent_budget_on_a_stream_is_a_429_before_the_first_byte(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway(BUDGET)
    reply = await call(
        gw.url,
        CHAT,
        chat("hello", max_tokens=1000, stream=True),
        headers={"x-hybridllm-cost-center": "research"},
    )
    assert reply.status == 429
    assert openai_error(reply)["type"] == "budget_exceeded"
