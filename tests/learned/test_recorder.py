"""The recorder thread (bounded, best effort) and the judge's small pure parts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridllm.learned.judge import judge_request, parse_score, sampled
from hybridllm.learned.recorder import FeatureRecorder
from hybridllm.ledger import open_store
from hybridllm.ledger.learning import Feedback, learning_store

from .traffic import _row


def _recorder(tmp_path: Path, **kwargs: int) -> tuple[FeatureRecorder, str]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    recorder = FeatureRecorder(lambda: open_store(url), flush_interval=30, **kwargs)  # type: ignore[arg-type]
    recorder.start()
    return recorder, url


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    recorder, url = _recorder(tmp_path, max_pending=3, batch_size=100)
    accepted = [recorder.record(f"r{i}", float(i), 1, "small", "hello") for i in range(5)]
    assert accepted == [True, True, True, False, False]
    assert recorder.flush(5)
    assert recorder.record("r9", 9.0, 1, "small", "room again")
    recorder.close()
    stats = recorder.stats()
    assert (stats.recorded, stats.dropped, stats.pending) == (4, 2, 0)
    store = open_store(url)
    try:
        assert len(list(learning_store(store).recorded())) == 4
    finally:
        store.close()


def test_queued_prompt_text_is_bounded_in_characters(tmp_path: Path) -> None:
    recorder, _ = _recorder(tmp_path, max_pending_chars=100, batch_size=100)
    assert recorder.record("a", 1.0, 1, "small", "x" * 60)
    assert not recorder.record("b", 2.0, 1, "small", "x" * 60)
    assert recorder.flush(5)
    assert recorder.record("c", 3.0, 1, "small", "x" * 60)  # written: the budget is free again
    recorder.close()


def test_judge_scores_and_records_after_the_ledger_has_the_request(tmp_path: Path) -> None:
    recorder, url = _recorder(tmp_path)
    store = open_store(url)
    store.write_many([_row("r1", 1, 1.0, 1, "ok")])
    recorder.record("r1", 1.0, 1, "small", "hello")
    recorder.add_feedback(Feedback("r1", 0.7, "judge", 2.0))
    recorder.close()
    (got,) = list(learning_store(store).recorded())
    store.close()
    assert [(f.score, f.source) for f in got.feedback] == [(0.7, "judge")]
    assert not recorder.record("late", 3.0, 1, "small", "closed")  # after close: refused


def test_a_recorder_on_an_unreachable_ledger_fails_to_start() -> None:
    recorder = FeatureRecorder(lambda: open_store("mysql://nope"))
    with pytest.raises(Exception, match="unknown ledger URL scheme"):
        recorder.start()


@pytest.mark.parametrize(
    ("reply", "score"),
    [("7", 0.7), ("Score: 10", 1.0), ("3.5/10", 0.35), ("0", 0.0), ("B deserves 8.", 0.8)],
)
def test_the_judges_reply_is_read_as_a_number_from_0_to_10(reply: str, score: float) -> None:
    assert parse_score(reply) == pytest.approx(score)


@pytest.mark.parametrize("reply", ["", "good", "11", "-", "100"])
def test_a_reply_without_a_score_from_0_to_10_gives_none(reply: str) -> None:
    assert parse_score(reply) is None


def test_sampling_is_stable_per_request_and_close_to_the_share() -> None:
    ids = [f"req-{i}" for i in range(4000)]
    picked = [i for i in ids if sampled(i, 0.1)]
    assert 0.08 < len(picked) / len(ids) < 0.12
    assert picked == [i for i in ids if sampled(i, 0.1)]
    assert all(sampled(i, 1.0) for i in ids[:10]) and not any(sampled(i, 0.0) for i in ids)


def test_the_judge_sees_the_request_and_both_answers_clipped() -> None:
    req = judge_request("judge", "What is 2+2?" + "x" * 10_000, "Be brief.", "4", "four")
    text = str(req.messages[1].content)
    assert "Be brief." in text and "What is 2+2?" in text and "[...]" in text
    assert text.index("Answer A (reference)") < text.index("Answer B")
    assert req.model == "judge" and req.max_tokens == 8 and req.temperature == 0.0
