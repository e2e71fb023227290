"""Convert RouteLLM's per-question outcome CSVs to the shared routing JSONL (held-out benchmark).

The CSVs come from the lm-sys/RouteLLM repository (Apache-2.0):

- ``routellm/evals/mmlu/responses/mmlu_<subject>.csv``: columns ``prompt``, the Mixtral column
  (``mixtral-8x7b-instruct-v0.1``, or ``mistralai/Mixtral-8x7B-Instruct-v0.1`` in some versions)
  and ``gpt-4-1106-preview``, each ``True``/``False``.
- ``routellm/evals/gsm8k/gsm8k_responses.csv``: the same three columns plus the two models'
  responses (ignored here; a copy without the response columns works the same).

Usage::

    python scripts/heldout_data.py RAW_DIR [--out-dir bench/data/heldout]

Every ``mmlu_*.csv`` in ``RAW_DIR`` goes, in file-name order, to ``routellm_mmlu.jsonl``; a
``gsm8k*.csv`` goes to ``routellm_gsm8k.jsonl``. One line per CSV row, in row order::

    {"prompt": ..., "source": "mmlu_<subject>", "correct": {"gpt-4-1106-preview": 0|1,
     "mixtral-8x7b-instruct-v0.1": 0|1}}

The output is a pure function of the input bytes (no randomness, no timestamps). Any value other
than ``True``/``False``, or a missing column, is an error. The data is for evaluation only: never
train or tune a router on it.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

STRONG = "gpt-4-1106-preview"
WEAK = "mixtral-8x7b-instruct-v0.1"
# Column names used for the weak model across RouteLLM's file versions.
WEAK_COLUMNS = (WEAK, "mistralai/Mixtral-8x7B-Instruct-v0.1")
BOOL = {"True": 1, "False": 0}

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "data" / "heldout"


@dataclass(frozen=True, slots=True)
class Row:
    """One question and whether each model answered it correctly."""

    prompt: str
    source: str
    strong: int
    weak: int

    def to_json(self) -> dict[str, object]:
        return {
            "prompt": self.prompt,
            "source": self.source,
            "correct": {STRONG: self.strong, WEAK: self.weak},
        }


def read_outcomes(path: Path, source: str) -> list[Row]:
    """The rows of one RouteLLM CSV (ValueError on anything odd)."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        weak_col = next((c for c in WEAK_COLUMNS if c in header), None)
        if "prompt" not in header or STRONG not in header or weak_col is None:
            raise ValueError(f"{path}: unexpected header {header}")
        records: list[Row] = []
        for number, row in enumerate(reader, 2):
            strong, weak = row[STRONG], row[weak_col]
            if strong not in BOOL or weak not in BOOL or not row["prompt"]:
                raise ValueError(f"{path}: row {number}: bad values {strong!r}, {weak!r}")
            records.append(Row(row["prompt"], source, BOOL[strong], BOOL[weak]))
    if not records:
        raise ValueError(f"{path}: no rows")
    return records


def summary(records: list[Row]) -> str:
    """n, accuracies and the two disagreement shares of a list of rows."""
    n = len(records)
    pairs = Counter((r.strong, r.weak) for r in records)
    return (
        f"n={n:5d}  strong={sum(r.strong for r in records) / n:.3f}  "
        f"weak={sum(r.weak for r in records) / n:.3f}  "
        f"weak-wrong&strong-right={pairs[(1, 0)] / n:.3f}  "
        f"strong-wrong&weak-right={pairs[(0, 1)] / n:.3f}"
    )


def write_jsonl(path: Path, records: list[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            line = json.dumps(record.to_json(), ensure_ascii=False, separators=(",", ":"))
            fh.write(line + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("raw_dir", type=Path, help="directory holding the RouteLLM CSVs")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    outputs: dict[str, list[Row]] = {}
    mmlu_files = sorted(args.raw_dir.glob("mmlu_*.csv"))
    for path in mmlu_files:
        records = read_outcomes(path, path.stem)
        print(f"{path.stem:40s} {summary(records)}")
        outputs.setdefault("routellm_mmlu.jsonl", []).extend(records)
    for path in sorted(args.raw_dir.glob("gsm8k*.csv")):
        records = read_outcomes(path, "gsm8k")
        print(f"{'gsm8k':40s} {summary(records)}")
        outputs.setdefault("routellm_gsm8k.jsonl", []).extend(records)
    if not outputs:
        print(f"no mmlu_*.csv or gsm8k*.csv in {args.raw_dir}", file=sys.stderr)
        return 1
    for name, records in outputs.items():
        prompts = Counter(r.prompt for r in records)
        repeated = sum(c - 1 for c in prompts.values() if c > 1)
        write_jsonl(args.out_dir / name, records)
        print(f"wrote {args.out_dir / name}: {summary(records)}  repeated prompts={repeated}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
