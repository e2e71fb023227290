"""The ledger: one row per attempt, batched off the request path into a store.

- :class:`LedgerRow` (``row``): the row.
- :class:`LedgerStore` (``store``): the interface; :class:`SqliteStore` (``sqlite``) the default.
- :func:`open_store` (``open``): a store from its URL.
- :class:`LedgerWriter` (``writer``): the background thread that commits rows in batches.
- :func:`export_jsonl` (``export``): the rows as JSON Lines.
"""

from __future__ import annotations

from hybridllm.ledger.export import export_jsonl
from hybridllm.ledger.open import open_store
from hybridllm.ledger.row import COLUMNS, LedgerRow, Status
from hybridllm.ledger.sqlite import SqliteStore
from hybridllm.ledger.store import LedgerStore
from hybridllm.ledger.writer import LedgerWriter, LedgerWriterClosedError, WriterStats

__all__ = [
    "COLUMNS",
    "LedgerRow",
    "LedgerStore",
    "LedgerWriter",
    "LedgerWriterClosedError",
    "SqliteStore",
    "Status",
    "WriterStats",
    "export_jsonl",
    "open_store",
]
