"""What an adapter may know about the attempt it serves, without widening its contract.

Dispatch sets :data:`ATTEMPT` around each call. In-process adapters (llama.cpp) read it to decide
whether a request may spill to the next deployment instead of queueing: a private request waits.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["ATTEMPT", "AttemptInfo"]


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    request_id: str
    route: str
    private: bool
    max_queue_wait: float | None  # seconds a request may wait for a local slot before spilling
    has_next: bool  # another deployment is left in the chain to spill to


ATTEMPT: ContextVar[AttemptInfo | None] = ContextVar("hybridllm_attempt", default=None)
