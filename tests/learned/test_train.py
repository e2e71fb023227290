"""The pure-Python trainer and the recorded feature representation it trains on."""

from __future__ import annotations

import orjson
import pytest

from hybridllm.learned.model import DifficultyModel
from hybridllm.learned.record import (
    RECORD_BITS,
    RecordedFeatures,
    RecordFormatError,
    featurize,
    logit_of,
)
from hybridllm.learned.train import Example, TrainSettings, artifact, fit

from .traffic import prompts


def _examples(n: int = 300) -> list[Example]:
    return [Example(featurize(r.prompt), float(r.bad)) for r in prompts(n, pattern=True)]


def test_a_record_scores_as_the_text_does_for_any_model_of_up_to_20_bits() -> None:
    model = fit(_examples(), DifficultyModel.load())
    assert model.ngram_bits == 18
    for text in ("How do I scale my kubernetes setup?", "Write a poem.\n\nAbout *cats*, 3 lines"):
        assert logit_of(model, featurize(text)) == pytest.approx(model.logit(text), abs=1e-4)
        system = "You are terse."
        joined = featurize(text, system)
        assert logit_of(model, joined) == pytest.approx(
            model.logit(f"{system}\n\n{text}"), abs=1e-4
        )


def test_the_record_holds_signals_and_bucket_numbers_never_the_text() -> None:
    text = "Please debug my kubernetes cluster for ACME Corp"
    encoded = featurize(text).encode()
    assert "kubernetes" not in encoded.lower() and "acme" not in encoded.lower()
    raw = orjson.loads(encoded)
    assert set(raw) == {"v", "bits", "s", "n"} and raw["bits"] == RECORD_BITS
    assert all(0 <= b < 2**RECORD_BITS for b in raw["n"])
    assert featurize(text, ngrams=False).ngrams == ()  # what private requests keep
    assert RecordedFeatures.decode(encoded) == RecordedFeatures.decode(encoded)


@pytest.mark.parametrize(
    "bad",
    [
        "nope",
        '{"v": 2}',
        '{"v": 1, "bits": 16, "s": [], "n": []}',
        '{"v":1,"bits":20,"s":[1],"n":[]}',
    ],
)
def test_a_record_of_another_version_is_refused(bad: str) -> None:
    with pytest.raises(RecordFormatError):
        RecordedFeatures.decode(bad)


def test_training_is_deterministic_and_learns_a_word_pattern() -> None:
    examples = _examples()
    a = fit(examples, DifficultyModel.load(), TrainSettings(seed=3))
    b = fit(examples, DifficultyModel.load(), TrainSettings(seed=3))
    assert a == b
    kube = a.score("How do I configure my kubernetes setup?")
    other = a.score("How do I configure my recipe setup?")
    assert kube > 0.5 > other


def test_a_strong_pull_towards_the_prior_keeps_its_ranking() -> None:
    """Only the intercept (the base rate, not penalised) moves; the weights stay the prior's."""
    prior = DifficultyModel.load()
    model = fit(_examples(100), prior, TrainSettings(l2=1e4, epochs=2))
    a, b = "What is 2+2?", "Prove that sqrt(2) is irrational, step by step."
    assert model.logit(b) - model.logit(a) == pytest.approx(
        prior.logit(b) - prior.logit(a), abs=0.02
    )
    assert all(abs(w) < 1e-3 for w in model.ngram_weight.values())


def test_the_artifact_loads_back_as_the_same_model(tmp_path: pytest.TempPathFactory) -> None:
    model = fit(_examples(100), DifficultyModel.load())
    raw = artifact(model, {"built_by": "test"})
    loaded = DifficultyModel.from_json(orjson.loads(orjson.dumps(raw)))
    assert loaded.metadata["built_by"] == "test"
    text = "Summarize this kubernetes issue: production keeps failing."
    assert loaded.score(text) == pytest.approx(model.score(text), abs=1e-9)


def test_fit_needs_examples() -> None:
    with pytest.raises(ValueError, match="no examples"):
        fit([], None)
