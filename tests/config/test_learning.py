"""The ``learning:`` section: defaults, checks with file and line, the model `difficulty` reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridllm.config.loader import parse_config
from hybridllm.errors import ConfigError
from hybridllm.learned.model import DEFAULT_PATH
from hybridllm.router import Router
from tests.conftest import BASIC_CONFIG


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "c.yaml", env={})
    return info.value


def test_learning_is_off_by_default() -> None:
    learning = parse_config(BASIC_CONFIG, "c.yaml", env={}).config.learning
    assert (learning.model, learning.record, learning.judge) == (None, False, None)
    assert not learning.observes


def test_a_judge_naming_a_missing_deployment_is_an_error_with_its_line() -> None:
    text = BASIC_CONFIG + (
        "learning:\n  record: true\n  judge:\n    deployment: sonet\n    strong: sonnet\n"
    )
    err = _error(text)
    assert "unknown deployment 'sonet'" in err.message and "did you mean 'sonnet'" in err.message
    assert err.key == "learning.judge.deployment"
    assert err.line == text.splitlines().index("    deployment: sonet") + 1


def test_a_judge_needs_recording_on() -> None:
    err = _error(BASIC_CONFIG + "learning:\n  judge: {deployment: deepseek, strong: sonnet}\n")
    assert "learning.record: true" in err.message
    assert err.key == "learning.judge"


@pytest.mark.parametrize(
    ("value", "words"), [("1.5", "less than or equal to 1"), ("-1", "greater")]
)
def test_the_judge_sample_is_a_share(value: str, words: str) -> None:
    text = BASIC_CONFIG + (
        f"learning:\n  record: true\n  judge: {{deployment: deepseek, strong: sonnet, "
        f"sample: {value}}}\n"
    )
    assert words in _error(text).message


def test_a_model_file_that_is_not_an_artifact_is_an_error_naming_learning_model(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "model.json"
    bad.write_text('{"format": "other"}')
    err = _error(BASIC_CONFIG + f"learning:\n  model: {bad}\n")
    assert err.key == "learning.model" and "not a hybridllm-difficulty/1 artifact" in err.message


def test_a_model_not_written_yet_means_the_shipped_one(tmp_path: Path) -> None:
    path = tmp_path / "hybridllm.yaml"
    path.write_text(BASIC_CONFIG + f"learning:\n  model: {tmp_path / 'later.json'}\n")
    router = Router.from_config(path)
    assert router.policy.difficulty.resolved == DEFAULT_PATH
