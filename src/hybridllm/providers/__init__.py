"""Provider adapters: one per wire format (OpenAI, Anthropic, Gemini), chosen by ``adapter_for``.

Adapters are stateless; one instance per wire format serves every deployment and request. The
in-process ``llamacpp`` adapter is the exception: it holds the models it has loaded (and imports
llama-cpp-python only when it loads the first one). The
adapter modules import :class:`~hybridllm.config.models.Deployment` for typing only, so importing
this package from the config module does not loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hybridllm.providers.anthropic import AnthropicAdapter
from hybridllm.providers.gemini import GeminiAdapter
from hybridllm.providers.llamacpp import LlamaCppAdapter
from hybridllm.providers.openai import OpenAIAdapter

if TYPE_CHECKING:
    from hybridllm.providers.base import Adapter

__all__ = ["AnthropicAdapter", "GeminiAdapter", "LlamaCppAdapter", "OpenAIAdapter", "adapter_for"]

_ADAPTERS: dict[str, Adapter] = {
    "openai": OpenAIAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
    "llamacpp": LlamaCppAdapter(),
}


def adapter_for(wire: str) -> Adapter:
    """The adapter of a wire format (``Deployment.wire``): openai, anthropic, gemini, llamacpp."""
    try:
        return _ADAPTERS[wire]
    except KeyError:
        known = ", ".join(sorted(_ADAPTERS))
        raise ValueError(f"unknown wire format '{wire}'; known: {known}") from None
