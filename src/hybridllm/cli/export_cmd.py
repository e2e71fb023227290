"""``hybridllm export``: the ledger as JSON Lines, one object per attempt."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hybridllm.cli.common import err_console, fail, load_router
from hybridllm.errors import HybridLLMError
from hybridllm.ledger import export_jsonl, open_store
from hybridllm.report.since import parse_since

__all__ = ["run_export"]


def run_export(since: str | None, out: Path | None, ledger: str | None) -> None:
    try:
        start = parse_since(since, time.time()) if since else None
        url = ledger if ledger is not None else load_router().config.ledger
        store = open_store(url)
    except HybridLLMError as exc:
        fail(exc)
    try:
        count = export_jsonl(store, out if out is not None else sys.stdout.buffer, since=start)
    finally:
        store.close()
    if out is not None:
        err_console.print(f"wrote {count} rows to {out}")
