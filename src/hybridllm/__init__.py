"""hybridllm: send every LLM request to the cheapest model that does it well, and prove it."""

from hybridllm.errors import HybridLLMError
from hybridllm.features.extract import Hints
from hybridllm.policy.decision import Decision
from hybridllm.router import Router
from hybridllm.types import ChatRequest, ChatResponse, Message

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "Decision",
    "Hints",
    "HybridLLMError",
    "Message",
    "Router",
]
__version__ = "0.1.0"
