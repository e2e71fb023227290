"""``hybridllm init``: a starter config from what this machine has (Ollama, API keys in the env)."""

from __future__ import annotations

import os
from pathlib import Path

from hybridllm.cli.common import console, fail
from hybridllm.errors import UsageError
from hybridllm.providers import ollama

__all__ = ["run_init", "starter_config"]

OLLAMA_URL = "http://localhost:11434"

_CLOUD = (
    # env var, deployment name, provider, model, tier
    ("DEEPSEEK_API_KEY", "deepseek", "deepseek", "deepseek-chat", 2),
    ("GEMINI_API_KEY", "gemini-flash", "gemini", "gemini-2.5-flash", 2),
    ("OPENAI_API_KEY", "gpt-4o-mini", "openai", "gpt-4o-mini", 2),
    ("ANTHROPIC_API_KEY", "sonnet", "anthropic", "claude-sonnet-4-5", 3),
)


def _ollama_models() -> list[str]:
    return ollama.list_models_blocking(OLLAMA_URL)


def starter_config(ollama_models: list[str], env_keys: set[str]) -> str:
    local_model = ollama_models[0] if ollama_models else "llama3.2:3b"
    found = "found on this machine" if ollama_models else "not found: install Ollama and pull it"
    lines = [
        "# hybridllm starter config: written by `hybridllm init`. Check it with `hybridllm check`.",
        "deployments:",
        f"  local:                      # Ollama, {found}",
        "    provider: ollama",
        f"    model: {local_model}",
        "    tier: 1",
    ]
    cloud = [row for row in _CLOUD if row[0] in env_keys] or [_CLOUD[-1], _CLOUD[0]]
    if not any(r[4] == 3 for r in cloud):
        cloud.append(_CLOUD[-1])
    for env, name, provider, model, tier in cloud:
        note = "key found in the environment" if env in env_keys else f"set {env} to use it"
        lines += [
            f"  {name}:                  # {note}",
            f"    provider: {provider}",
            f"    model: {model}",
            f"    api_key: ${{{env}}}",
            f"    tier: {tier}",
        ]
    premium = next(r[1] for r in cloud if r[4] == 3)
    budget = next((r[1] for r in cloud if r[4] == 2), premium)
    lines += [
        "",
        f"baseline: {premium}          # what every request would cost without routing",
        "",
        "routes:                       # ordered; the first rule whose `when` holds wins",
        "  - name: privacy_sensitive",
        "    when: {contains_pii: true}",
        "    use: [local]",
        "  - name: code",
        "    when: {task_type: code}",
        f"    use: [{_chain(premium, budget)}]",
        "  - name: long_context",
        '    when: {tokens: ">8000"}',
        f"    use: [{premium}]",
        "  - name: simple",
        "    when: {any: [{complexity: low},",
        "                 {task_type: [summarization, translation, classification, formatting]}]}",
        f"    use: [{_chain('local', budget)}]",
        '    escalate: {min_chars: 20, phrases: ["i don\'t know", "as an ai"]}',
        "  - name: default",
        f"    use: [{_chain('local', budget, premium)}]",
        "",
        "ledger: sqlite:///hybridllm.db",
        "state: memory",
    ]
    return "\n".join(lines) + "\n"


def _chain(*names: str) -> str:
    return ", ".join(dict.fromkeys(names))


def run_init(path: Path, force: bool) -> None:
    if path.exists() and not force:
        fail(UsageError(f"{path} already exists (use --force to overwrite)"))
    models = _ollama_models()
    env_keys = {row[0] for row in _CLOUD if os.environ.get(row[0])}
    path.write_text(starter_config(models, env_keys), encoding="utf-8")
    console.print(f"wrote {path}")
    console.print(f"  Ollama: {', '.join(models) if models else 'not found on ' + OLLAMA_URL}")
    console.print(f"  API keys found: {', '.join(sorted(env_keys)) or 'none'}")
    console.print('next: `hybridllm check`, then `hybridllm route "your prompt"`')
