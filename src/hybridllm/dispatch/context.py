"""What an adapter may know about the attempt it serves, without widening its contract.

Dispatch sets :data:`ATTEMPT` before each call to an in-process deployment (its wire is in
:data:`IN_PROCESS_WIRES`): llama.cpp reads it to decide whether a request may spill to the next
deployment instead of queueing (a private request waits). HTTP adapters never read it, so their
calls skip it (it is on every request's path).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["ATTEMPT", "IN_PROCESS_WIRES", "AttemptInfo"]

IN_PROCESS_WIRES = frozenset({"llamacpp"})


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    request_id: str
    route: str
    private: bool
    max_queue_wait: float | None  # seconds a request may wait for a local slot before spilling
    has_next: bool  # another deployment is left in the chain to spill to


ATTEMPT: ContextVar[AttemptInfo | None] = ContextVar("hybridllm_attempt", default=None)
