"""The Postgres store on the real server, and the store contract run against both stores."""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridllm.errors import UsageError
from hybridllm.ledger import COLUMNS, LedgerRow, LedgerWriter, SqliteStore, open_store
from hybridllm.ledger.migrations import MIGRATIONS, POSTGRES_MIGRATIONS
from hybridllm.ledger.postgres import COPY_THRESHOLD, PostgresStore, safe_url
from hybridllm.ledger.retention import delete_older_than
from hybridllm.redact import redact
from tests.report.pgservice import query, temp_schema

from .helpers import RowFactory, build_row

Store = SqliteStore | PostgresStore


@pytest.fixture
def pg_url() -> Iterator[str]:
    with temp_schema() as url:
        yield url


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[PostgresStore]:
    store = open_store(pg_url)
    assert isinstance(store, PostgresStore)
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A ledger URL of each kind: the contract tests run against both stores."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        with temp_schema() as url:
            yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)  # migrated
    assert isinstance(s, SqliteStore | PostgresStore)
    yield s
    s.close()


def write_errors(store: Store) -> tuple[type[BaseException], ...]:
    return (sqlite3.Error,) if isinstance(store, SqliteStore) else (psycopg.Error,)


# -- the contract, on both stores ----------------------------------------------------------------


def test_every_field_round_trips_and_none_costs_stay_none(
    store: Store, make_row: RowFactory
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
            prompt_tokens=2**40,
        ),
    ]
    store.write_many(rows)
    back = list(store.rows())
    assert back == rows
    assert back[1].cost_usd is None and back[1].baseline_cost_usd is None
    assert back[1].streamed is True and back[0].streamed is False


_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)
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


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(row=_rows)
def test_any_row_round_trips_exactly(store: Store, row: LedgerRow) -> None:
    # Postgres text cannot hold NUL characters; no ledger value has one.
    store.write_many([row])
    try:
        assert list(store.rows()) == [row]
    finally:
        assert store.delete_older_than(math.inf) == 1


def test_a_duplicate_request_id_and_attempt_is_ignored(store: Store, make_row: RowFactory) -> None:
    first = make_row(1, model="first")
    store.write_many([first, make_row(1, attempt=2)])
    store.write_many([make_row(1, model="second"), make_row(1, attempt=2, model="x")])
    store.write_many([make_row(1, model="third"), make_row(1, model="fourth")])
    assert store.count() == 2
    assert next(store.rows()) == first


def test_a_large_batch_keeps_the_first_row_of_a_key_and_skips_stored_keys(
    store: Store, make_row: RowFactory
) -> None:
    store.write_many([make_row(0, model="stored")])
    batch = [make_row(i) for i in range(COPY_THRESHOLD + 500)]  # COPY on Postgres
    batch.insert(10, make_row(5, model="later duplicate"))
    store.write_many(batch)
    store.write_many(batch)  # again: all skipped
    assert store.count() == COPY_THRESHOLD + 500
    by_id = {r.request_id: r for r in store.rows()}
    assert by_id[make_row(0).request_id].model == "stored"
    assert by_id[make_row(5).request_id] == make_row(5)


