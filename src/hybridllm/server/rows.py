"""A ledger sink that feeds metrics from every row on its way to the ledger writer.

Dispatch has no metrics hooks; every attempt it makes becomes a ledger row, handed to its sink. The
gateway puts this tee in front of the runtime's writer, so the attempt, fallback, token and cost
metrics count the rows of failed requests too (a ``Completion`` only exists for answered ones).
"""

from __future__ import annotations

import logging

from hybridllm.dispatch.record import LedgerSink
from hybridllm.ledger.row import LedgerRow
from hybridllm.server.metrics import GatewayMetrics

__all__ = ["MetricsSink"]

log = logging.getLogger("hybridllm.server")


class MetricsSink:
    def __init__(self, inner: LedgerSink, metrics: GatewayMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def submit(self, row: LedgerRow) -> int:
        seq = self.inner.submit(row)
        try:
            self.metrics.row(row)
        except Exception:  # metrics must never fail a request
            log.exception("metrics: could not count a ledger row")
        return seq

    async def wait_durable(self, seq: int) -> None:
        await self.inner.wait_durable(seq)
