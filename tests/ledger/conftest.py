from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import RowFactory, build_row


@pytest.fixture
def make_row() -> RowFactory:
    return build_row


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"
