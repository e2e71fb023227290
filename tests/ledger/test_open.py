from __future__ import annotations

from pathlib import Path

import pytest

from hybridllm.errors import UsageError
from hybridllm.ledger import SqliteStore, open_store
from hybridllm.ledger.open import sqlite_path

from .helpers import RowFactory


def test_a_relative_sqlite_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_row: RowFactory
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///data/ledger.db")
    try:
        store.write_many([make_row(1)])  # migrated already
    finally:
        store.close()
    assert (tmp_path / "data" / "ledger.db").exists()


def test_an_absolute_sqlite_url_has_four_slashes(tmp_path: Path) -> None:
    path = tmp_path / "abs.db"
    assert sqlite_path(f"sqlite:///{path}") == str(path)
    store = open_store(f"sqlite:///{path}")
    try:
        assert isinstance(store, SqliteStore)
        assert store.count() == 0
    finally:
        store.close()
    assert path.exists()


def test_an_in_memory_sqlite_url_needs_no_file(make_row: RowFactory) -> None:
    store = open_store("sqlite://:memory:")
    try:
        store.write_many([make_row(1)])
        assert store.count() == 1
    finally:
        store.close()


def test_open_store_can_skip_the_migration(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}", migrate=False)
    try:
        assert isinstance(store, SqliteStore)
        tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")}
        assert "ledger" not in tables
    finally:
        store.close()


@pytest.mark.parametrize(
    "url", ["postgresql://u:secret@127.0.0.1:1/ledger", "postgres://u:secret@127.0.0.1:1/ledger"]
)
def test_an_unreachable_postgres_url_is_a_clear_error_without_the_password(url: str) -> None:
    with pytest.raises(UsageError, match="cannot connect to the Postgres ledger") as info:
        open_store(url)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["mysql://db/ledger", "ledger.db", "", "sqlite://", "sqlite:///", "sqlite://relative.db"],
)
def test_any_other_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError, match="ledger URL"):
        open_store(url)
