"""Recording what ``hybridllm learn`` trains on, off the request path.

The event loop only appends to a bounded queue (a lock held for a deque append); one daemon
thread computes each request's features (:func:`~hybridllm.learned.record.featurize`, ~0.1 ms)
and commits them in batches to ``request_features``, with the judge's scores to ``feedback``,
over a store connection of its own. Learning data is best effort: when the queue is full the
request is not recorded (counted in ``stats().dropped``), and a batch whose write fails is logged
and dropped, never retried forever; the ledger rows themselves go through the
:class:`~hybridllm.ledger.LedgerWriter` as before.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from hybridllm.learned.record import featurize
from hybridllm.ledger.learning import FeatureRow, Feedback, learning_store
from hybridllm.ledger.store import LedgerStore
from hybridllm.redact import redact

__all__ = ["FeatureRecorder", "RecorderStats"]

log = logging.getLogger("hybridllm.learning")


class _Request(NamedTuple):  # a tuple: the cheapest thing to build on the event loop
    request_id: str
    ts: float
    tier: int
    deployment: str
    text: str
    system: str
    private: bool


@dataclass(frozen=True, slots=True)
class RecorderStats:
    recorded: int  # feature rows committed
    feedback: int  # judge scores committed
    dropped: int  # not recorded: the queue was full, or the write failed
    pending: int


class FeatureRecorder:
    """One daemon thread that turns queued requests into ``request_features`` rows."""

    def __init__(
        self,
        store_factory: Callable[[], LedgerStore],
        *,
        max_pending: int = 10_000,
        max_pending_chars: int = 64 * 1024 * 1024,
        batch_size: int = 256,
        flush_interval: float = 0.5,
    ) -> None:
        self._factory = store_factory
        self._max_pending = max_pending
        self._max_chars = max_pending_chars  # queued prompt text is held in memory: bounded
        self._chars = 0
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._pending: deque[_Request | Feedback] = deque()
        self._busy = False
        self._urgent = False  # a flush() waits: write at once, do not let a batch fill
        self._closing = False
        self._thread: threading.Thread | None = None
        self._recorded = self._feedback = self._dropped = 0

    def start(self) -> None:
        """Open the store in the recorder's thread and start. Raises what opening raised."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name="hybridllm-learning", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]

    # -- the request path ----------------------------------------------------------------------

    def record(
        self,
        request_id: str,
        ts: float,
        tier: int,
        deployment: str,
        text: str,
        system: str = "",
        *,
        private: bool = False,
    ) -> bool:
        """Queue one answered request; False (and counted as dropped) when the queue is full."""
        return self._put(_Request(request_id, ts, tier, deployment, text, system, private))

    def add_feedback(self, feedback: Feedback) -> bool:
        return self._put(feedback)

    def _put(self, item: _Request | Feedback) -> bool:
        size = len(item.text) + len(item.system) if isinstance(item, _Request) else 0
        with self._lock:
            if (
                self._closing
                or self._thread is None
                or len(self._pending) >= self._max_pending
                or self._chars + size > self._max_chars
            ):
                self._dropped += 1
                return False
            self._chars += size
            self._pending.append(item)
            if len(self._pending) == 1 or len(self._pending) >= self._batch_size:
                self._wake.notify()
        return True

    # -- control -------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is written (or dropped). Not for the event loop."""
        with self._lock:
            self._urgent = True
            self._wake.notify()
            try:
                return self._idle.wait_for(lambda: not self._pending and not self._busy, timeout)
            finally:
                self._urgent = False

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread. Idempotent."""
        with self._lock:
            self._closing = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("the learning recorder did not finish within %.0f s", timeout)

    def stats(self) -> RecorderStats:
        with self._lock:
            return RecorderStats(self._recorded, self._feedback, self._dropped, len(self._pending))

    # -- the recorder's thread -----------------------------------------------------------------

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            store = self._factory()
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        ready.set()
        try:
            tables = learning_store(store)
            while (batch := self._next_batch()) is not None:
                rows = [_row(item) for item in batch if isinstance(item, _Request)]
                scores = [item for item in batch if isinstance(item, Feedback)]
                try:
                    tables.write_features(rows)
                    for fb in scores:
                        tables.add_feedback(fb)
                except Exception as exc:
                    log.error(
                        "learning data: %d rows not written: %s",
                        len(batch),
                        redact(f"{type(exc).__name__}: {exc}")[:300],
                    )
                    with self._lock:
                        self._dropped += len(batch)
                else:
                    with self._lock:
                        self._recorded += len(rows)
                        self._feedback += len(scores)
                with self._lock:
                    self._busy = False
                    self._idle.notify_all()
        finally:
            store.close()
            with self._lock:
                self._busy = False
                self._pending.clear()
                self._chars = 0
                self._idle.notify_all()

    def _next_batch(self) -> list[_Request | Feedback] | None:
        with self._lock:
            while not self._pending:
                if self._closing:
                    return None
                self._wake.wait()
            if not (self._closing or self._urgent) and len(self._pending) < self._batch_size:
                self._wake.wait(self._flush_interval)  # let a batch fill (flush() wakes it)
            n = min(self._batch_size, len(self._pending))
            self._busy = True
            batch = [self._pending.popleft() for _ in range(n)]
            self._chars -= sum(
                len(i.text) + len(i.system) for i in batch if isinstance(i, _Request)
            )
            return batch


def _row(item: _Request) -> FeatureRow:
    record = featurize(item.text, item.system or None, ngrams=not item.private)
    return FeatureRow(item.request_id, item.ts, item.tier, item.deployment, record.encode())
