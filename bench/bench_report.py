"""Time ``hybridllm report`` over a 1,000,000-row ledger on SQLite and on Postgres.

    python bench/bench_report.py [--rows 1000000] [--pg postgresql://127.0.0.1/test]

Fills each ledger with ``bench/gen_ledger.py`` rows (once; a ledger already holding the rows is
reused), then times ``build_report`` for every ``--by`` over all 30 days and over the last 7 days.
Prints a table and writes ``bench/results/report.json``. Postgres rows go to the schema
``bench_report`` (created if missing); SQLite rows to ``--sqlite-path``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

from gen_ledger import fill

from hybridllm.ledger import open_store
from hybridllm.report import GROUP_BY, build_report

RESULTS = Path(__file__).parent / "results" / "report.json"
SCHEMA = "bench_report"
NOW = 1_780_000_000.0  # fixed, so the generated ledger (30 days before it) is reproducible


def ensure(url: str, rows: int) -> tuple[int, float | None]:
    """The ledger's row count, and the seconds spent filling it (None when reused)."""
    store = open_store(url)
    try:
        have = store.count()
    finally:
        store.close()
    if have >= rows:
        return have, None
    if have:
        raise SystemExit(f"{url} holds {have} rows, fewer than {rows}: empty it first")
    started = time.perf_counter()
    n = fill(url, rows, seed=1, now=NOW)
    return n, time.perf_counter() - started


def time_report(url: str, by: str, since: float | None, repeats: int) -> tuple[float, int]:
    store = open_store(url)
    try:
        runs = []
        requests = 0
        for _ in range(repeats):
            started = time.perf_counter()
            report = build_report(store, since, by, now=NOW)
            runs.append(time.perf_counter() - started)
            requests = report.total.requests
    finally:
        store.close()
    return statistics.median(runs), requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg", default="postgresql://127.0.0.1/test")
    parser.add_argument("--sqlite-path", default="/tmp/hybridllm-bench/ledger.db")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    sep = "&" if "?" in args.pg else "?"
    stores = {
        "sqlite": f"sqlite:///{os.path.abspath(args.sqlite_path)}",
        "postgres": f"{args.pg}{sep}options=-csearch_path%3D{SCHEMA}",
    }
    results: dict[str, object] = {
        "rows": args.rows,
        "machine": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
        },
        "stores": {},
    }
    table = Table(
        title=f"hybridllm report over {args.rows:,} ledger rows (median of {args.repeats})"
    )
    table.add_column("store")
    table.add_column("--by")
    table.add_column("all 30 days", justify="right")
    table.add_column("--since 7d", justify="right")
    table.add_column("requests (all)", justify="right")
    for name, url in stores.items():
        count, fill_s = ensure(url, args.rows)
        entry: dict[str, object] = {"rows": count, "fill_seconds": fill_s, "report_seconds": {}}
        timings: dict[str, dict[str, float]] = {}
        for by in GROUP_BY:
            all_s, requests = time_report(url, by, None, args.repeats)
            week_s, _ = time_report(url, by, NOW - 7 * 86_400, args.repeats)
            timings[by] = {"all": round(all_s, 3), "since_7d": round(week_s, 3)}
            table.add_row(name, by, f"{all_s:.2f}s", f"{week_s:.2f}s", f"{requests:,}")
        entry["report_seconds"] = timings
        results["stores"][name] = entry  # type: ignore[index]
        table.add_section()
    Console().print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
