"""The held-out routing benchmark (bench/data/heldout): its conversion script and its files."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from hybridllm.learned.data import load_outcomes

ROOT = Path(__file__).resolve().parents[2]
HELDOUT = ROOT / "bench" / "data" / "heldout"
STRONG, WEAK = "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("heldout_data", ROOT / "scripts/heldout_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["heldout_data"] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


def test_conversion_maps_both_mixtral_column_names_and_keeps_row_order(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "mmlu_b.csv").write_text(
        'prompt,mixtral-8x7b-instruct-v0.1,gpt-4-1106-preview\n"Q2\nA. x\nAnswer:",False,True\n'
    )
    (raw / "mmlu_a.csv").write_text(
        'prompt,mistralai/Mixtral-8x7B-Instruct-v0.1,gpt-4-1106-preview\n"Q1 ""quoted""",True,True\n'
    )
    out = tmp_path / "out"
    out.mkdir()
    assert _script().main([str(raw), "--out-dir", str(out)]) == 0
    lines = [json.loads(x) for x in (out / "routellm_mmlu.jsonl").read_text().splitlines()]
    assert lines == [
        {"prompt": 'Q1 "quoted"', "source": "mmlu_a", "correct": {STRONG: 1, WEAK: 1}},
        {"prompt": "Q2\nA. x\nAnswer:", "source": "mmlu_b", "correct": {STRONG: 1, WEAK: 0}},
    ]


def test_conversion_refuses_a_value_that_is_not_true_or_false(tmp_path: Path) -> None:
    (tmp_path / "mmlu_x.csv").write_text(
        "prompt,mixtral-8x7b-instruct-v0.1,gpt-4-1106-preview\nQ,maybe,True\n"
    )
    with pytest.raises(ValueError):
        _script().main([str(tmp_path), "--out-dir", str(tmp_path)])


@pytest.mark.parametrize(
    ("name", "rows"), [("routellm_mmlu.jsonl", 2067), ("routellm_gsm8k.jsonl", 1319)]
)
def test_heldout_files_load_as_eval_router_reads_them(name: str, rows: int) -> None:
    loaded = load_outcomes(HELDOUT / name, STRONG, WEAK)
    assert (len(loaded.outcomes), loaded.skipped, loaded.metric) == (rows, 0, "correct")
    assert all(o.strong in (0.0, 1.0) and o.weak in (0.0, 1.0) for o in loaded.outcomes)
