"""The shipped difficulty model: loads, scores in [0, 1], deterministic, thread-safe, fast."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hybridllm.learned import DifficultyModel, ModelFormatError
from hybridllm.learned.features import SIGNAL_NAMES, hashed_ngrams, signals
from hybridllm.learned.model import DEFAULT_PATH

PROMPTS = [
    "",
    "hi",
    "Translate 'good morning' into French.",
    "Write a python function to find the longest palindromic substring of a string.",
    "Prove that there are infinitely many primes p such that p + 2 is also prime, or explain "
    "why this is open, and analyze the trade-offs of known approaches step by step.",
    "x" * 50_000,
    "日本語の文章を要約してください。" * 30,
]


@pytest.fixture(scope="module")
def model() -> DifficultyModel:
    return DifficultyModel.load()


def test_shipped_artifact_is_small_and_documents_its_sources() -> None:
    assert DEFAULT_PATH.stat().st_size < 3_000_000
    meta = json.loads(DEFAULT_PATH.read_text())["metadata"]
    names = " ".join(s["name"] for s in meta["sources"])
    assert "RouterBench" in names and "Co-Bench" in names


@pytest.mark.parametrize("prompt", PROMPTS)
def test_scores_are_probabilities(model: DifficultyModel, prompt: str) -> None:
    assert 0.0 <= model.score(prompt) <= 1.0


def test_scoring_is_deterministic_across_loads(model: DifficultyModel) -> None:
    again = DifficultyModel.load(DEFAULT_PATH)
    assert [model.score(p) for p in PROMPTS] == [again.score(p) for p in PROMPTS]


def test_system_prompt_is_read_with_the_message(model: DifficultyModel) -> None:
    text = "Summarize this."
    assert model.score(text, system=None) == model.score(text)
    with_system = model.score(text, system="You are a meticulous mathematician.")
    assert with_system == model.score("You are a meticulous mathematician.\n\n" + text)


def test_threads_get_the_same_scores(model: DifficultyModel) -> None:
    expected = [model.score(p) for p in PROMPTS * 20]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(model.score, PROMPTS * 20))
    assert got == expected


def test_features_are_stable_numbers() -> None:
    assert len(signals("How many apples?")) == len(SIGNAL_NAMES)
    grams = hashed_ngrams("the cat sat", bits=18)
    assert len(grams) == 5  # 3 words + 2 bigrams, no collisions here
    assert sum(v * v for v in grams.values()) == pytest.approx(1.0)
    assert grams == hashed_ngrams("The cat  sat", bits=18)


def test_a_model_with_ngrams_scores_them(tmp_path: Path) -> None:
    bucket = next(iter(hashed_ngrams("python", bits=10)))
    raw = {
        "format": "hybridllm-difficulty/1",
        "intercept": 0.0,
        "ngram_bits": 10,
        "ngram_orders": [1],
        "ngram_index": [bucket],
        "ngram_weight": [2.0],
    }
    path = tmp_path / "m.json"
    path.write_text(json.dumps(raw))
    m = DifficultyModel.load(path)
    assert m.score("python") > 0.8
    assert m.score("java") == 0.5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ('{"format": "other"}', "not a hybridllm-difficulty/1"),
        ('{"format": "hybridllm-difficulty/1", "intercept": "x"}', "intercept"),
        (
            '{"format": "hybridllm-difficulty/1", "intercept": 0, "signal_weight": [1.0]}',
            "retrain",
        ),
    ],
)
def test_bad_artifacts_are_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ModelFormatError, match=message):
        DifficultyModel.load(path)


def test_missing_artifact_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match="cannot read"):
        DifficultyModel.load(tmp_path / "nope.json")
