"""The batched background writer: ledger rows leave the request path at once, and are committed
by one daemon thread with its own store connection.

How a row travels::

    submit(row) -> seq            the event loop: a lock held for a deque append, then a wake-up
    thread: take up to batch_size pending rows, write_many() them in one transaction
    committed watermark = seq     every row with a smaller or equal seq is committed too
    wait_durable(seq) resolves    through loop.call_soon_threadsafe, on the waiter's own loop

Batching (group commit): the thread waits at most ``flush_interval`` after the first pending row
for a batch to fill, unless somebody is waiting on a pending row (``wait_durable`` or ``flush``):
then it commits at once. Rows that arrive while a batch is being committed go into the next batch,
so at a high rate of requests one commit carries many rows, and at a low rate nobody waits.

With a spool (:mod:`hybridllm.ledger.spool`, the SQLite ledger on a file), ``submit`` also
appends the row to a spool file, which makes it crash-safe at once: ``wait_durable`` returns
without waiting for a commit, and the thread commits in full batches. Segments of the spool whose
rows are all committed are deleted; a process that dies leaves its segments to be replayed by the
next process that opens the ledger.

Housekeeping (``store.maintain``, a WAL checkpoint for SQLite) runs when no row has arrived for
``idle_after`` seconds, or as the store decides under sustained load, never inside a commit that
replies wait for.

Failures: a batch whose write raises is put back at the head of the queue, the error is logged
(its type and message, a row count and a sequence range, never row values), and the write is
retried with full-jitter exponential backoff. Rows are never dropped while the writer runs; only
``close()`` with a timeout gives up on rows that still cannot be written, and says how many.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import heapq
import itertools
import logging
import os
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hybridllm.ledger.row import LedgerRow
from hybridllm.ledger.spool import Spool
from hybridllm.ledger.store import LedgerStore
from hybridllm.redact import redact

__all__ = ["LedgerWriter", "LedgerWriterClosedError", "WriterStats"]

log = logging.getLogger("hybridllm.ledger")

# How much less CPU priority the writer's thread has than the request path (see _lower_priority).
WRITER_NICENESS = 5


class LedgerWriterClosedError(RuntimeError):
    """The writer is closed: the row was not accepted, or was never committed."""


@dataclass(frozen=True, slots=True)
class WriterStats:
    submitted: int  # rows accepted by submit()
    committed: int  # rows in committed batches (a duplicate the store ignored counts too)
    batches: int  # committed transactions
    failed_batches: int  # write attempts that raised (each retried)
    pending: int  # rows submitted and not committed yet
    dropped: int = 0  # rows close() gave up on because the store kept failing


_Waiter = tuple[int, int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class LedgerWriter:
    """Owns one daemon thread that commits submitted rows in batches. Thread-safe."""

    def __init__(
        self,
        store_factory: Callable[[], LedgerStore],
        *,
        batch_size: int = 256,
        flush_interval: float = 0.05,
        retry_initial: float = 0.05,
        retry_max: float = 5.0,
        spool: Spool | None = None,
        idle_after: float = 0.5,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if flush_interval < 0 or retry_initial <= 0 or retry_max < retry_initial:
            raise ValueError("flush_interval >= 0 and 0 < retry_initial <= retry_max are required")
        self._factory = store_factory
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._spool = spool
        self._idle_after = idle_after
        self._maintenance_due = False  # a commit happened since the last maintain(idle=True)

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the writer's thread waits on it
        self._done = threading.Condition(self._lock)  # flush() waits on it
        self._pending: deque[tuple[int, LedgerRow]] = deque()
        self._oldest_pending_at = 0.0  # monotonic time the pending queue last became non-empty
        self._next_seq = 1
        self._committed_seq = 0  # the watermark: every seq <= this is committed
        self._spooled_seq = 0  # every seq <= this is in the spool (crash-safe, not committed)
        self._wanted_seq = 0  # the highest seq a wait_durable() or flush() is waiting for
        self._waiters: list[_Waiter] = []  # a heap by seq
        self._tiebreak = itertools.count()
        self._closing = False  # close() was called: commit what is pending, then stop
        self._abandon = False  # close() timed out: stop now
        self._closed = False
        self._thread: threading.Thread | None = None
        self._committed = 0
        self._batches = 0
        self._failed_batches = 0
        self._dropped = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Open the store in the writer's thread, migrate it, and start committing.

        Raises whatever the store factory or the migration raised (a bad path, a newer schema).
        """
        with self._lock:
            if self._closed or self._closing:
                raise LedgerWriterClosedError("the ledger writer is closed")
            if self._thread is not None:
                return
            ready = threading.Event()
            failure: list[BaseException] = []
            thread = self._thread = threading.Thread(
                target=self._run,
                args=(ready, failure),
                name="hybridllm-ledger-writer",
                daemon=True,
            )
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            with self._lock:
                self._thread = None
            raise failure[0]
        atexit.register(self.close)

    def close(self, timeout: float | None = 30.0) -> None:
        """Commit everything submitted, stop the thread and close its store. Idempotent.

        If the store keeps failing for ``timeout`` seconds, the rows still pending are given up
        (logged with their count, counted in ``stats().dropped``) so that shutdown cannot hang.
        """
        with self._lock:
            if self._closed:
                return
            self._closing = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                with self._lock:
                    self._abandon = True
                    self._wake.notify_all()
                thread.join(timeout)
        with self._lock:
            self._closed = True
            lost = len(self._pending)
            self._dropped += lost
            self._pending.clear()
            waiters, self._waiters = self._waiters, []
            self._done.notify_all()
            spool, self._spool = self._spool, None
        if spool is not None:
            # Rows the store would not take stay in the spool: the next process replays them.
            spool.close(delete=lost == 0)
        if lost:
            kept = " (they stay in the spool for the next start)" if spool is not None else ""
            log.error("ledger writer closed with %d rows it could not commit%s", lost, kept)
        for _, _, loop, future in waiters:
            _resolve(loop, future, LedgerWriterClosedError("the ledger writer closed first"))
        atexit.unregister(self.close)

    # -- the request path ------------------------------------------------------------------

    def submit(self, row: LedgerRow) -> int:
        """Queue ``row`` and return its sequence number. Never blocks on I/O."""
        with self._lock:
            if self._closing or self._closed:
                raise LedgerWriterClosedError("the ledger writer is closed")
            seq = self._next_seq
            self._next_seq += 1
            if self._spool is not None:
                self._append_to_spool(seq, row)
            was_empty = not self._pending
            if was_empty:
                self._oldest_pending_at = time.monotonic()
            self._pending.append((seq, row))
            if was_empty or len(self._pending) >= self._batch_size:
                self._wake.notify()
        return seq

    async def wait_durable(self, seq: int) -> None:
        """Resolve once the row ``seq`` (and every row before it) is committed.

        Works from any event loop. Cancelling the wait (e.g. ``asyncio.wait_for``) is safe.
        Raises :class:`LedgerWriterClosedError` if the writer closes without committing it.
        """
        # Both watermarks only grow, and reading an int is atomic: no lock on the fast path (a
        # lock the writer's thread holds would cost the event loop a thread switch).
        if seq <= self._spooled_seq or seq <= self._committed_seq:
            return
        loop = asyncio.get_running_loop()
        with self._lock:
            if seq <= self._committed_seq:
                return
            if seq >= self._next_seq:
                raise ValueError(f"sequence number {seq} was never returned by submit()")
            if self._closed:
                raise LedgerWriterClosedError("the ledger writer closed first")
            future: asyncio.Future[None] = loop.create_future()
            heapq.heappush(self._waiters, (seq, next(self._tiebreak), loop, future))
            if seq > self._wanted_seq:
                self._wanted_seq = seq
                self._wake.notify()
        await future

    def flush(self, timeout: float | None = None) -> None:
        """Block until every row submitted so far is committed. Not for the event loop.

        Raises ``TimeoutError`` after ``timeout`` seconds, :class:`LedgerWriterClosedError` if the
        writer is closed before they are committed.
        """
        with self._lock:
            target = self._next_seq - 1
            if self._committed_seq >= target:
                return
            if self._thread is None or self._closed:
                raise LedgerWriterClosedError("the ledger writer is not running")
            self._wanted_seq = max(self._wanted_seq, target)
            self._wake.notify()
            if not self._done.wait_for(
                lambda: self._committed_seq >= target or self._closed, timeout
            ):
                raise TimeoutError(f"ledger rows not committed within {timeout} s")
            if self._committed_seq < target:
                raise LedgerWriterClosedError("the ledger writer closed first")

    def _append_to_spool(self, seq: int, row: LedgerRow) -> None:
        """Under the lock. A spool that fails (disk full) is closed, its files kept for the next
        start; from then on replies wait for their commit, as without a spool."""
        assert self._spool is not None
        try:
            self._spool.append(seq, row)
        except OSError as exc:
            log.error(
                "ledger spool write failed, replies now wait for their commit: %s", _describe(exc)
            )
            spool, self._spool = self._spool, None
            spool.close(delete=False)
            return
        self._spooled_seq = seq

    def stats(self) -> WriterStats:
        with self._lock:
            return WriterStats(
                submitted=self._next_seq - 1,
                committed=self._committed,
                batches=self._batches,
                failed_batches=self._failed_batches,
                pending=len(self._pending),
                dropped=self._dropped,
            )

    # -- the writer's thread ---------------------------------------------------------------

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        _lower_priority()
        try:
            store = self._factory()
            try:
                store.migrate()
                if self._spool is not None:
                    # After the store opened: opening replays the segments of dead processes.
                    self._spool.open()
            except BaseException:
                store.close()
                raise
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        ready.set()
        try:
            self._commit_loop(store)
        except BaseException:  # a bug here must not pass silently: rows would stop moving
            log.exception("ledger writer thread stopped")
            raise
        finally:
            try:
                store.close()
            except Exception as exc:
                log.error("closing the ledger store failed: %s", _describe(exc))

    def _commit_loop(self, store: LedgerStore) -> None:
        failures = 0
        maintain = getattr(store, "maintain", None)
        while (batch := self._next_batch()) is not None:
            if not batch:  # idle for idle_after since the last commit
                self._maintain(maintain, idle=True)
                continue
            try:
                store.write_many([row for _, row in batch])
            except Exception as exc:
                failures += 1
                delay = self._backoff(failures)
                with self._lock:
                    self._failed_batches += 1
                    self._pending.extendleft(reversed(batch))
                log.error(
                    "ledger write of %d rows (seq %d-%d) failed (try %d), retry in %.2fs: %s",
                    len(batch),
                    batch[0][0],
                    batch[-1][0],
                    failures,
                    delay,
                    _describe(exc),
                )
                with self._lock:
                    self._wake.wait_for(lambda: self._abandon, delay)
                continue
            if failures:
                log.warning("ledger writes recovered after %d failed attempts", failures)
                failures = 0
            self._mark_committed(batch[-1][0], len(batch))
            self._maintain(maintain, idle=False)

    @staticmethod
    def _maintain(maintain: Callable[..., None] | None, *, idle: bool) -> None:
        if maintain is not None:
            try:
                maintain(idle=idle)
            except Exception as exc:  # housekeeping must never stop rows from moving
                log.warning("ledger maintenance failed: %s", _describe(exc))

    def _next_batch(self) -> list[tuple[int, LedgerRow]] | None:
        """Wait for a batch worth committing now; None when the writer should stop, [] when it
        has been idle for ``idle_after`` since its last commit (time for housekeeping)."""
        with self._lock:
            while True:
                if self._abandon:
                    return None
                if not self._pending:
                    if self._closing:
                        return None
                    if self._maintenance_due:
                        if not self._wake.wait(self._idle_after) and not self._pending:
                            self._maintenance_due = False
                            return []
                    else:
                        self._wake.wait()
                    continue
                if (
                    self._closing
                    or len(self._pending) >= self._batch_size
                    or self._wanted_seq > self._committed_seq
                ):
                    break
                remaining = self._oldest_pending_at + self._flush_interval - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(remaining)
            n = min(self._batch_size, len(self._pending))
            return [self._pending.popleft() for _ in range(n)]

    def _mark_committed(self, seq: int, n: int) -> None:
        ready: list[_Waiter] = []
        done_segments: list[Path] = []
        with self._lock:
            self._committed_seq = seq
            self._committed += n
            self._batches += 1
            self._maintenance_due = True
            if self._spool is not None:
                done_segments = self._spool.release(seq)
            while self._waiters and self._waiters[0][0] <= seq:
                ready.append(heapq.heappop(self._waiters))
            self._done.notify_all()  # flush() callers
        # One wake-up per event loop for the whole batch, not one per waiter: at a high rate a
        # commit resolves many replies, and each call_soon_threadsafe is a write to the loop.
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for _, _, loop, future in ready:
            by_loop.setdefault(loop, []).append(future)
        for loop, futures in by_loop.items():
            _resolve_all(loop, futures)
        for path in done_segments:  # every row in them is committed
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def _backoff(self, failures: int) -> float:
        ceiling = min(self._retry_max, self._retry_initial * 2 ** min(failures - 1, 30))
        return random.uniform(self._retry_initial, ceiling)


