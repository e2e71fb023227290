"""The one exception tree of hybridllm.

Whether an error moves dispatch on to the next deployment (``fallback``), counts against a
deployment's circuit breaker (``breaker_failure``), or is the caller's own fault, is a property of
its class, never an ``if`` elsewhere::

    HybridLLMError
    ├── ConfigError                 bad config file (exit code 2); names file, line and key
    ├── UsageError                  bad CLI argument, request or workload file (exit code 2)
    ├── RoutingError                no rule matched and no default route
    ├── NoDeploymentError           nothing left to try (privacy, all failed, all skipped): 503
    ├── BudgetExceededError         a budget with action ``reject`` is spent: 429
    ├── SharedStateUnavailableError budgets cannot be checked (Redis down, fail closed): 503
    └── ProviderError               one attempt at one deployment failed
        ├── UpstreamConnectionError connect refused / reset / DNS              fallback, failure
        ├── UpstreamTimeoutError    first token, idle or total timeout          fallback, failure
        ├── RateLimitedError        429 (retry_after honoured)                  fallback, failure
        ├── ServerError             5xx and 529 overloaded                      fallback, failure
        ├── AuthError               401 / 403 from upstream (logged loudly)     fallback, failure
        ├── ContextWindowError      prompt too long for the model               fallback, no failure
        ├── BadRequestError         400 / 404 / 422: the request itself         to the caller
        ├── StreamBrokenError       malformed chunk or missing final event      after first byte
        ├── CircuitOpenError        breaker open, no call made                  fallback, no failure
        └── LocalRateLimitedError   our own rpm/tpm limit, no call made         fallback, no failure

Messages never contain an API key: :func:`hybridllm.redact.redact` is applied to every upstream
text before it lands in an exception.
"""

from __future__ import annotations

from hybridllm.redact import redact

__all__ = [
    "AuthError",
    "BadRequestError",
    "BudgetExceededError",
    "CircuitOpenError",
    "ConfigError",
    "ContextWindowError",
    "HybridLLMError",
    "LocalRateLimitedError",
    "NoDeploymentError",
    "ProviderError",
    "RateLimitedError",
    "RoutingError",
    "ServerError",
    "SharedStateUnavailableError",
    "StreamBrokenError",
    "UpstreamConnectionError",
    "UpstreamTimeoutError",
    "UsageError",
    "error_for_status",
]


class HybridLLMError(Exception):
    """Base of every error hybridllm raises on purpose."""

    http_status: int = 500
    error_type: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(HybridLLMError):
    """The config file is wrong. ``where`` is ``file:line`` (line may be absent), ``key`` a path."""

    error_type = "config_error"

    def __init__(
        self, message: str, *, file: str = "", line: int | None = None, key: str = ""
    ) -> None:
        self.file = file
        self.line = line
        self.key = key
        where = file + (f":{line}" if line is not None else "")
        prefix = ", ".join(p for p in (where, f"key '{key}'" if key else "") if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class UsageError(HybridLLMError):
    """A bad CLI argument, request body or workload file: the caller's fault."""

    http_status = 400
    error_type = "invalid_request_error"


class RoutingError(HybridLLMError):
    http_status = 500
    error_type = "routing_error"


class NoDeploymentError(HybridLLMError):
    """Nothing is left to try. ``attempts`` holds the errors of the attempts that were made."""

    http_status = 503
    error_type = "no_deployment_available"

    def __init__(self, message: str, attempts: list[ProviderError] | None = None) -> None:
        self.attempts = attempts or []
        super().__init__(message)


class BudgetExceededError(HybridLLMError):
    """A budget with action ``reject`` is spent. ``retry_after``: seconds until it resets."""

    http_status = 429
    error_type = "budget_exceeded"
    retry_after: float | None = None


class SharedStateUnavailableError(HybridLLMError):
    """The shared state store (Redis) is unreachable: budgets cannot be checked."""

    http_status = 503
    error_type = "shared_state_unavailable"


class ProviderError(HybridLLMError):
    """One attempt failed. Class attributes say what dispatch does with it."""

    fallback: bool = True
    breaker_failure: bool = True
    error_type = "upstream_error"
    http_status = 502

    def __init__(
        self,
        message: str,
        *,
        deployment: str = "",
        status: int | None = None,
        provider_type: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.deployment = deployment
        self.status = status
        self.provider_type = provider_type
        self.retry_after = retry_after
        super().__init__(message)

    @property
    def error_class(self) -> str:
        """The short name stored in the ledger's ``error_class`` column."""
        return type(self).__name__


class UpstreamConnectionError(ProviderError):
    error_type = "upstream_connection_error"


class UpstreamTimeoutError(ProviderError):
    error_type = "upstream_timeout"
    http_status = 504


class RateLimitedError(ProviderError):
    error_type = "rate_limit_error"
    http_status = 429


class ServerError(ProviderError):
    error_type = "upstream_server_error"


class AuthError(ProviderError):
    error_type = "upstream_auth_error"


class ContextWindowError(ProviderError):
    breaker_failure = False
    error_type = "context_length_exceeded"
    http_status = 400


class BadRequestError(ProviderError):
    fallback = False
    breaker_failure = False
    error_type = "invalid_request_error"
    http_status = 400


class StreamBrokenError(ProviderError):
    error_type = "stream_error"


class CircuitOpenError(ProviderError):
    breaker_failure = False
    error_type = "circuit_open"
    http_status = 503


class LocalRateLimitedError(ProviderError):
    breaker_failure = False
    error_type = "rate_limited_locally"
    http_status = 429


_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "context length",
    "context window",
    "maximum context",
    "too many tokens",
    "prompt is too long",
    "input is too long",
    "exceeds the maximum number of tokens",
)


def error_for_status(
    status: int,
    message: str,
    *,
    deployment: str = "",
    provider_type: str | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """Map an upstream HTTP status (and the provider's error text) onto the tree."""
    lowered = message.lower() + " " + (provider_type or "").lower()
    cls: type[ProviderError]
    if status in (400, 413, 422) and any(m in lowered for m in _CONTEXT_MARKERS):
        cls = ContextWindowError
    elif status == 429:
        cls = RateLimitedError
    elif status in (401, 403):
        cls = AuthError
    elif status == 408:
        cls = UpstreamTimeoutError
    elif status >= 500:
        cls = ServerError
    elif 400 <= status < 500:
        cls = BadRequestError
    else:
        cls = ServerError
    err = cls(
        f"{deployment or 'upstream'} answered {status}: {message}",
        deployment=deployment,
        status=status,
        provider_type=provider_type,
        retry_after=retry_after,
    )
    if cls is BadRequestError:
        err.http_status = status
    return err
