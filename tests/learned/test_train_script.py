"""scripts/train_router.py end to end on a small synthetic copy of the shared data."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

from hybridllm.learned import DifficultyModel

pytest.importorskip("sklearn", reason="training needs the 'train' extra")

ROOT = Path(__file__).resolve().parents[2]
MODELS = ["gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat", "claude-v2"]
WORDS = [
    *("apple", "river", "compute", "prime", "list", "sort"),
    *("sum", "graph", "proof", "story", "poem", "translate"),
]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_router", ROOT / "scripts/train_router.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_router"] = module
    spec.loader.exec_module(module)
    return module


def _prompt(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))) + "?"


def _write_data(root: Path) -> None:
    rng = random.Random(3)
    for stem in ("arc_challenge", "mbpp", "winograde"):
        for split in ("train", "test"):
            rows = []
            for _ in range(30):
                prompt = _prompt(rng)
                hard = len(prompt) > 120
                correct = {
                    MODELS[0]: float(rng.random() < 0.9),
                    MODELS[1]: float(rng.random() < (0.3 if hard else 0.8)),
                    MODELS[2]: None,
                }
                rows.append({"prompt": str([prompt]), "source": stem, "correct": correct})
            (root / f"routerbench_{stem}_{split}.jsonl").write_text(
                "\n".join(json.dumps(r) for r in rows)
            )
    rows = []
    for _ in range(60):
        prompt = _prompt(rng)
        rows.append(
            {
                "prompt": prompt,
                "source": "alpaca",
                "judge_score": {"gpt-5": 9.0, "llama-3.1-8b-instruct": 9.0 - len(prompt) // 60},
            }
        )
    (root / "cobench_alpaca_judged.jsonl").write_text("\n".join(json.dumps(r) for r in rows))


def test_training_builds_a_loadable_deterministic_artifact(tmp_path: Path) -> None:
    _write_data(tmp_path)
    script = _script()
    out1, out2 = tmp_path / "a.json", tmp_path / "b.json"
    args = ["--data", str(tmp_path), "--sets", "signals,signals+words", "--grid", "1.0"]
    assert script.main([*args, "--labels", "weak_wrong", "--out", str(out1)]) == 0
    assert script.main([*args, "--labels", "weak_wrong", "--out", str(out2)]) == 0
    assert out1.read_bytes() == out2.read_bytes()
    model = DifficultyModel.load(out1)
    meta = json.loads(out1.read_text())["metadata"]
    assert set(meta["test"]) == {"arc", "mbpp", "winogrande", "alpaca"}
    assert meta["sources"]
    long, short = " ".join(WORDS * 3) + "?", "apple?"
    assert 0.0 <= model.score(short) <= 1.0
    assert model.score(long) > model.score(short)  # the synthetic data's one rule
