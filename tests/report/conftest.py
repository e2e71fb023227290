"""A seeded ledger (the benchmark's generator, 10k rows, plus hand-made edge cases) in both
stores."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from hybridllm.ledger import LedgerRow, SqliteStore, open_store
from hybridllm.ledger.postgres import PostgresStore

from .pgservice import temp_schema

NOW = 1_780_000_000.0
SEED_ROWS = 10_000
_GEN = Path(__file__).resolve().parents[2] / "bench" / "gen_ledger.py"


def load_generator() -> ModuleType:
    if "gen_ledger" in sys.modules:
        return sys.modules["gen_ledger"]
    spec = importlib.util.spec_from_file_location("gen_ledger", _GEN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_ledger"] = module
    spec.loader.exec_module(module)
    return module


def seeded_rows() -> list[LedgerRow]:
    rows: list[LedgerRow] = list(load_generator().generate(SEED_ROWS, seed=7, now=NOW))
    return rows


@pytest.fixture(scope="session")
def seed() -> list[LedgerRow]:
    return seeded_rows()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def seeded_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, seed: list[LedgerRow]
) -> Iterator[str]:
    """A ledger URL of each kind holding the seeded rows."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('seeded') / 'ledger.db'}"
        _fill(url, seed)
        yield url
    else:
        with temp_schema() as url:
            _fill(url, seed)
            yield url


@pytest.fixture
def seeded_store(seeded_url: str) -> Iterator[SqliteStore | PostgresStore]:
    store = open_store(seeded_url)
    assert isinstance(store, SqliteStore | PostgresStore)
    yield store
    store.close()


def _fill(url: str, rows: list[LedgerRow]) -> None:
    store = open_store(url)
    try:
        store.write_many(rows)
    finally:
        store.close()
