from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridllm.errors import UsageError
from hybridllm.ledger import COLUMNS, LedgerRow, SqliteStore
from hybridllm.ledger.migrations import MIGRATIONS
from hybridllm.ledger.sqlite import BUSY_TIMEOUT_MS, apply_migrations, split_statements

from .helpers import RowFactory, build_row, count_rows


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(db_path)
    s.migrate()
    yield s
    s.close()


def applied_versions(store: SqliteStore) -> list[tuple[int, str]]:
    return list(store.conn.execute("SELECT version, name FROM schema_migrations ORDER BY version"))


def test_migrations_are_numbered_in_increasing_order_with_unique_names() -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(set(versions))
    assert versions[0] == 1
    assert len({m.name for m in MIGRATIONS}) == len(MIGRATIONS)
    for m in MIGRATIONS:
        assert split_statements(m.sql)


def test_migrate_records_each_version_once_and_running_it_again_is_a_noop(
    store: SqliteStore,
) -> None:
    first = applied_versions(store)
    assert first == [(m.version, m.name) for m in MIGRATIONS]
    store.migrate()
    store.migrate()
    assert applied_versions(store) == first
    assert apply_migrations(store.conn, MIGRATIONS) == []


def test_an_older_ledger_gets_only_the_missing_migrations(db_path: Path) -> None:
    store = SqliteStore(db_path)
    try:
        assert apply_migrations(store.conn, MIGRATIONS[:1]) == [1]
        assert apply_migrations(store.conn, MIGRATIONS) == [m.version for m in MIGRATIONS[1:]]
        assert [v for v, _ in applied_versions(store)] == [m.version for m in MIGRATIONS]
    finally:
        store.close()


def test_a_ledger_newer_than_this_code_is_refused(store: SqliteStore) -> None:
    store.conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)")
    with pytest.raises(UsageError, match="newer"):
        store.migrate()
    assert not store.conn.in_transaction


def test_columns_are_the_ledger_row_field_names(store: SqliteStore) -> None:
    names = tuple(r[1] for r in store.conn.execute("PRAGMA table_info(ledger)"))
    assert names == COLUMNS


def test_every_field_round_trips_and_none_costs_stay_none(
    store: SqliteStore, make_row: RowFactory
) -> None:
    rows = [
        make_row(1),
        make_row(
            2,
            attempt=3,
            cost_center=None,
            key_name=None,
            cost_usd=None,
            baseline_cost_usd=None,
            ttft_ms=None,
            status="partial",
            error_class="StreamBrokenError",
            fallback_from="cloud-mini",
            streamed=True,
            locality="cloud",
            tier=3,
            ts=1_700_000_002.123456789,
        ),
    ]
    store.write_many(rows)
    back = list(store.rows())
    assert back == rows
    assert back[1].cost_usd is None and back[1].baseline_cost_usd is None
    assert back[1].streamed is True and back[0].streamed is False


