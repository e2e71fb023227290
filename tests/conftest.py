"""Shared fixtures: a small config, written to a temp dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# No test may reach a real provider: hybridllm's tests only ever talk to 127.0.0.1.
for _var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY"):
    os.environ.pop(_var, None)

BASIC_CONFIG = """
deployments:
  local-small:
    provider: ollama
    model: llama3.3:14b
    tier: 1
    context_window: 32768
  deepseek:
    provider: deepseek
    model: deepseek-chat
    api_key: ${DEEPSEEK_API_KEY}
    tier: 2
    context_window: 65536
  sonnet:
    provider: anthropic
    model: claude-sonnet-4-5
    api_key: ${ANTHROPIC_API_KEY}
    tier: 3
    price: {input: 3.00, output: 15.00, cache_read: 0.30, batch_discount: 0.5}
    context_window: 1000000

baseline: sonnet

routes:
  - name: privacy_sensitive
    when: {contains_pii: true}
    use: [local-small]
  - name: code_generation
    when: {task_type: code}
    use: [sonnet, deepseek]
  - name: batch_processing
    when: {batch_size: ">100"}
    use: [deepseek, local-small]
  - name: long_context
    when: {tokens: ">8000"}
    use: [sonnet]
  - name: simple
    when: {any: [{complexity: low}, {keywords: [summarize, translate, format, convert, rewrite]}]}
    use: [local-small, deepseek]
    escalate: {min_chars: 30, phrases: ["i don't know", "i'm not sure", "as an ai", "i cannot"]}
  - name: default
    use: [local-small, deepseek, sonnet]
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "hybridllm.yaml"
    path.write_text(BASIC_CONFIG + f"\nledger: sqlite:///{tmp_path}/ledger.db\n")
    return path
