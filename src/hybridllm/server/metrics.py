"""Every Prometheus metric of the gateway: names here and nowhere else.

Dispatch has no metrics hooks: after each request the gateway derives everything from the
:class:`~hybridllm.dispatch.result.Completion` or :class:`~hybridllm.dispatch.result.StreamMeta`
rows (one per attempt). Label values are deployment and route names from the config, statuses,
error class names, and cost centers (bounded: config names pass, at most ``MAX_COST_CENTERS``
others, the rest are ``other``); never a key, a prompt or a URL.

With ``--workers N`` the gateway runs prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``); ``/metrics`` then sums every worker's files.

Counting is on the request path, so it is kept cheap: counter increments and the in-flight
gauge add into plain dicts (a dict update, no lock: the event loop is one thread), and
:meth:`GatewayMetrics.flush` applies them to the Prometheus objects, once per distinct label
set. ``/metrics`` flushes before it renders; in multiprocess mode each worker also flushes every
second (:data:`FLUSH_INTERVAL`), so a scrape served by another worker lags by at most that.
Histograms are observed directly (they need the value, not a sum).

Metric (type)                                   labels
hybridllm_requests_total (counter)              api, route, deployment, status (HTTP code)
hybridllm_attempts_total (counter)              deployment, status, error_class
hybridllm_fallbacks_total (counter)             route, from_deployment, to_deployment
                                                (an attempt after a failed one; not escalations)
hybridllm_escalations_total (counter)           route, from_deployment
hybridllm_breaker_state (gauge)                 deployment (0 closed, 1 half-open, 2 open)
hybridllm_in_flight_requests (gauge)            api
hybridllm_request_duration_seconds (histogram)  api, route, deployment
hybridllm_time_to_first_token_seconds (hist.)   api, route, deployment (streams)
hybridllm_tokens_total (counter)                deployment, route, cost_center, kind
hybridllm_cost_usd_total (counter)              deployment, route, cost_center
hybridllm_baseline_cost_usd_total (counter)     route, cost_center
hybridllm_savings_usd_total (counter)           route, cost_center
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from hybridllm.dispatch.breaker import Breaker, BreakerState
from hybridllm.ledger.row import LedgerRow

__all__ = [
    "ATTEMPTS",
    "BASELINE_COST",
    "BREAKER_STATE",
    "CONTENT_TYPE",
    "COST",
    "ESCALATIONS",
    "FALLBACKS",
    "IN_FLIGHT",
    "LATENCY",
    "METRIC_NAMES",
    "REQUESTS",
    "SAVINGS",
    "TOKENS",
    "TTFT",
    "GatewayMetrics",
]

REQUESTS = "hybridllm_requests_total"
ATTEMPTS = "hybridllm_attempts_total"
FALLBACKS = "hybridllm_fallbacks_total"
ESCALATIONS = "hybridllm_escalations_total"
BREAKER_STATE = "hybridllm_breaker_state"
IN_FLIGHT = "hybridllm_in_flight_requests"
LATENCY = "hybridllm_request_duration_seconds"
TTFT = "hybridllm_time_to_first_token_seconds"
TOKENS = "hybridllm_tokens_total"
COST = "hybridllm_cost_usd_total"
BASELINE_COST = "hybridllm_baseline_cost_usd_total"
SAVINGS = "hybridllm_savings_usd_total"
METRIC_NAMES = (
    REQUESTS,
    ATTEMPTS,
    FALLBACKS,
    ESCALATIONS,
    BREAKER_STATE,
    IN_FLIGHT,
    LATENCY,
    TTFT,
    TOKENS,
    COST,
    BASELINE_COST,
    SAVINGS,
)
CONTENT_TYPE = CONTENT_TYPE_LATEST
MAX_COST_CENTERS = 64
FLUSH_INTERVAL = 1.0  # seconds; multiprocess mode: how stale another worker's scrape may be
_BREAKER_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


def _counter_name(name: str) -> str:
    return name.removesuffix("_total")


class _Children:
    """A metric's labelled children, looked up once: ``labels()`` validates and locks on every
    call, a dict lookup does not. Label values are bounded (see the module docstring), so is
    this cache."""

    __slots__ = ("_cache", "_metric")

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._cache: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._cache.get(values)
        if child is None:
            child = self._cache[values] = self._metric.labels(*values)
        return child


class GatewayMetrics:
    """The metric objects of one app, in their own registry (tests run several apps at once)."""

    def __init__(self, known_cost_centers: Iterable[str] = ()) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            _counter_name(REQUESTS),
            "Gateway requests on the model routes, by outcome (HTTP status).",
            ["api", "route", "deployment", "status"],
            registry=r,
        )
        self.attempts = Counter(
            _counter_name(ATTEMPTS),
            "Upstream attempts (ledger rows), by deployment and row status.",
            ["deployment", "status", "error_class"],
            registry=r,
        )
        self.fallbacks = Counter(
            _counter_name(FALLBACKS),
            "Attempts made on a deployment after another one failed in the same request.",
            ["route", "from_deployment", "to_deployment"],
            registry=r,
        )
        self.escalations = Counter(
            _counter_name(ESCALATIONS),
            "Replies judged too weak and retried on the next deployment of the chain.",
            ["route", "from_deployment"],
            registry=r,
        )
        self.breaker = Gauge(
            BREAKER_STATE,
            "Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open.",
            ["deployment"],
            registry=r,
            multiprocess_mode="max",
        )
        self.in_flight = Gauge(
            IN_FLIGHT,
            "Requests being answered now.",
            ["api"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.latency = Histogram(
            LATENCY,
            "Time from request to the last byte of the answer.",
            ["api", "route", "deployment"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            TTFT,
            "Streams: time from request to the first chunk sent to the caller.",
            ["api", "route", "deployment"],
            buckets=_TTFT_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            _counter_name(TOKENS),
            "Tokens billed, by kind (prompt, completion, cached).",
            ["deployment", "route", "cost_center", "kind"],
            registry=r,
        )
        self.cost = Counter(
            _counter_name(COST),
            "Cost in USD of every attempt (unknown prices count 0).",
            ["deployment", "route", "cost_center"],
            registry=r,
        )
        self.baseline = Counter(
            _counter_name(BASELINE_COST),
            "What the answered requests would have cost on the baseline deployment.",
            ["route", "cost_center"],
            registry=r,
        )
        self.savings = Counter(
            _counter_name(SAVINGS),
            "Baseline cost minus actual cost, for requests whose both costs are known.",
            ["route", "cost_center"],
            registry=r,
        )
        self._requests = _Children(self.requests)
        self._attempts = _Children(self.attempts)
        self._fallbacks = _Children(self.fallbacks)
        self._escalations = _Children(self.escalations)
        self._latency = _Children(self.latency)
        self._ttft = _Children(self.ttft)
        self._tokens = _Children(self.tokens)
        self._cost = _Children(self.cost)
        self._baseline = _Children(self.baseline)
        self._savings = _Children(self.savings)
        self._in_flight = _Children(self.in_flight)
        # Pending increments: (children, label values) -> amount; api -> requests in flight.
        self._pending: defaultdict[tuple[_Children, tuple[str, ...]], float] = defaultdict(float)
        self._flying: dict[str, int] = {}
        self._known_centers = frozenset(known_cost_centers)
        self._other_centers: set[str] = set()
        self._previous: dict[str, str] = {}  # request id -> status of its last failed row

    # -- label hygiene -----------------------------------------------------------------------

    def cost_center_label(self, value: str | None) -> str:
        if value is None:
            return "none"
        if value in self._known_centers or value in self._other_centers:
            return value
        if len(self._other_centers) < MAX_COST_CENTERS:
            self._other_centers.add(value)
            return value
        return "other"

    # -- observations ------------------------------------------------------------------------

    def observe(
        self,
        api: str,
        route: str,
        deployment: str | None,
        status: int,
        seconds: float,
        cost_usd: float | None = None,
        baseline_usd: float | None = None,
        cost_center: str | None = None,
        ttft: float | None = None,
    ) -> None:
        """One request on a model route, when it is over. Attempts come from :meth:`row`."""
        dep = deployment or "none"
        pending = self._pending
        key: tuple[_Children, tuple[str, ...]] = (self._requests, (api, route, dep, str(status)))
        pending[key] += 1.0
        self._latency(api, route, dep).observe(seconds)
        if ttft is not None:
            self._ttft(api, route, dep).observe(ttft)
        if cost_usd is not None and baseline_usd is not None and baseline_usd > cost_usd:
            key = (self._savings, (route, self.cost_center_label(cost_center)))
            pending[key] += baseline_usd - cost_usd

    def enter(self, api: str) -> None:
        """A request on ``api`` starts (the in-flight gauge, set at the next flush)."""
        self._flying[api] = self._flying.get(api, 0) + 1

    def leave(self, api: str) -> None:
        self._flying[api] -= 1

    def flush(self) -> None:
        """Apply the pending increments and the in-flight counts to the Prometheus objects."""
        pending, self._pending = self._pending, defaultdict(float)
        for (children, values), amount in pending.items():
            children(*values).inc(amount)
        for api, flying in self._flying.items():
            self._in_flight(api).set(flying)

    def row(self, row: LedgerRow) -> None:
        """One attempt, as it is written to the ledger (failed requests' attempts included)."""
        dep, route, status = row.deployment, row.route, row.status
        pending = self._pending
        key: tuple[_Children, tuple[str, ...]] = (
            self._attempts,
            (dep, status, row.error_class or ""),
        )
        pending[key] += 1.0
        previous = self._previous.pop(row.request_id, None) if self._previous else None
        if row.fallback_from is not None and previous != "escalated":
            key = (self._fallbacks, (route, row.fallback_from, dep))
            pending[key] += 1.0
        if status == "error" or status == "escalated":  # another attempt may follow
            if len(self._previous) >= 4096:
                self._previous.clear()  # requests that ended in an error; a bound, not a leak
            self._previous[row.request_id] = status
        if status == "escalated":
            key = (self._escalations, (route, dep))
            pending[key] += 1.0
        if not (
            row.prompt_tokens or row.completion_tokens or row.cost_usd or row.baseline_cost_usd
        ):
            return
        cc = self.cost_center_label(row.cost_center)
        for kind, amount in (
            ("prompt", row.prompt_tokens),
            ("completion", row.completion_tokens),
            ("cached", row.cached_tokens),
        ):
            if amount:
                key = (self._tokens, (dep, route, cc, kind))
                pending[key] += amount
        if row.cost_usd:
            key = (self._cost, (dep, route, cc))
            pending[key] += row.cost_usd
        if row.baseline_cost_usd:
            key = (self._baseline, (route, cc))
            pending[key] += row.baseline_cost_usd

    def set_breakers(self, breakers: Mapping[str, Breaker]) -> dict[str, str]:
        """Refresh the breaker gauge; returns each deployment's state name."""
        states: dict[str, str] = {}
        for name, breaker in breakers.items():
            state = breaker.state
            states[name] = state.value
            self.breaker.labels(name).set(_BREAKER_VALUE[state])
        return states

    def exposition(self) -> bytes:
        self.flush()
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