def _lower_priority() -> None:
    """Give the calling thread (the writer) WRITER_NICENESS more niceness than the process
    (Linux: a thread has its own nice value). When the writer and the event loop want the same
    core, the loop goes first: a batch commit (a few ms of CPU at a high rate) no longer delays
    the replies in flight; the writer still gets a quarter of a contended core, several times
    what it needs (~10% of the gateway's CPU at its maximum rate), so rows cannot pile up.
    Elsewhere, or where it is refused, the thread keeps the process's priority."""
    if sys.platform != "linux" or WRITER_NICENESS <= 0:
        return
    try:
        tid = threading.get_native_id()
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, nice + WRITER_NICENESS))
    except OSError as exc:
        log.debug("ledger writer: could not lower its priority: %s", exc)


def _resolve(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[None], error: BaseException | None
) -> None:
    def settle() -> None:
        if future.done():  # cancelled by its waiter
            return
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)

    with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is left to tell
        loop.call_soon_threadsafe(settle)


def _resolve_all(loop: asyncio.AbstractEventLoop, futures: list[asyncio.Future[None]]) -> None:
    def settle() -> None:
        for future in futures:
            if not future.done():  # a done one was cancelled by its waiter
                future.set_result(None)

    with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is left to tell
        loop.call_soon_threadsafe(settle)


def _describe(exc: BaseException) -> str:
    return redact(f"{type(exc).__name__}: {exc}")[:300]
