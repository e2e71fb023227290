"""Reading per-prompt outcomes in the shared routing format (JSONL).

A line is ``{"prompt": ..., "correct": {model: 0/1 or null}}`` (RouterBench) or
``{"prompt": ..., "judge_score": {model: 1-10}}`` (Co-Bench). Lines where either model of the
pair has no outcome are skipped and counted. RouterBench stores its prompts as the text of a
Python list (``"['...']"``); :func:`clean_prompt` unwraps it so the router sees the prompt a user
would have sent.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

__all__ = ["Outcome", "OutcomeSet", "clean_prompt", "load_outcomes", "read_prompts"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One prompt and the quality each model of the pair reached on it."""

    prompt: str
    strong: float
    weak: float
    source: str


@dataclass(frozen=True, slots=True)
class OutcomeSet:
    """The usable outcomes of a file, and how many lines were skipped."""

    outcomes: list[Outcome]
    skipped: int
    metric: str  # "correct" or "judge_score"


def clean_prompt(prompt: str) -> str:
    """``"['a', 'b']"`` -> ``"a\\n\\nb"``; any other text unchanged."""
    text = prompt.strip()
    if len(text) >= 4 and text[0] == "[" and text[-1] == "]" and text[1] in "'\"":
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return prompt
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return "\n\n".join(value)
    return prompt


def _rows(path: Path) -> Iterator[dict[str, object]]:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number}: a line must be a JSON object")
            yield row


def _quality(row: dict[str, object], model: str) -> tuple[str, float | None]:
    for key in ("correct", "judge_score"):
        table = row.get(key)
        if isinstance(table, dict):
            value = table.get(model)
            return key, float(value) if isinstance(value, int | float) else None
    return "", None


def load_outcomes(path: Path, strong: str, weak: str) -> OutcomeSet:
    """The outcomes of ``strong`` and ``weak`` on each prompt of ``path``."""
    outcomes: list[Outcome] = []
    skipped = 0
    metric = ""
    for row in _rows(path):
        prompt = row.get("prompt")
        kind, s = _quality(row, strong)
        _, w = _quality(row, weak)
        if not isinstance(prompt, str) or s is None or w is None:
            skipped += 1
            continue
        metric = metric or kind
        source = row.get("source")
        outcomes.append(
            Outcome(clean_prompt(prompt), s, w, source if isinstance(source, str) else "")
        )
    return OutcomeSet(outcomes, skipped, metric or "correct")


def read_prompts(lines: Iterable[bytes | str]) -> Iterator[str]:
    """The ``prompt`` of each JSONL line (blank lines skipped); ValueError on a bad line."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"line {number}: not JSON ({exc})") from None
        prompt = row.get("prompt") if isinstance(row, dict) else None
        if not isinstance(prompt, str):
            raise ValueError(f'line {number}: expected {{"prompt": "..."}}')
        yield clean_prompt(prompt)
