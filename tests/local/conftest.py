"""The local tier: in-process llama.cpp on the bundled small model, and Ollama management.

Tests that load the model are marked ``slow`` and run by default (CI runs them). Without
llama-cpp-python or the model package they skip with the reason, except under ``CI=true``,
where a missing local tier is a failure.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hybridllm.ledger import open_store
from hybridllm.ledger.row import LedgerRow
from hybridllm.mock import MockUpstream
from hybridllm.providers.local_model import LOCAL_INSTALL, missing_local_packages
from hybridllm.router import Router
from hybridllm.runtime import Runtime


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: real inference on the local model (seconds, not milliseconds)"
    )


@pytest.fixture(scope="session")
def local_tier() -> None:
    """Skip (fail under CI=true) when the local tier cannot run here."""
    missing = missing_local_packages()
    if missing:
        reason = f"local tier not installed ({', '.join(missing)}): {LOCAL_INSTALL}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)


# max_output_tokens keeps every generation short: the suite's time is the model's time.
LOCAL_CONFIG = """
deployments:
  local:
    provider: llamacpp
    model: gemma-3-270m
    tier: 1
    max_output_tokens: 24
    n_ctx: 2048
  local-b:
    provider: ollama
    model: llama3.2:3b
    base_url: {url}/local-b/v1
    tier: 2
  cloud:
    provider: openai
    model: gpt-4o-mini
    base_url: {url}/cloud/v1
    api_key: sk-test-cloud-0000000000000000
    tier: 3
baseline: cloud
routes:
  - name: private
    when: {{keywords: [confidential]}}
    private: true
    max_queue_wait: 0.1
    use: [local, local-b]
  - name: spill
    max_queue_wait: 0.1
    use: [local, cloud]
ledger: sqlite:///{ledger}
"""


@pytest.fixture
async def mock() -> AsyncIterator[MockUpstream]:
    async with MockUpstream() as upstream:
        yield upstream


@pytest.fixture
async def local_runtime(
    local_tier: None, mock: MockUpstream, tmp_path: Path
) -> AsyncIterator[Runtime]:
    path = tmp_path / "hybridllm.yaml"
    path.write_text(LOCAL_CONFIG.format(url=mock.url, ledger=tmp_path / "ledger.db"))
    runtime = Runtime(Router.from_config(path))
    await runtime.start()
    yield runtime
    await runtime.close()


def ledger_rows(runtime: Runtime) -> list[LedgerRow]:
    """The committed rows (a running writer commits spooled rows within its flush interval:
    flush first)."""
    if runtime.writer is not None:
        runtime.writer.flush(10)
    store = open_store(runtime.ledger_url)
    try:
        return list(store.rows())
    finally:
        store.close()