_text = st.text(st.characters(codec="utf-8"), max_size=20)
_opt_float = st.none() | st.floats(allow_nan=False, allow_infinity=False)
_rows = st.builds(
    LedgerRow,
    request_id=_text,
    attempt=st.integers(1, 10),
    ts=st.floats(0, 4e9),
    route=_text,
    deployment=_text,
    provider=_text,
    model=_text,
    tier=st.integers(1, 3),
    locality=st.sampled_from(["local", "cloud"]),
    cost_center=st.none() | _text,
    key_name=st.none() | _text,
    prompt_tokens=st.integers(0, 2**40),
    completion_tokens=st.integers(0, 2**40),
    cached_tokens=st.integers(0, 2**40),
    cost_usd=_opt_float,
    baseline_cost_usd=_opt_float,
    latency_ms=st.floats(0, 1e7),
    ttft_ms=_opt_float,
    status=st.sampled_from(["ok", "error", "escalated", "partial"]),
    error_class=st.none() | _text,
    fallback_from=st.none() | _text,
    streamed=st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(row=_rows)
def test_any_row_round_trips_exactly(row: LedgerRow) -> None:
    store = SqliteStore(":memory:")
    try:
        store.migrate()
        store.write_many([row])
        assert list(store.rows()) == [row]
    finally:
        store.close()


def test_a_duplicate_request_id_and_attempt_is_ignored(
    store: SqliteStore, make_row: RowFactory
) -> None:
    first = make_row(1, model="first")
    store.write_many([first, make_row(1, attempt=2)])
    store.write_many([make_row(1, model="second"), make_row(1, attempt=2, model="x")])
    store.write_many([make_row(1, model="third"), make_row(1, model="fourth")])
    assert store.count() == 2
    assert next(store.rows()) == first


def test_rows_are_ordered_by_ts_then_request_id_then_attempt(
    store: SqliteStore, make_row: RowFactory
) -> None:
    rows = [
        make_row(5, ts=10.0),
        make_row(2, ts=20.0, attempt=2),
        make_row(2, ts=20.0, attempt=1),
        make_row(1, ts=20.0),
        make_row(9, ts=5.0),
    ]
    store.write_many(rows)
    keys = [(r.ts, r.request_id, r.attempt) for r in store.rows()]
    assert keys == sorted(keys)
    assert [r.ts for r in store.rows(since=10.0)] == [10.0, 20.0, 20.0, 20.0]
    assert [r.ts for r in store.rows(until=20.0)] == [5.0, 10.0]
    assert [r.request_id for r in store.rows(since=6, until=11)] == [rows[0].request_id]


def test_a_batch_is_written_all_or_nothing(store: SqliteStore, make_row: RowFactory) -> None:
    unbindable = make_row(2, route=object())
    with pytest.raises(sqlite3.Error):
        store.write_many([make_row(1), unbindable, make_row(3)])
    assert store.count() == 0
    assert not store.conn.in_transaction
    store.write_many([make_row(1)])
    assert store.count() == 1


def test_file_store_uses_wal_normal_sync_and_a_busy_timeout(store: SqliteStore) -> None:
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS


def test_indexes_serve_time_cost_center_deployment_and_request_id_queries(
    store: SqliteStore,
) -> None:
    def plan(sql: str) -> str:
        return " ".join(str(r[-1]) for r in store.conn.execute("EXPLAIN QUERY PLAN " + sql))

    assert "USING INDEX ledger_ts" in plan("SELECT * FROM ledger WHERE ts >= 1")
    assert "ledger_cost_center_ts" in plan(
        "SELECT * FROM ledger WHERE cost_center = 'x' AND ts >= 1"
    )
    assert "ledger_deployment_ts" in plan("SELECT * FROM ledger WHERE deployment = 'x' AND ts >= 1")
    assert "INDEX" in plan("SELECT * FROM ledger WHERE request_id = 'x'")


def test_parent_directories_of_the_file_are_created(tmp_path: Path, make_row: RowFactory) -> None:
    path = tmp_path / "a" / "b" / "ledger.db"
    store = SqliteStore(path)
    try:
        store.migrate()
        store.write_many([make_row(1)])
    finally:
        store.close()
    assert count_rows(path) == 1


def test_integrity_check_is_empty_for_a_sound_file(store: SqliteStore) -> None:
    store.write_many([build_row(i) for i in range(100)])
    assert store.integrity_check() == []


def test_a_closed_store_refuses_work_and_closing_twice_is_fine(store: SqliteStore) -> None:
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.count()


def test_split_statements_keeps_semicolons_inside_literals() -> None:
    sql = "CREATE TABLE t (a TEXT DEFAULT 'x;y');\n INSERT INTO t VALUES ('1;2'); ;"
    assert split_statements(sql) == [
        "CREATE TABLE t (a TEXT DEFAULT 'x;y')",
        "INSERT INTO t VALUES ('1;2')",
    ]
