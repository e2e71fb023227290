"""Prometheus metrics of the shared state, read from the live objects at scrape time.

    hybridllm_shared_state_up (gauge)                 1 while Redis answers, else 0
    hybridllm_shared_state_fallback (gauge)           component: breakers | rate_limits | budgets;
                                                      1 while it runs per process (or refuses)
    hybridllm_shared_state_errors_total (counter)     Redis calls that failed
    hybridllm_shared_state_outages_total (counter)    times the link went down
    hybridllm_budget_settles_pending (gauge)          settles queued for Redis's return

(The gateway's other metric names are in :mod:`hybridllm.server.metrics`.)
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hybridllm.state.shared import RedisSharedState

__all__ = ["SHARED_STATE_METRICS", "SharedStateCollector"]

UP = "hybridllm_shared_state_up"
FALLBACK = "hybridllm_shared_state_fallback"
ERRORS = "hybridllm_shared_state_errors"  # exposed with _total
OUTAGES = "hybridllm_shared_state_outages"
PENDING = "hybridllm_budget_settles_pending"
SHARED_STATE_METRICS = (UP, FALLBACK, ERRORS + "_total", OUTAGES + "_total", PENDING)


class SharedStateCollector(Collector):
    def __init__(self, shared: RedisSharedState) -> None:
        self.shared = shared

    def collect(self) -> Iterator[Metric]:
        st = self.shared.link.status()
        live = self.shared.sync.live
        yield GaugeMetricFamily(UP, "1 while the shared state (Redis) answers.", value=int(st.up))
        fallback = GaugeMetricFamily(
            FALLBACK,
            "1 while a component runs on per-process state (budgets: refused or unchecked).",
            labels=["component"],
        )
        fallback.add_metric(["breakers"], int(not live))
        fallback.add_metric(["rate_limits"], int(not st.up))
        fallback.add_metric(["budgets"], int(not st.up))
        yield fallback
        yield CounterMetricFamily(ERRORS, "Shared state calls that failed.", value=st.errors)
        yield CounterMetricFamily(OUTAGES, "Times the shared state went down.", value=st.outages)
        yield GaugeMetricFamily(
            PENDING, "Budget settles queued until Redis returns.", value=self.shared.budgets.pending
        )
