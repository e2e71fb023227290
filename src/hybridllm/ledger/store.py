"""The one interface every ledger store implements (SQLite now, Postgres later).

Every method blocks: stores are used from the :class:`~hybridllm.ledger.writer.LedgerWriter`'s
thread or from CLI code, never on the event loop. A store object is used by one thread at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from hybridllm.ledger.row import LedgerRow

__all__ = ["LedgerStore"]


class LedgerStore(Protocol):
    def migrate(self) -> None:
        """Apply the migrations not yet applied, in order. Running it again is a no-op."""

    def write_many(self, rows: Sequence[LedgerRow]) -> None:
        """Insert ``rows`` in one transaction; a ``(request_id, attempt)`` already stored is
        skipped. When this returns, the rows are committed; when it raises, none are."""

    def rows(self, since: float | None = None, until: float | None = None) -> Iterator[LedgerRow]:
        """Rows with ``since <= ts < until``, ordered by ``(ts, request_id, attempt)``."""

    def count(self) -> int:
        """How many rows are stored."""

    def integrity_check(self) -> list[str]:
        """Problems the database reports about itself; empty when it is sound."""

    def close(self) -> None:
        """Release the connection. Idempotent."""
