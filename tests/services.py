"""Real PostgreSQL and Redis for service tests: skip with a reason when absent, fail in CI."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

PG_HOST, PG_PORT, PG_DB = "127.0.0.1", 5432, "test"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{service} is not running on {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: service tests must run)")
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections use a fresh schema of their own, dropped afterwards."""
    require("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg

    schema = f"test_{uuid.uuid4().hex[:12]}"
    base = f"postgresql://{PG_HOST}:{PG_PORT}/{PG_DB}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
