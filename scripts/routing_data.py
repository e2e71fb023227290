"""The public routing data in ``shared/data/routing/`` as labelled training and test sets.

Used by ``scripts/train_router.py``. Tasks and splits:

- RouterBench (zero-shot, as published with RouterDC): ARC-Challenge, MBPP, Winogrande, each with
  its own train and test file. Pair: strong ``gpt-4-1106-preview``, weak
  ``mistralai/mixtral-8x7b-chat``.
- Co-Bench Alpaca: 994 judged instructions, no published split; a fixed split by CRC-32 of the
  prompt puts about 70% in train and 30% in test. Pair: strong ``gpt-5``, weak
  ``llama-3.1-8b-instruct``, quality = the judge's 1-10 score.

Labels ("the cheap tier falls short"), selectable for experiments:

- ``pair``: RouterBench: weak wrong while strong right (1/0). Alpaca: the judge-score gap
  ``strong - weak`` clipped to [0, 4] and divided by 4 (a soft label).
- ``weak_wrong``: RouterBench: the weak model is wrong. Alpaca: as ``pair``.
- ``consensus``: RouterBench: the mean of ``pair`` and the share of all 11 models that are wrong
  (how hard the item is for models in general: a less noisy soft label). Alpaca: as ``pair``.
"""

from __future__ import annotations

import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hybridllm.learned.data import clean_prompt  # noqa: E402

RB_STRONG = "gpt-4-1106-preview"
RB_WEAK = "mistralai/mixtral-8x7b-chat"
CB_STRONG = "gpt-5"
CB_WEAK = "llama-3.1-8b-instruct"
RB_TASKS = {"arc": "arc_challenge", "mbpp": "mbpp", "winogrande": "winograde"}
ALPACA_FILE = "cobench_alpaca_judged.jsonl"
ALPACA_TEST_PERCENT = 30
LABELS = ("pair", "weak_wrong", "consensus")

SOURCES = [
    {
        "name": "RouterBench (zero-shot), splits as published in the RouterDC repository",
        "files": [
            f"routerbench_{f}_{s}.jsonl" for f in RB_TASKS.values() for s in ("train", "test")
        ],
        "origin": "withmartian/routerbench (Hu et al. 2024, arXiv:2403.12031); "
        "RouterDC (Chen et al. 2024, arXiv:2409.19886)",
        "pair": {"strong": RB_STRONG, "weak": RB_WEAK},
    },
    {
        "name": "Co-Bench Alpaca, judged answers of gpt-5 and llama-3.1-8b-instruct",
        "files": [ALPACA_FILE],
        "origin": "Co-Bench; instructions from Stanford Alpaca (tatsu-lab/alpaca)",
        "pair": {"strong": CB_STRONG, "weak": CB_WEAK},
    },
]


@dataclass(frozen=True, slots=True)
class Example:
    prompt: str
    task: str
    strong: float  # quality of the strong model (0/1 or 1-10)
    weak: float
    labels: dict[str, float]  # label name -> target in [0, 1]


def _read(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _rb_examples(path: Path, task: str, limit: int | None) -> list[Example]:
    out: list[Example] = []
    for row in _read(path):
        correct = row["correct"]
        assert isinstance(correct, dict)
        s, w = correct.get(RB_STRONG), correct.get(RB_WEAK)
        if s is None or w is None:
            continue
        known = [float(v) for v in correct.values() if v is not None]
        share_wrong = 1.0 - sum(known) / len(known)
        pair = float(s) * (1.0 - float(w))
        labels = {
            "pair": pair,
            "weak_wrong": 1.0 - float(w),
            "consensus": 0.5 * pair + 0.5 * share_wrong,
        }
        prompt = row["prompt"]
        assert isinstance(prompt, str)
        out.append(Example(clean_prompt(prompt), task, float(s), float(w), labels))
        if limit is not None and len(out) >= limit:
            break
    return out


def _alpaca_is_test(prompt: str) -> bool:
    return zlib.crc32(prompt.encode("utf-8")) % 100 < ALPACA_TEST_PERCENT


def _alpaca_examples(path: Path, split: str, limit: int | None) -> list[Example]:
    out: list[Example] = []
    for row in _read(path):
        prompt = row["prompt"]
        scores = row["judge_score"]
        assert isinstance(prompt, str) and isinstance(scores, dict)
        if _alpaca_is_test(prompt) != (split == "test"):
            continue
        s, w = float(scores[CB_STRONG]), float(scores[CB_WEAK])
        gap = min(max(s - w, 0.0), 4.0) / 4.0
        labels = dict.fromkeys(LABELS, gap)
        out.append(Example(prompt, "alpaca", s, w, labels))
        if limit is not None and len(out) >= limit:
            break
    return out


def load_split(data_dir: Path, split: str, limit: int | None = None) -> dict[str, list[Example]]:
    """Task -> examples of ``split`` ("train" or "test"); ``limit`` caps each task (for tests)."""
    tasks: dict[str, list[Example]] = {}
    for task, stem in RB_TASKS.items():
        tasks[task] = _rb_examples(data_dir / f"routerbench_{stem}_{split}.jsonl", task, limit)
    tasks["alpaca"] = _alpaca_examples(data_dir / ALPACA_FILE, split, limit)
    return tasks


def write_alpaca_test(data_dir: Path, out: Path) -> int:
    """Write the Alpaca test split in the shared format (for ``hybridllm eval-router``)."""
    lines = [
        orjson.dumps(row)
        for row in _read(data_dir / ALPACA_FILE)
        if isinstance(row["prompt"], str) and _alpaca_is_test(row["prompt"])
    ]
    out.write_bytes(b"\n".join(lines) + b"\n")
    return len(lines)
