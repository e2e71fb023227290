"""Errors in the caller's protocol envelope, and the status each error class answers with.

Two envelopes, picked by the route the caller used::

    OpenAI     {"error": {"message": ..., "type": ..., "code": ..., "param": null}}
    Anthropic  {"type": "error", "error": {"type": ..., "message": ...}}

:class:`GatewayError` is the gateway's own caller error (bad body, bad hint, unknown model, no
key); every :class:`~hybridllm.errors.HybridLLMError` from the engine maps through
:func:`from_engine_error`. Messages are redacted once more on the way out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import orjson

from hybridllm.errors import (
    BudgetExceededError,
    HybridLLMError,
    LocalRateLimitedError,
    NoDeploymentError,
    ProviderError,
    RateLimitedError,
)
from hybridllm.redact import redact

__all__ = [
    "Flavor",
    "GatewayError",
    "anthropic_error_type",
    "error_body",
    "error_headers",
    "from_engine_error",
]


class Flavor(Enum):
    """Which protocol the caller speaks: it picks the error envelope and the stream format."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"


_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_type(status: int) -> str:
    return _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


@dataclass(slots=True)
class GatewayError(Exception):
    """An error answered to the caller: status, OpenAI ``type`` and ``code``, message."""

    status: int
    message: str
    error_type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None

    def __str__(self) -> str:
        return self.message


def _retry_after_of(errors: list[ProviderError]) -> float | None:
    known = [e.retry_after for e in errors if e.retry_after is not None]
    return min(known) if known else None


def from_engine_error(exc: HybridLLMError) -> GatewayError:
    """The answer for an engine error: its class's status, 429s with Retry-After when known."""
    status = exc.http_status
    retry_after = exc.retry_after if isinstance(exc, ProviderError | BudgetExceededError) else None
    if isinstance(exc, NoDeploymentError) and exc.attempts:
        limited = (RateLimitedError, LocalRateLimitedError)
        if all(isinstance(e, limited) for e in exc.attempts):
            status, retry_after = 429, _retry_after_of(exc.attempts)
    return GatewayError(
        status=status,
        message=exc.message,
        error_type=exc.error_type,
        code=exc.error_type if status != 400 else None,
        retry_after=retry_after,
    )


def error_body(flavor: Flavor, err: GatewayError) -> bytes:
    message = redact(err.message)
    if flavor is Flavor.ANTHROPIC:
        return orjson.dumps(
            {
                "type": "error",
                "error": {"type": anthropic_error_type(err.status), "message": message},
            }
        )
    return orjson.dumps(
        {
            "error": {
                "message": message,
                "type": err.error_type,
                "param": err.param,
                "code": err.code,
            }
        }
    )


def error_headers(err: GatewayError) -> dict[str, str]:
    if err.retry_after is None:
        return {}
    return {"retry-after": str(max(1, math.ceil(err.retry_after)))}
