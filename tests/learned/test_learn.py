"""``hybridllm learn``: retrains on recorded outcomes, swaps the model in only when it is better."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridllm.learned.learn import (
    MIN_LABELLED,
    LearnOptions,
    NotEnoughDataError,
    auc_of,
    label_of,
    labelled_requests,
    learn,
)
from hybridllm.learned.model import DEFAULT_PATH, DifficultyModel
from hybridllm.learned.record import featurize
from hybridllm.ledger import open_store
from hybridllm.ledger.learning import Feedback, RecordedRequest
from hybridllm.router import Router
from tests.cli.helpers import hybridllm
from tests.services import postgres_url  # noqa: F401  (a fixture)

from .traffic import CONFIG, KUBE, OTHER, prompts, record


def _setup(tmp_path: Path, *, pattern: bool, n: int = 400) -> Path:
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    store = open_store(ledger)
    try:
        record(store, prompts(n, pattern=pattern), seed=0)
    finally:
        store.close()
    config = tmp_path / "hybridllm.yaml"
    config.write_text(CONFIG.format(ledger=ledger, model=tmp_path / "router.json"))
    return config


def test_learn_improves_held_out_apgr_and_the_difficulty_rule_then_uses_the_new_model(
    tmp_path: Path,
) -> None:
    config = _setup(tmp_path, pattern=True)
    before = Router.from_config(config)
    # The shipped model reads hand-made signals only: both prompts look alike to it.
    assert before.decide(KUBE).route == before.decide(OTHER).route

    out = hybridllm("--config", str(config), "learn", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["swapped"] and got["in_use"]
    assert got["written"] == str(tmp_path / "router.json")
    assert got["candidate"]["apgr"] >= got["current"]["apgr"] + 0.1
    assert got["candidate"]["auc"] > got["current"]["auc"]
    assert got["held_out"] == 80 and got["train"] == 320
    assert set(got["labels"]) == {"escalated", "user"}

    model = DifficultyModel.load(tmp_path / "router.json")
    assert model.metadata["built_by"] == "hybridllm learn"
    assert model.ngram_bits == 18 and model.ngram_weight
    after = Router.from_config(config)
    assert after.decide(KUBE).route == "hard"
    assert after.decide(OTHER).route == "default"
    assert model.score(KUBE) > 0.5 > model.score(OTHER)


def test_learn_keeps_the_current_model_when_recorded_labels_are_noise(tmp_path: Path) -> None:
    config = _setup(tmp_path, pattern=False)
    out = hybridllm("--config", str(config), "learn", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "kept the current model" in out.stdout
    assert "APGR" in out.stdout and "candidate" in out.stdout
    assert not (tmp_path / "router.json").exists()


def test_learn_compares_with_the_model_in_use_and_keeps_the_one_it_replaces(
    tmp_path: Path,
) -> None:
    config = _setup(tmp_path, pattern=True)
    in_use = tmp_path / "router.json"
    in_use.write_bytes(DEFAULT_PATH.read_bytes())  # learning.model names a copy of the shipped one
    out = hybridllm("--config", str(config), "learn", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["current_model"] == str(in_use)
    assert got["swapped"] and got["in_use"]
    assert (tmp_path / "router.json.prev").read_bytes() == DEFAULT_PATH.read_bytes()
    assert DifficultyModel.load(in_use).metadata["previous"] == str(in_use)


def test_learn_without_labelled_requests_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    ledger = f"sqlite:///{tmp_path / 'empty.db'}"
    config = tmp_path / "hybridllm.yaml"
    config.write_text(CONFIG.format(ledger=ledger, model=tmp_path / "router.json"))
    out = hybridllm("--config", str(config), "learn", cwd=tmp_path)
    assert out.returncode == 2
    assert "no labelled requests" in out.stderr
    assert "learning.record: true" in out.stderr


def test_learn_with_too_few_labels_says_how_many_are_needed() -> None:
    items, _ = labelled_requests(_recorded(5), strong_tier=3)
    with pytest.raises(NotEnoughDataError, match=f"at least {MIN_LABELLED}"):
        learn(items, DifficultyModel.load())


def _request(
    rid: str = "r1",
    tier: int = 1,
    escalated: bool = False,
    feedback: tuple[tuple[float, str], ...] = (),
) -> RecordedRequest:
    return RecordedRequest(
        rid,
        1.0,
        tier,
        "small" if tier == 1 else "big",
        featurize("hello there").encode(),
        escalated,
        tuple(Feedback(rid, s, src, float(i)) for i, (s, src) in enumerate(feedback)),  # type: ignore[arg-type]
    )


def _recorded(n: int) -> list[RecordedRequest]:
    return [_request(f"r{i}", feedback=((0.1 if i % 2 else 0.9, "user"),)) for i in range(n)]


def test_an_escalated_request_counts_as_the_cheap_tier_falling_short() -> None:
    assert label_of(_request(escalated=True, tier=3), strong_tier=3) == (1, "escalated")
    # even when the user liked the strong tier's answer that followed
    assert label_of(_request(escalated=True, tier=3, feedback=((1.0, "user"),)), 3) == (
        1,
        "escalated",
    )


@pytest.mark.parametrize(
    ("feedback", "label"),
    [
        (((0.2, "user"),), (1, "user")),
        (((0.5, "user"),), (0, "user")),
        (((0.9, "judge"),), (0, "judge")),
        (((0.1, "judge"), (0.8, "user")), (0, "user")),  # a user's score wins over the judge's
        (((0.9, "user"), (0.1, "judge")), (0, "user")),
        (((0.9, "user"), (0.2, "user")), (1, "user")),  # the newest of a source counts
    ],
)
def test_cheap_tier_feedback_below_one_half_means_it_fell_short(
    feedback: tuple[tuple[float, str], ...], label: tuple[int, str]
) -> None:
    assert label_of(_request(feedback=feedback), strong_tier=3) == label


def test_strong_tier_answers_and_requests_without_outcome_have_no_label() -> None:
    assert label_of(_request(tier=3, feedback=((0.1, "user"),)), strong_tier=3) is None
    assert label_of(_request(tier=1), strong_tier=3) is None
    items, counts = labelled_requests(
        [
            _request("a", tier=3, feedback=((0.1, "user"),)),
            _request("b"),
            _request("c", escalated=True),
        ],
        strong_tier=3,
    )
    assert [i.request_id for i in items] == ["c"]
    assert (counts.labelled, counts.strong_tier, counts.no_outcome) == (1, 1, 1)


def test_held_out_traffic_is_the_most_recent_and_both_outcomes_are_needed() -> None:
    items, _ = labelled_requests(
        [_request(f"r{i}", feedback=((0.9, "user"),)) for i in range(40)], strong_tier=3
    )
    with pytest.raises(NotEnoughDataError, match="both outcomes"):
        learn(items, DifficultyModel.load(), LearnOptions(holdout=0.25))


def test_auc_counts_ties_as_half() -> None:
    assert auc_of([0.1, 0.9], [0, 1]) == 1.0
    assert auc_of([0.5, 0.5], [0, 1]) == 0.5
    assert auc_of([0.5, 0.5, 0.9], [0, 1, 1]) == 0.75
    assert auc_of([0.9, 0.1, 0.5], [0, 1, 1]) == 0.0


def test_learn_reads_recorded_outcomes_from_a_postgres_ledger(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    pg_url = str(request.getfixturevalue("postgres_url"))
    store = open_store(pg_url)
    try:
        record(store, prompts(400, pattern=True), seed=0)
    finally:
        store.close()
    config = tmp_path / "hybridllm.yaml"
    config.write_text(CONFIG.format(ledger=pg_url, model=tmp_path / "router.json"))
    out = hybridllm("--config", str(config), "learn", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["ledger"] == pg_url and got["swapped"] and got["in_use"]
    assert got["candidate"]["apgr"] >= got["current"]["apgr"] + 0.1
