"""Retention: delete ledger rows older than a cutoff, in small batches.

Each batch is its own short transaction, so the gateway's writer (and other replicas) are never
held up for long behind one huge ``DELETE``. Works with any store that has ``delete_before``
(both :class:`~hybridllm.ledger.sqlite.SqliteStore` and
:class:`~hybridllm.ledger.postgres.PostgresStore` do).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["DeletesBefore", "delete_older_than"]


class DeletesBefore(Protocol):
    def delete_before(self, cutoff_ts: float, limit: int) -> int:
        """Delete at most ``limit`` rows with ``ts < cutoff_ts`` in one transaction; the count."""


def delete_older_than(store: DeletesBefore, cutoff_ts: float, batch_size: int = 5_000) -> int:
    """Delete every row with ``ts < cutoff_ts``, ``batch_size`` rows per transaction.

    Returns how many rows were deleted. Rows written meanwhile with a newer ``ts`` are untouched.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    total = 0
    while True:
        n = store.delete_before(cutoff_ts, batch_size)
        total += n
        if n < batch_size:
            return total
