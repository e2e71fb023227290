"""Providers as rows of data: which wire format they speak, where they live, how they authenticate.

A provider is *where* a model runs; a wire format is *how* we talk to it. OpenAI-compatible services
are rows here, not modules: only the three wire formats have code (``providers/openai.py``,
``anthropic.py``, ``gemini.py``), and the in-process ``llamacpp`` (``providers/llamacpp.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PROVIDERS", "ProviderInfo", "Wire"]

Wire = Literal["openai", "anthropic", "gemini", "llamacpp"]


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    name: str
    wire: Wire
    base_url: str
    locality: Literal["local", "cloud"]
    key_env: str | None  # the environment variable users usually keep its key in
    prices_id: str | None  # the provider id in genai-prices; None: local, free by default


def _row(
    name: str,
    wire: Wire,
    base_url: str,
    locality: Literal["local", "cloud"],
    key_env: str | None,
    prices_id: str | None,
) -> tuple[str, ProviderInfo]:
    return name, ProviderInfo(name, wire, base_url, locality, key_env, prices_id)


PROVIDERS: dict[str, ProviderInfo] = dict(
    [
        _row("openai", "openai", "https://api.openai.com/v1", "cloud", "OPENAI_API_KEY", "openai"),
        _row(
            "anthropic",
            "anthropic",
            "https://api.anthropic.com",
            "cloud",
            "ANTHROPIC_API_KEY",
            "anthropic",
        ),
        _row(
            "gemini",
            "gemini",
            "https://generativelanguage.googleapis.com/v1beta",
            "cloud",
            "GEMINI_API_KEY",
            "google",
        ),
        _row(
            "deepseek",
            "openai",
            "https://api.deepseek.com/v1",
            "cloud",
            "DEEPSEEK_API_KEY",
            "deepseek",
        ),
        _row("groq", "openai", "https://api.groq.com/openai/v1", "cloud", "GROQ_API_KEY", "groq"),
        _row(
            "openrouter",
            "openai",
            "https://openrouter.ai/api/v1",
            "cloud",
            "OPENROUTER_API_KEY",
            "openrouter",
        ),
        _row(
            "together",
            "openai",
            "https://api.together.xyz/v1",
            "cloud",
            "TOGETHER_API_KEY",
            "together",
        ),
        _row(
            "mistral", "openai", "https://api.mistral.ai/v1", "cloud", "MISTRAL_API_KEY", "mistral"
        ),
        _row("ollama", "openai", "http://localhost:11434/v1", "local", None, None),
        _row("vllm", "openai", "http://localhost:8000/v1", "local", None, None),
        _row("llama-server", "openai", "http://localhost:8080/v1", "local", None, None),
        _row("lmstudio", "openai", "http://localhost:1234/v1", "local", None, None),
        # In-process GGUF through llama-cpp-python (`hybridllm[local]`): no URL, no key.
        _row("llamacpp", "llamacpp", "", "local", None, None),
    ]
)
