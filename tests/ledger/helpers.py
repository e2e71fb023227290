"""Helpers shared by the ledger tests."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hybridllm.ledger import LedgerRow, SqliteStore

RowFactory = Callable[..., LedgerRow]


def build_row(i: int = 1, **overrides: Any) -> LedgerRow:
    fields: dict[str, Any] = {
        "request_id": f"req-{i:06d}",
        "attempt": 1,
        "ts": 1_700_000_000.0 + i,
        "route": "default",
        "deployment": "local-llama",
        "provider": "ollama",
        "model": "llama3.2:3b",
        "tier": 1,
        "locality": "local",
        "cost_center": "research",
        "key_name": "team-a",
        "prompt_tokens": 120,
        "completion_tokens": 40,
        "cached_tokens": 0,
        "cost_usd": 0.0,
        "baseline_cost_usd": 0.0012,
        "latency_ms": 812.5,
        "ttft_ms": 95.25,
        "status": "ok",
        "error_class": None,
        "fallback_from": None,
        "streamed": False,
    }
    fields.update(overrides)
    return LedgerRow(**fields)


def count_rows(path: Path) -> int:
    """Count rows through a second, independent connection."""
    conn = sqlite3.connect(path)
    try:
        try:
            (n,) = conn.execute("SELECT COUNT(*) FROM ledger").fetchone()
        except sqlite3.OperationalError:  # table not created yet
            return 0
        return int(n)
    finally:
        conn.close()


class GatedStore:
    """A SqliteStore whose writes can be held at a gate; records each batch's size."""

    def __init__(self, path: Path, *, fail_times: int = 0) -> None:
        self.inner = SqliteStore(path)
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.batch_sizes: list[int] = []
        self.fail_times = fail_times

    def migrate(self) -> None:
        self.inner.migrate()

    def write_many(self, rows: Sequence[LedgerRow]) -> None:
        self.entered.set()
        if not self.gate.wait(10):
            raise AssertionError("gate never opened")
        if self.fail_times:
            self.fail_times -= 1
            raise sqlite3.OperationalError("database or disk is full")
        self.inner.write_many(rows)
        self.batch_sizes.append(len(rows))

    def rows(self, since: float | None = None, until: float | None = None) -> Iterator[LedgerRow]:
        return self.inner.rows(since, until)

    def count(self) -> int:
        return self.inner.count()

    def integrity_check(self) -> list[str]:
        return self.inner.integrity_check()

    def close(self) -> None:
        self.inner.close()