def test_rows_are_ordered_by_ts_then_request_id_then_attempt(
    store: Store, make_row: RowFactory
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


def test_a_batch_is_written_all_or_nothing(store: Store, make_row: RowFactory) -> None:
    unbindable = make_row(2, route=object())
    with pytest.raises(write_errors(store)):
        store.write_many([make_row(1), unbindable, make_row(3)])
    assert store.count() == 0
    store.write_many([make_row(1)])
    assert store.count() == 1


def test_integrity_check_is_empty_for_a_sound_ledger(store: Store) -> None:
    store.write_many([build_row(i) for i in range(100)])
    assert store.integrity_check() == []


def test_a_closed_store_refuses_work_and_closing_twice_is_fine(store: Store) -> None:
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.count()


def test_retention_deletes_old_rows_in_small_batches_and_keeps_newer_ones(
    store: Store, make_row: RowFactory
) -> None:
    store.write_many([make_row(i, ts=1_000.0 + i) for i in range(10_000)])
    calls: list[int] = []

    class Spy:
        def delete_before(self, cutoff_ts: float, limit: int) -> int:
            n = store.delete_before(cutoff_ts, limit)
            calls.append(n)
            return n

    assert delete_older_than(Spy(), 1_000.0 + 7_500, batch_size=1_000) == 7_500
    assert calls == [1_000] * 7 + [500]
    assert store.count() == 2_500
    assert min(r.ts for r in store.rows()) == 8_500.0
    assert store.delete_older_than(1_000.0 + 9_000, batch_size=5_000) == 1_500
    assert store.delete_older_than(0.0) == 0
    with pytest.raises(ValueError, match="batch_size"):
        store.delete_older_than(1.0, batch_size=0)


def test_the_writer_commits_rows_to_the_store_it_opens(store: Store, store_url: str) -> None:
    writer = LedgerWriter(lambda: open_store(store_url), batch_size=256)
    writer.start()
    try:
        for i in range(1_000):
            writer.submit(build_row(i))
        writer.flush(timeout=10)
        assert writer.stats().committed == 1_000
    finally:
        writer.close()
    assert store.count() == 1_000


# -- Postgres only -------------------------------------------------------------------------------


def test_the_writer_commits_to_postgres_seen_by_another_connection(pg_url: str) -> None:
    writer = LedgerWriter(lambda: open_store(pg_url), batch_size=100, flush_interval=0.01)
    writer.start()
    try:
        for i in range(450):
            writer.submit(build_row(i))
        writer.flush(timeout=10)
        assert query(pg_url, "SELECT count(*) FROM ledger") == [(450,)]
        assert writer.stats().batches >= 5
    finally:
        writer.close()


def test_migrations_have_the_same_versions_and_names_on_both_stores() -> None:
    assert [(m.version, m.name) for m in POSTGRES_MIGRATIONS] == [
        (m.version, m.name) for m in MIGRATIONS
    ]


def test_migrate_records_each_version_once_and_running_it_again_is_a_noop(
    pg_store: PostgresStore, pg_url: str
) -> None:
    sql = "SELECT version, name FROM schema_migrations ORDER BY version"
    first = query(pg_url, sql)
    assert first == [(m.version, m.name) for m in POSTGRES_MIGRATIONS]
    pg_store.migrate()
    pg_store.migrate()
    assert query(pg_url, sql) == first
    assert pg_store.apply_migrations(POSTGRES_MIGRATIONS) == []


def test_an_older_postgres_ledger_gets_only_the_missing_migrations(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        assert store.apply_migrations(POSTGRES_MIGRATIONS[:1]) == [1]
        assert store.apply_migrations(POSTGRES_MIGRATIONS) == [
            m.version for m in POSTGRES_MIGRATIONS[1:]
        ]
    finally:
        store.close()


def test_a_postgres_ledger_newer_than_this_code_is_refused(
    pg_store: PostgresStore, pg_url: str
) -> None:
    query(pg_url, "INSERT INTO schema_migrations VALUES (999, 'future', 0)")
    with pytest.raises(UsageError, match="newer"):
        pg_store.migrate()
    assert pg_store.count() == 0  # the store still works


def test_postgres_columns_are_the_ledger_row_field_names(
    pg_store: PostgresStore, pg_url: str
) -> None:
    names = query(
        pg_url,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'ledger' "
        "AND table_schema = current_schema() ORDER BY ordinal_position",
    )
    assert tuple(n for (n,) in names) == COLUMNS


def test_postgres_indexes_serve_time_cost_center_and_deployment_ranges(
    pg_store: PostgresStore, pg_url: str
) -> None:
    pg_store.write_many([build_row(i) for i in range(2_000)])
    indexes = {
        name: definition
        for name, definition in query(
            pg_url,
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'ledger' AND schemaname = current_schema()",
        )
    }
    assert "(ts)" in str(indexes["ledger_ts"])
    assert "(cost_center, ts)" in str(indexes["ledger_cost_center_ts"])
    assert "(deployment, ts)" in str(indexes["ledger_deployment_ts"])

    def plan(sql: str) -> str:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("ANALYZE ledger")
            conn.execute("SET enable_seqscan = off")
            return " ".join(str(r[0]) for r in conn.execute(("EXPLAIN " + sql).encode()))

    assert "ledger_ts" in plan("SELECT * FROM ledger WHERE ts >= 1700001990")
    assert "ledger_cost_center_ts" in plan(
        "SELECT * FROM ledger WHERE cost_center = 'x' AND ts >= 1"
    )
    assert "ledger_deployment_ts" in plan("SELECT * FROM ledger WHERE deployment = 'x' AND ts >= 1")


def test_integrity_check_names_negative_tokens_and_unknown_statuses(
    pg_store: PostgresStore, pg_url: str
) -> None:
    pg_store.write_many([build_row(1), build_row(2)])
    query(pg_url, "UPDATE ledger SET prompt_tokens = -5, status = 'weird'")
    problems = pg_store.integrity_check()
    assert "2 rows with negative token counts" in problems
    assert "2 rows with an unknown status" in problems


def test_rows_stream_through_a_server_side_cursor_and_give_the_connection_back(
    pg_store: PostgresStore,
) -> None:
    pg_store.write_many([build_row(i) for i in range(5_000)])
    it = pg_store.rows()
    first = [next(it) for _ in range(10)]
    assert [r.request_id for r in first] == [build_row(i).request_id for i in range(10)]
    it.close()  # left early: the cursor closes, the connection goes back to the pool
    assert sum(1 for _ in pg_store.rows()) == 5_000
    stats: dict[str, Any] = pg_store.pool.get_stats()
    assert stats.get("pool_available", 0) >= 1


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_open_store_routes_postgres_urls_to_the_postgres_store(pg_url: str, scheme: str) -> None:
    store = open_store(scheme + pg_url.removeprefix("postgresql"))
    try:
        assert isinstance(store, PostgresStore)
        store.write_many([build_row(1)])
        assert store.count() == 1
    finally:
        store.close()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://alice:hunter2-Secret@127.0.0.1:1/ledger",
        "postgresql://alice:hunter2-Secret@127.0.0.1:5432/no_such_db_hybridllm",
        "postgres://127.0.0.1:1/ledger?user=alice&password=hunter2-Secret",
    ],
)
def test_a_postgres_url_with_a_password_never_shows_it_in_errors(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(UsageError) as info:
        open_store(url)
    shown = f"{info.value} {info.value!r} {info.value.__cause__!r} {info.value.__context__!r}"
    assert "hunter2" not in shown
    assert "***" in str(info.value)
    assert "cannot connect" in str(info.value)
    assert "hunter2" not in redact(f"log line with {url}")
    assert all("hunter2" not in r.getMessage() for r in caplog.records)


def test_safe_url_masks_only_the_password() -> None:
    assert safe_url("postgresql://bob:pw@db:5432/x?sslmode=require") == (
        "postgresql://bob:***@db:5432/x?sslmode=require"
    )
    assert safe_url("postgresql://db/x") == "postgresql://db/x"


def test_a_failing_postgres_store_logs_writes_without_the_password(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "hybridllm.ledger")
    store = PostgresStore(pg_url)
    store.migrate()
    query(pg_url, "DROP TABLE ledger")
    writer = LedgerWriter(lambda: store, retry_initial=0.01, retry_max=0.02)
    writer.start()
    writer.submit(build_row(1))
    writer.close(timeout=0.3)
    assert writer.stats().dropped == 1
    assert any("UndefinedTable" in r.getMessage() for r in caplog.records)
