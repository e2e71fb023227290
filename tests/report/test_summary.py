"""``ledger_requests``, the per-request summary the report reads, stays equal to its ledger rows:
after batched and row-by-row writes, duplicate writes, attempts written out of order, retention
deletes that cut requests in two, and a backfill of rows written before the migration. And a
report over a period whose edges cut requests equals one over a ledger holding only that
period's rows."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hybridllm.ledger import LedgerRow, SqliteStore, open_store
from hybridllm.ledger.migrations import (
    MIGRATIONS,
    POSTGRES_MIGRATIONS,
    REQUEST_COLUMNS,
    recompute_requests,
)
from hybridllm.ledger.postgres import PostgresStore
from hybridllm.ledger.sqlite import apply_migrations
from hybridllm.report import GROUP_BY, build_report

from .conftest import NOW, load_generator
from .pgservice import temp_schema

Store = SqliteStore | PostgresStore
_COLS = ", ".join(REQUEST_COLUMNS)


def _rows(n: int = 3_000, seed: int = 11) -> list[LedgerRow]:
    return list(load_generator().generate(n, seed=seed, now=NOW))


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        with temp_schema() as pg_url:
            yield pg_url


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = open_store(url)
    assert isinstance(s, SqliteStore | PostgresStore)
    yield s
    s.close()


def _fetch(store: Store, sql: str) -> list[tuple[Any, ...]]:
    if isinstance(store, SqliteStore):
        return [tuple(r) for r in store.conn.execute(sql)]
    with store.pool.connection() as conn:
        return [tuple(r) for r in conn.execute(sql.encode())]


def assert_summary_matches_rows(store: Store) -> int:
    """The summary equals a recomputation from the ledger rows; the number of requests."""
    stored = _fetch(store, f"SELECT {_COLS} FROM ledger_requests ORDER BY request_id")
    fresh = _fetch(
        store, f"SELECT * FROM ({recompute_requests('ledger', '1 = 1')}) x ORDER BY request_id"
    )
    assert len(stored) == len(fresh)
    for a, b in zip(stored, fresh, strict=True):
        for name, x, y in zip(REQUEST_COLUMNS, a, b, strict=True):
            if isinstance(x, float) or isinstance(y, float):
                assert math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-15), (a[0], name, x, y)
            else:
                assert x == y, (a[0], name, x, y)
    return len(stored)


def test_the_summary_follows_batched_and_single_writes(store: Store) -> None:
    rows = _rows()
    store.write_many(rows[:2_000])  # one large batch (COPY on Postgres)
    for row in rows[2_000:2_100]:
        store.write_many([row])  # the gateway writer's small batches
    store.write_many(rows[2_100:])
    n = assert_summary_matches_rows(store)
    assert n == len({r.request_id for r in rows})


def test_duplicate_writes_leave_the_summary_unchanged(store: Store) -> None:
    rows = _rows()
    store.write_many(rows)
    before = _fetch(store, f"SELECT {_COLS} FROM ledger_requests ORDER BY request_id")
    store.write_many(rows)  # the same keys again: skipped, in a COPY-sized batch
    store.write_many(rows[:10])  # and in a small one
    altered = [msgspec.structs.replace(r, cost_usd=99.0, status="ok") for r in rows[:50]]
    store.write_many(altered)  # a different row with a stored key: the first one wins
    assert _fetch(store, f"SELECT {_COLS} FROM ledger_requests ORDER BY request_id") == before
    assert_summary_matches_rows(store)


def test_a_batch_mixing_new_rows_and_a_duplicate_keeps_the_summary_exact(store: Store) -> None:
    # A replayed spool: some rows are committed already, the rest of the batch is new. A per-row
    # merge would count the duplicate twice; the store must see it and recompute instead.
    rows = _rows()
    multi = {r.request_id for r in rows if r.attempt > 1}
    head = [r for r in rows if r.request_id in multi and r.attempt == 1]
    store.write_many(head[:200])
    store.write_many([*head[:200], *(r for r in rows if r not in head[:200])])
    assert_summary_matches_rows(store)


def test_attempts_written_out_of_order_give_the_same_summary(store: Store) -> None:
    rows = _rows()
    later = [r for r in rows if r.attempt == 1]
    first = [r for r in rows if r.attempt > 1]  # second and third attempts arrive first
    store.write_many(first)
    store.write_many(later)
    assert_summary_matches_rows(store)
    (answered,) = _fetch(store, "SELECT SUM(answered) FROM ledger_requests")[0]
    assert answered


def test_retention_deletes_keep_the_summary_consistent(store: Store) -> None:
    rows = _rows()
    store.write_many(rows)
    # A cutoff inside a request that fell back: its first attempt goes, its second stays.
    cut = next(r for r in rows if r.attempt == 2 and r.ts - 0.001 > rows[0].ts)
    assert store.delete_older_than(cut.ts - 0.0001, batch_size=97) > 0
    n = assert_summary_matches_rows(store)
    ((left,),) = _fetch(store, "SELECT COUNT(DISTINCT request_id) FROM ledger")
    assert n == left
    (attempts, first_attempt) = _fetch(
        store,
        f"SELECT attempts, final_attempt FROM ledger_requests WHERE request_id = '{cut.request_id}'",
    )[0]
    assert (attempts, first_attempt) == (1, 2)
    store.delete_older_than(NOW + 1)
    assert _fetch(store, "SELECT COUNT(*) FROM ledger_requests") == [(0,)]


def test_the_migration_backfills_rows_written_before_it(tmp_path: Path) -> None:
    rows = _rows(1_000)
    path = tmp_path / "old.db"
    old = SqliteStore(path)
    try:
        apply_migrations(old.conn, MIGRATIONS[:2])  # a ledger from before the summary
        old.write_many(rows)
        tables = {r[0] for r in old.conn.execute("SELECT name FROM sqlite_master")}
        assert "ledger_requests" not in tables
    finally:
        old.close()
    store = open_store(f"sqlite:///{path}")
    assert isinstance(store, SqliteStore)
    try:
        assert assert_summary_matches_rows(store) == len({r.request_id for r in rows})
    finally:
        store.close()


def test_the_postgres_migration_backfills_rows_written_before_it() -> None:
    rows = _rows(1_500)
    with temp_schema() as pg_url:
        old = PostgresStore(pg_url)
        try:
            old.apply_migrations(POSTGRES_MIGRATIONS[:2])
            old.write_many(rows)
            assert old.apply_migrations(POSTGRES_MIGRATIONS) == [
                m.version for m in POSTGRES_MIGRATIONS[2:]
            ]
            assert assert_summary_matches_rows(old) == len({r.request_id for r in rows})
        finally:
            old.close()


def _windows(rows: list[LedgerRow]) -> list[tuple[float, float]]:
    """Periods whose edges fall between two attempts of one request."""
    seconds = sorted((r for r in rows if r.attempt == 2), key=lambda r: r.ts)
    a, b = seconds[len(seconds) // 4], seconds[3 * len(seconds) // 4]
    return [(a.ts - 1e-4, b.ts - 1e-4), (a.ts - 1e-4, NOW)]


def _only(rows: list[LedgerRow], since: float, until: float) -> list[LedgerRow]:
    return [r for r in rows if since <= r.ts < until]


def _same(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    else:
        assert a == b


@pytest.mark.parametrize("group_by", GROUP_BY)
def test_a_period_cutting_requests_reports_exactly_its_own_rows(
    url: str, tmp_path: Path, group_by: str
) -> None:
    rows = _rows()
    store = open_store(url)
    try:
        store.write_many(rows)
        for since, until in _windows(rows):
            got = build_report(store, since, group_by, until=until, now=NOW)
            alone_url = f"sqlite:///{tmp_path / f'alone-{since}-{until}.db'}"
            alone = open_store(alone_url)
            try:
                alone.write_many(_only(rows, since, until))
                want = build_report(alone, since, group_by, until=until, now=NOW)
            finally:
                alone.close()
            a, b = got.to_dict(), want.to_dict()
            for d in (a, b):
                d.pop("store")
                for k in list(d["health"]):  # cloud spend: the 14 days before now, any period
                    if k.startswith("cloud_"):
                        d["health"].pop(k)
            _same(a, b)
            assert got.total.requests < len({r.request_id for r in rows})
    finally:
        store.close()


def test_an_edge_really_cuts_a_request_in_the_windows() -> None:
    rows = _rows()
    since, until = _windows(rows)[0]
    spans: dict[str, list[float]] = {}
    for r in rows:
        spans.setdefault(r.request_id, []).append(r.ts)
    assert any(min(ts) < since <= max(ts) for ts in spans.values())
    assert any(min(ts) < until <= max(ts) for ts in spans.values())
