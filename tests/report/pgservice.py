"""The real Postgres the service tests use: reachable, or skipped (a failure when CI=true)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

PG_URL = os.environ.get("HYBRIDLLM_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")
RUN = secrets.token_hex(4)  # one prefix per test run: runs never collide
_counter = iter(range(1_000_000))


def require_postgres() -> None:
    """Skip the test when Postgres is not reachable; fail it instead when ``CI=true``."""
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        reason = f"Postgres is not reachable at {PG_URL}: {str(exc).strip()[:200]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and a service test cannot run: {reason}")
        pytest.skip(reason)


def schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@contextmanager
def temp_schema() -> Iterator[str]:
    """A fresh schema ``test_<run>_<n>``, dropped afterwards; yields a ledger URL that uses it."""
    require_postgres()
    schema = f"test_{RUN}_{next(_counter)}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema_url(schema)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def query(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run ``sql`` through a second, independent connection."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql.encode(), params)
        return list(cur.fetchall()) if cur.description is not None else []
