"""Task type and complexity from keyword sets, behind an interface a learned model can fill.

The classifier reads the instruction, not the payload: the system prompt and the head and tail of
the last user message (a 30-page document pasted under "summarize this" is about summarizing,
whatever words the document holds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import msgspec

from hybridllm.features.keywords import DEFAULT_COMPLEXITY, DEFAULT_TASK_TYPES
from hybridllm.features.multimatch import LiteralMatcher

__all__ = ["Classification", "KeywordClassifier", "TaskClassifier", "instruction_window"]

HEAD_CHARS = 2_000
TAIL_CHARS = 1_000


class Classification(msgspec.Struct, frozen=True, gc=False):
    task_type: str | None  # None: no task type's keywords matched
    complexity: str  # low | medium | high
    matched: tuple[str, ...]  # the keywords that decided it, for explanations


class TaskClassifier(Protocol):
    def classify(self, window: str, tokens: int) -> Classification: ...


def instruction_window(system: str, last_user: str) -> str:
    if len(last_user) > HEAD_CHARS + TAIL_CHARS:
        last_user = last_user[:HEAD_CHARS] + "\n" + last_user[-TAIL_CHARS:]
    return f"{system[:HEAD_CHARS]}\n{last_user}" if system else last_user


class KeywordClassifier:
    """Counts keyword hits per task type (ties: the earlier one); complexity: high beats low."""

    def __init__(
        self,
        task_types: Mapping[str, Sequence[str]] | None = None,
        complexity: Mapping[Any, Sequence[str]] | None = None,
        *,
        replace_defaults: bool = False,
    ) -> None:
        tasks: dict[str, list[str]] = (
            {} if replace_defaults else {k: list(v) for k, v in DEFAULT_TASK_TYPES.items()}
        )
        for name, words in (task_types or {}).items():
            tasks.setdefault(name, [])
            tasks[name].extend(w for w in words if w not in tasks[name])
        levels: dict[str, list[str]] = (
            {} if replace_defaults else {k: list(v) for k, v in DEFAULT_COMPLEXITY.items()}
        )
        for level, words in (complexity or {}).items():
            levels.setdefault(level, []).extend(words)
        self.task_types = {k: tuple(v) for k, v in tasks.items()}
        # Per phrase index: (phrase, task name or None, "high" | "low" | None).
        self._hits: list[tuple[str, str | None, str | None]] = [
            (w, name, None) for name, words in self.task_types.items() for w in words
        ]
        for level in ("high", "low"):
            self._hits.extend((w, None, level) for w in levels.get(level, []))
        self._order = {name: i for i, name in enumerate(self.task_types)}
        self._matcher = LiteralMatcher([phrase for phrase, _, _ in self._hits])

    def classify(self, window: str, tokens: int) -> Classification:
        hits = self._matcher.matches(window)
        if not hits:
            return Classification(None, "medium", ())
        scores: dict[str, int] = {}
        levels: set[str] = set()
        matched: list[str] = []
        info = self._hits
        for index in sorted(hits):
            phrase, task, level = info[index]
            matched.append(phrase)
            if task is not None:
                scores[task] = scores.get(task, 0) + 1
            elif level is not None:
                levels.add(level)
        best = None
        if scores:
            order = self._order
            best = min(scores, key=lambda n: (-scores[n], order[n]))
        complexity = "high" if "high" in levels else ("low" if levels else "medium")
        return Classification(best, complexity, tuple(dict.fromkeys(matched)))
