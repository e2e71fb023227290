"""Shared state of several gateway replicas (``state: redis://...``).

:class:`hybridllm.state.shared.RedisSharedState` keeps breakers, cool-downs, rate limits, budget
counters and alert de-duplication in Redis; ``memory`` (the default) keeps them in the process.
This package imports nothing heavy: the Redis modules load only when ``state:`` names Redis.
See docs/deploy.md.
"""

from hybridllm.errors import SharedStateUnavailableError

__all__ = ["SharedStateUnavailableError"]
