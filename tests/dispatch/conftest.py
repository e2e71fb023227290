"""A running mock upstream and a runtime routed at it, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hybridllm.dispatch.clock import Clock
from hybridllm.ledger import open_store
from hybridllm.ledger.row import LedgerRow
from hybridllm.mock import MockUpstream
from hybridllm.router import Router
from hybridllm.runtime import Runtime

# Assembled so that no whole key shape stands in the source (it is a fake all the same).
FALLBACK_KEY = "sk-ant-" + "test-fallback-0000000000"

DISPATCH_CONFIG = """
deployments:
  local-a:
    provider: ollama
    model: llama3.2:3b
    base_url: {url}/local-a/v1
    tier: 1
    timeout: {{first_token: 2, idle: 0.5, total: 10}}
  local-b:
    provider: llama-server
    model: qwen2.5:7b
    base_url: {url}/local-b/v1
    tier: 2
    timeout: {{first_token: 2, idle: 0.5, total: 10}}
  primary:
    provider: openai
    model: gpt-4o-mini
    base_url: {url}/primary/v1
    api_key: sk-test-primary-000000000000
    tier: 2
    timeout: {{first_token: 2, idle: 0.5, total: 10}}
  fallback:
    provider: anthropic
    model: claude-sonnet-4-5
    base_url: {url}/fallback
    api_key: {fallback_key}
    tier: 3
  gem:
    provider: gemini
    model: gemini-2.5-flash
    base_url: {url}/gem/v1beta
    api_key: test-gemini-key-000000000000
    tier: 3

baseline: fallback

routes:
  - name: private
    when: {{contains_pii: true}}
    use: [local-a, local-b, primary]
  - name: simple
    when: {{keywords: [summarize]}}
    use: [local-a, primary]
    escalate: {{min_chars: 30, phrases: ["i don't know"]}}
  - name: three
    when: {{keywords: [three]}}
    use: [local-a, local-b, primary, fallback, gem]
  - name: default
    use: [primary, fallback]

dispatch:
  max_attempts: 3
  backoff_base: 0.001
  backoff_max: 0.01
  breaker_min_calls: {min_calls}
  breaker_failure_rate: 0.5
  breaker_cooldown: 10
  breaker_cooldown_max: 80

ledger: sqlite:///{ledger}
"""


@pytest.fixture
async def mock() -> AsyncIterator[MockUpstream]:
    async with MockUpstream() as upstream:
        yield upstream


RuntimeFactory = Callable[..., Any]


@pytest.fixture
async def make_runtime(mock: MockUpstream, tmp_path: Path) -> AsyncIterator[RuntimeFactory]:
    runtimes: list[Runtime] = []
    ledger = tmp_path / "ledger.db"

    async def factory(
        clock: Clock | None = None,
        extra: str = "",
        min_calls: int = 5,
        text_edit: tuple[str, str] = ("", ""),
    ) -> Runtime:
        path = tmp_path / "hybridllm.yaml"
        text = (
            DISPATCH_CONFIG.format(
                url=mock.url, ledger=ledger, min_calls=min_calls, fallback_key=FALLBACK_KEY
            )
            + extra
        )
        path.write_text(text.replace(*text_edit) if text_edit[0] else text)
        runtime = Runtime(Router.from_config(path), clock=clock)
        await runtime.start()
        runtimes.append(runtime)
        return runtime

    yield factory
    for runtime in runtimes:
        await runtime.close()


def ledger_rows(runtime: Runtime) -> list[LedgerRow]:
    store = open_store(runtime.ledger_url)
    try:
        return list(store.rows())
    finally:
        store.close()
