"""Export the ledger as JSON Lines: one object per row, keys = the LedgerRow field names."""

from __future__ import annotations

import os
from typing import IO

import msgspec

from hybridllm.ledger.store import LedgerStore

_encode = msgspec.json.Encoder().encode

__all__ = ["export_jsonl"]


def export_jsonl(
    store: LedgerStore,
    out: IO[bytes] | str | os.PathLike[str],
    since: float | None = None,
    until: float | None = None,
) -> int:
    """Write the rows with ``since <= ts < until`` to ``out`` (a binary file or a path).

    Returns how many rows were written. Rows stream from the store; a path is truncated first.
    """
    if isinstance(out, (str, os.PathLike)):
        with open(out, "wb") as f:
            return _write(store, f, since, until)
    return _write(store, out, since, until)


def _write(store: LedgerStore, out: IO[bytes], since: float | None, until: float | None) -> int:
    n = 0
    for row in store.rows(since, until):
        out.write(_encode(row) + b"\n")
        n += 1
    return n
