"""What the runtime does with answered requests when ``learning.record`` (or a judge) is on.

:class:`Learning` is created by :class:`~hybridllm.runtime.Runtime` only when the config asks
for it: with ``learning`` off the request path holds one ``is None`` test. When on, each answered
request costs the event loop a queue append (:class:`~hybridllm.learned.recorder.FeatureRecorder`
computes the features in its own thread), and a sampled cheap answer starts a judge task.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from hybridllm.learned.judge import JUDGE_COST_CENTER, Judge
from hybridllm.learned.recorder import FeatureRecorder
from hybridllm.ledger import open_store
from hybridllm.ledger.open import sqlite_path

if TYPE_CHECKING:
    from hybridllm.dispatch.result import Completion, StreamMeta
    from hybridllm.router import Plan
    from hybridllm.runtime import Runtime

__all__ = ["Learning"]

log = logging.getLogger("hybridllm.learning")


def _in_memory(url: str) -> bool:
    return url.startswith("sqlite://") and sqlite_path(url) == ":memory:"


class Learning:
    def __init__(self, runtime: Runtime) -> None:
        config = runtime.router.config
        url = runtime.ledger_url
        self.tiers = {name: d.tier for name, d in config.deployments.items()}
        self.recorder: FeatureRecorder | None = None
        if config.learning.record and _in_memory(url):
            log.warning("learning.record needs a file or Postgres ledger: nothing is recorded")
        elif config.learning.record:
            self.recorder = FeatureRecorder(lambda: open_store(url))
        self.judge: Judge | None = None
        if config.learning.judge is not None and self.recorder is not None:
            self.judge = Judge(runtime, config.learning.judge, self.recorder.add_feedback)

    async def start(self) -> Learning:
        if self.recorder is not None:
            await asyncio.to_thread(self.recorder.start)
        return self

    def observe(self, plan: Plan, done: Completion) -> None:
        """An answered (non-streaming) request: record it, perhaps judge it."""
        features = done.decision.features
        if self.recorder is None or features.cost_center == JUDGE_COST_CENTER:
            return
        try:
            self._observe(plan, done)
        except Exception:  # learning is best effort: it must never fail the request
            log.exception("recording request %s for learning failed", done.request_id)

    def _observe(self, plan: Plan, done: Completion) -> None:
        assert self.recorder is not None
        features = done.decision.features
        tier = self.tiers[done.deployment]
        ts = min((r.ts for r in done.rows), default=0.0)
        self.recorder.record(
            done.request_id,
            ts,
            tier,
            done.deployment,
            features.last_user,
            features.system_text,
            private=done.decision.private,
        )
        if self.judge is not None:
            self.judge.consider(plan, done, tier)

    def observe_stream(self, meta: StreamMeta) -> None:
        """A stream that ended cleanly: record it (streams are never judged)."""
        features = meta.decision.features
        if (
            self.recorder is None
            or meta.deployment is None
            or features.cost_center == JUDGE_COST_CENTER
        ):
            return
        self.recorder.record(
            meta.request_id,
            min((r.ts for r in meta.rows), default=0.0),
            self.tiers[meta.deployment],
            meta.deployment,
            features.last_user,
            features.system_text,
            private=meta.decision.private,
        )

    async def close(self) -> None:
        if self.judge is not None:
            await self.judge.close()
        if self.recorder is not None:
            await asyncio.to_thread(self.recorder.close)
