"""``hybridllm feedback REQUEST_ID SCORE`` as a user runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridllm.ledger import SqliteStore, open_store
from hybridllm.ledger.learning import learning_store
from tests.ledger.helpers import build_row

from .helpers import hybridllm

CONFIG = """
deployments:
  small: {{provider: ollama, model: a, tier: 1}}
routes:
  - name: default
    use: [small]
ledger: "sqlite:///{db}"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    db = tmp_path / "ledger.db"
    store = open_store(f"sqlite:///{db}")
    store.write_many([build_row(1)])
    store.close()
    path = tmp_path / "hybridllm.yaml"
    path.write_text(CONFIG.format(db=db))
    return path


def test_feedback_scores_a_request_in_the_configured_ledger(config: Path) -> None:
    out = hybridllm(
        "--config", str(config), "feedback", "req-000001", "0.25", "--comment", "too vague",
        cwd=config.parent,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "recorded score 0.25 for request req-000001" in out.stdout
    store = open_store(f"sqlite:///{config.parent / 'ledger.db'}")
    assert isinstance(store, SqliteStore)
    try:
        rows = store.conn.execute("SELECT request_id, score, source, comment FROM feedback")
        assert rows.fetchall() == [("req-000001", 0.25, "user", "too vague")]
        assert learning_store(store).request_key("req-000001") == (True, "team-a")
    finally:
        store.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("req-000001", "1.5"), "between 0 and 1"),
        (("req-000001", "-1"), "between 0 and 1"),
        (("req-999999", "1"), "no request 'req-999999' in the ledger"),
    ],
)
def test_feedback_with_a_bad_score_or_unknown_request_exits_2(
    config: Path, args: tuple[str, str], message: str
) -> None:
    out = hybridllm("--config", str(config), "feedback", "--", *args, cwd=config.parent)
    assert out.returncode == 2
    assert message in out.stderr
