"""``hybridllm score``, ``eval-router`` and ``calibrate`` as a user runs them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hybridllm.learned import DifficultyModel
from hybridllm.learned.data import load_outcomes
from hybridllm.learned.evaluate import evaluate_router
from tests.cli.helpers import hybridllm

PROMPTS = [
    "What is 2 + 2?",
    "Write a python function to merge k sorted linked lists in O(n log k).",
    "Translate 'thank you' into Spanish.",
    "Explain step by step why the halting problem is undecidable, and analyze the proof.",
    "Name three colors.",
    "['Write a function to find the n-th Catalan number.']",
]


def _routerbench_file(path: Path) -> Path:
    rows = []
    for i, prompt in enumerate(PROMPTS * 3):
        strong = 1.0 if i % 4 else 0.0
        weak = 1.0 if i % 3 == 0 else 0.0
        rows.append(
            {
                "prompt": prompt + f" ({i})",
                "source": "toy",
                "correct": {"big": strong, "small": weak, "other": None},
            }
        )
    rows.append({"prompt": "missing", "correct": {"big": None, "small": 1.0}})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def _cobench_file(path: Path) -> Path:
    rows = [
        {"prompt": p, "judge_score": {"gpt-5": 9.0 + (i % 2), "llama": 5.0 + (i % 4)}}
        for i, p in enumerate(PROMPTS * 2)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_score_reads_jsonl_and_writes_one_score_per_line(tmp_path: Path) -> None:
    stdin = "\n".join(json.dumps({"prompt": p}) for p in PROMPTS) + "\n\n"
    out = hybridllm("score", cwd=tmp_path, stdin=stdin)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    model = DifficultyModel.load()
    assert len(lines) == len(PROMPTS)
    for line in lines:
        assert set(line) == {"score"}
        assert 0.0 <= line["score"] <= 1.0
    assert lines[0]["score"] == pytest.approx(model.score(PROMPTS[0]), abs=1e-6)
    # the RouterBench list wrapper is unwrapped, as in the training data
    assert lines[-1]["score"] == pytest.approx(
        model.score("Write a function to find the n-th Catalan number."), abs=1e-6
    )


def test_score_rejects_a_line_without_a_prompt(tmp_path: Path) -> None:
    out = hybridllm("score", cwd=tmp_path, stdin='{"text": "hi"}\n')
    assert out.returncode == 2
    assert "line 1" in out.stderr


@pytest.mark.parametrize(
    ("maker", "strong", "weak"),
    [(_routerbench_file, "big", "small"), (_cobench_file, "gpt-5", "llama")],
)
def test_eval_router_json_matches_the_library(
    tmp_path: Path, maker: object, strong: str, weak: str
) -> None:
    data = maker(tmp_path / "data.jsonl")  # type: ignore[operator]
    out = hybridllm(
        "eval-router", str(data), "--strong", strong, "--weak", weak, "--json", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    outcomes = load_outcomes(data, strong, weak)
    expected = evaluate_router(outcomes.outcomes, DifficultyModel.load().score).to_json()
    for key in ("router", "length", "random", "n"):
        assert got[key] == expected[key]
    assert 0.4 < got["random"]["apgr"] < 0.6


def test_eval_router_table_names_the_baselines(tmp_path: Path) -> None:
    data = _routerbench_file(tmp_path / "data.jsonl")
    out = hybridllm("eval-router", str(data), "--strong", "big", "--weak", "small", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for word in ("APGR", "CPT(50%)", "CPT(80%)", "difficulty", "prompt length", "random"):
        assert word in out.stdout
    assert "skipped 1" in out.stderr


def test_eval_router_with_unknown_models_is_a_usage_error(tmp_path: Path) -> None:
    data = _routerbench_file(tmp_path / "data.jsonl")
    out = hybridllm("eval-router", str(data), "--strong", "nope", "--weak", "small", cwd=tmp_path)
    assert out.returncode == 2
    assert "no usable outcomes" in out.stderr


def test_calibrate_prints_a_rule_that_sends_the_share(tmp_path: Path) -> None:
    prompts = [f"{p} variant {i} " + "detail " * i for i, p in enumerate(PROMPTS * 10)]
    data = tmp_path / "prompts.jsonl"
    data.write_text("\n".join(json.dumps({"prompt": p}) for p in prompts))
    out = hybridllm(
        "calibrate", "--strong-share", "0.25", "--data", str(data), "--json", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    model = DifficultyModel.load()
    sent = sum(model.score(p) > got["threshold"] for p in prompts) / len(prompts)
    assert sent == pytest.approx(0.25)
    assert got["rule"].startswith('when: {difficulty: ">')
    assert float(got["rule"].split(">")[1].split('"')[0]) == got["threshold"]
    text = hybridllm("calibrate", "--strong-share", "0.25", "--data", str(data), cwd=tmp_path)
    assert 'when: {difficulty: ">' in text.stdout


def test_calibrate_from_the_ledger_scores_the_recorded_requests(tmp_path: Path) -> None:
    from hybridllm.learned.record import RecordedFeatures, logit_of
    from hybridllm.ledger import open_store
    from hybridllm.ledger.learning import learning_store

    from .traffic import prompts, record

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store = open_store(url)
    record(store, prompts(200))
    model = DifficultyModel.load()
    logits = [
        logit_of(model, RecordedFeatures.decode(r.features))
        for r in learning_store(store).recorded()
    ]
    store.close()
    out = hybridllm("calibrate", "--strong-share", "0.25", "--ledger", url, "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["n"] == 200
    sent = sum(1 / (1 + math.exp(-z)) > got["threshold"] for z in logits) / len(logits)
    assert sent == pytest.approx(got["achieved_share"])


def test_calibrate_needs_data_or_a_ledger_with_recorded_requests(tmp_path: Path) -> None:
    out = hybridllm("calibrate", "--strong-share", "0.25", cwd=tmp_path)
    assert out.returncode == 2
    assert "--data" in out.stderr and "--ledger" in out.stderr
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    out = hybridllm("calibrate", "--strong-share", "0.25", "--ledger", empty, cwd=tmp_path)
    assert out.returncode == 2
    assert "no prompts to calibrate on" in out.stderr
