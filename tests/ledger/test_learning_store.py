"""The learning tables (migration 4) on SQLite and on the real Postgres: feedback, features,
escalations read back for ``learn``, and retention taking them with the ledger rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridllm.learned.record import RecordedFeatures, featurize
from hybridllm.ledger import LedgerStore, SqliteStore, open_store
from hybridllm.ledger.learning import FeatureRow, Feedback, check_score, learning_store
from hybridllm.ledger.migrations import MIGRATIONS, POSTGRES_MIGRATIONS
from hybridllm.ledger.postgres import PostgresStore
from tests.services import postgres_url  # noqa: F401  (a fixture)

from .helpers import build_row


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerStore]:
    url = (
        f"sqlite:///{tmp_path / 'ledger.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    store = open_store(url)
    yield store
    store.close()


def test_migration_4_adds_the_learning_tables_on_both_stores() -> None:
    assert (MIGRATIONS[3].version, MIGRATIONS[3].name) == (4, "learning")
    assert (POSTGRES_MIGRATIONS[3].version, POSTGRES_MIGRATIONS[3].name) == (4, "learning")


def test_feedback_and_features_are_read_back_with_escalations(ledger: LedgerStore) -> None:
    ledger.write_many(
        [
            build_row(1, key_name="team-a"),
            build_row(2, status="escalated", error_class="WeakReply"),
            build_row(2, attempt=2, tier=3, deployment="big"),
            build_row(3),
        ]
    )
    tables = learning_store(ledger)
    assert tables.request_key("req-000001") == (True, "team-a")
    assert tables.request_key("nope") == (False, None)
    record = featurize("How do I scale my kubernetes setup?")
    rows = [
        FeatureRow("req-000001", 1.0, 1, "local-llama", record.encode()),
        FeatureRow("req-000002", 2.0, 3, "big", record.encode()),
    ]
    tables.write_features(rows)
    tables.write_features(rows[:1])  # a request already recorded is skipped
    tables.add_feedback(Feedback("req-000001", 0.25, "judge", 10.0))
    tables.add_feedback(Feedback("req-000001", 1.0, "user", 11.0, "great", "team-a"))
    got = list(tables.recorded())
    assert [(r.request_id, r.tier, r.escalated) for r in got] == [
        ("req-000001", 1, False),
        ("req-000002", 3, True),
    ]
    assert [(f.score, f.source, f.comment) for f in got[0].feedback] == [
        (0.25, "judge", None),
        (1.0, "user", "great"),
    ]
    assert got[1].feedback == ()
    assert RecordedFeatures.decode(got[0].features) == RecordedFeatures.decode(record.encode())


def test_the_schema_refuses_a_score_outside_0_to_1(ledger: LedgerStore) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        learning_store(ledger).add_feedback(Feedback("r", 1.5, "user", 1.0))


@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan"), float("inf"), True, "0.5", None])
def test_check_score_accepts_numbers_from_0_to_1_only(bad: object) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        check_score(bad)


def test_retention_takes_feedback_and_features_with_the_last_ledger_row(
    ledger: LedgerStore,
) -> None:
    assert isinstance(ledger, SqliteStore | PostgresStore)
    ledger.write_many(
        [build_row(1, ts=100.0), build_row(1, attempt=2, ts=300.0), build_row(2, ts=100.0)]
    )
    tables = learning_store(ledger)
    text = featurize("hi").encode()
    tables.write_features([FeatureRow(f"req-00000{i}", 100.0, 1, "x", text) for i in (1, 2)])
    for i in (1, 2):
        tables.add_feedback(Feedback(f"req-00000{i}", 0.5, "user", 100.0))
    assert ledger.delete_older_than(200.0) == 2
    # req-1 still has its second attempt: its learning data stays; req-2 is gone entirely
    assert [(r.request_id, len(r.feedback)) for r in tables.recorded()] == [("req-000001", 1)]
    assert ledger.delete_older_than(400.0) == 1
    assert list(tables.recorded()) == []
