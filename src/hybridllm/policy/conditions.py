"""Rule conditions (``when:``) compiled once into small predicate objects.

A mapping means *all* of its keys hold; ``all: [...]``, ``any: [...]`` and ``not: {...}`` nest.
Numbers take ``">100"``, ``">="``, ``"<"``, ``"<="``, ``"=="``, a bare number, or ``[lo, hi]``
(inclusive). Each predicate carries a readable ``text`` used in a decision's reasons.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hybridllm.features.multimatch import LiteralMatcher

if TYPE_CHECKING:
    from hybridllm.features.extract import Features
    from hybridllm.learned.model import ModelSource

__all__ = ["Condition", "ConditionError", "compile_condition"]


class ConditionError(ValueError):
    def __init__(self, message: str, path: Sequence[str | int] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = tuple(path)


class Condition:
    text: str

    def holds(self, f: Features) -> bool:
        raise NotImplementedError

    def failing(self, f: Features) -> Condition | None:
        """The innermost condition that made this one false (for reasons), or None if it holds."""
        return None if self.holds(f) else self


_STRING_FIELDS: dict[str, Callable[[Features], str | None]] = {
    "task_type": lambda f: f.task_type,
    "complexity": lambda f: f.complexity,
    "cost_center": lambda f: f.cost_center,
    "model_requested": lambda f: f.model_requested,
}
_FLAG_FIELDS: dict[str, Callable[[Features], bool]] = {
    "contains_pii": lambda f: bool(f.pii),
    "has_tools": lambda f: f.has_tools,
    "has_images": lambda f: f.has_images,
    "private": lambda f: bool(f.pii) or f.private_hint,
}


def _difficulty(source: ModelSource) -> Callable[[Features], float]:
    """The learned model's chance that the cheap tier falls short (computed only when a rule
    asks: it costs ~0.1 ms, more than the rest of the decision)."""

    def get(f: Features) -> float:
        return float(source.score(f.last_user, f.system_text or None))

    return get


_NUMBER_FIELDS: dict[str, Callable[[Features], float]] = {
    "tokens": lambda f: f.tokens,
    "batch_size": lambda f: f.batch_size,
}
_DIFFICULTY = "difficulty"
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
_NUM = re.compile(r"^\s*(>=|<=|==|>|<)?\s*(-?\d+(?:\.\d+)?)\s*$")
KNOWN_KEYS = (
    *_STRING_FIELDS,
    *_FLAG_FIELDS,
    *_NUMBER_FIELDS,
    _DIFFICULTY,
    "keywords",
    "all",
    "any",
    "not",
)


@dataclass(eq=False)
class _Equals(Condition):
    get: Callable[[Features], str | None]
    values: frozenset[str]
    text: str

    def holds(self, f: Features) -> bool:
        return self.get(f) in self.values


@dataclass(eq=False)
class _Flag(Condition):
    get: Callable[[Features], bool]
    want: bool
    text: str

    def holds(self, f: Features) -> bool:
        return self.get(f) is self.want


@dataclass(eq=False)
class _Number(Condition):
    get: Callable[[Features], float]
    test: Callable[[float], bool]
    text: str

    def holds(self, f: Features) -> bool:
        return self.test(self.get(f))


@dataclass(eq=False)
class _Keywords(Condition):
    matcher: LiteralMatcher
    text: str

    def holds(self, f: Features) -> bool:
        return bool(self.matcher.matches(f.user_text))


@dataclass(eq=False)
class _All(Condition):
    parts: tuple[Condition, ...]
    text: str

    def holds(self, f: Features) -> bool:
        return all(p.holds(f) for p in self.parts)

    def failing(self, f: Features) -> Condition | None:
        for part in self.parts:
            bad = part.failing(f)
            if bad is not None:
                return bad
        return None


@dataclass(eq=False)
class _Any(Condition):
    parts: tuple[Condition, ...]
    text: str

    def holds(self, f: Features) -> bool:
        return any(p.holds(f) for p in self.parts)


@dataclass(eq=False)
class _Not(Condition):
    part: Condition
    text: str

    def holds(self, f: Features) -> bool:
        return not self.part.holds(f)


def compile_condition(
    when: Any, path: tuple[str | int, ...] = (), *, difficulty: ModelSource | None = None
) -> Condition:
    """Compile a ``when:`` value; ``difficulty`` is the model the ``difficulty`` condition asks
    (the config's ``learning.model``; None: the shipped model)."""
    if isinstance(when, list):
        return _group(_All, when, path, "all", difficulty)
    if not isinstance(when, dict) or not when:
        raise ConditionError("a condition is a non-empty mapping, e.g. {task_type: code}", path)
    parts = [_leaf(str(key), value, (*path, key), difficulty) for key, value in when.items()]
    if len(parts) == 1:
        return parts[0]
    return _All(tuple(parts), " and ".join(p.text for p in parts))


def _group(
    cls: type[_All] | type[_Any],
    items: Any,
    path: tuple[str | int, ...],
    word: str,
    difficulty: ModelSource | None,
) -> Condition:
    if not isinstance(items, list) or not items:
        raise ConditionError(f"'{word}' takes a non-empty list of conditions", path)
    parts = tuple(
        compile_condition(item, (*path, i), difficulty=difficulty) for i, item in enumerate(items)
    )
    joiner = " and " if cls is _All else " or "
    return cls(parts, "(" + joiner.join(p.text for p in parts) + ")")


def _leaf(
    key: str, value: Any, path: tuple[str | int, ...], difficulty: ModelSource | None
) -> Condition:
    if key == "all":
        return _group(_All, value, path, "all", difficulty)
    if key == "any":
        return _group(_Any, value, path, "any", difficulty)
    if key == "not":
        inner = compile_condition(value, path, difficulty=difficulty)
        return _Not(inner, f"not {inner.text}")
    if key == _DIFFICULTY:
        test, shown = _number_test(value, path, key)
        if difficulty is None:
            from hybridllm.learned.model import shipped_source

            difficulty = shipped_source()
        return _Number(_difficulty(difficulty), test, f"{key} {shown}")
    if key in _STRING_FIELDS:
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) for v in values):
            raise ConditionError(f"'{key}' takes a name or a list of names", path)
        shown = values[0] if len(values) == 1 else "one of " + ", ".join(values)
        return _Equals(_STRING_FIELDS[key], frozenset(values), f"{key} is {shown}")
    if key in _FLAG_FIELDS:
        if not isinstance(value, bool):
            raise ConditionError(f"'{key}' takes true or false", path)
        return _Flag(_FLAG_FIELDS[key], value, f"{key} is {str(value).lower()}")
    if key in _NUMBER_FIELDS:
        test, shown = _number_test(value, path, key)
        return _Number(_NUMBER_FIELDS[key], test, f"{key} {shown}")
    if key == "keywords":
        words = value if isinstance(value, list) else [value]
        if not words or not all(isinstance(w, str) and w for w in words):
            raise ConditionError("'keywords' takes a list of words or phrases", path)
        return _Keywords(LiteralMatcher(words), "keywords include one of " + ", ".join(words))
    import difflib

    close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConditionError(
        f"unknown condition '{key}'{hint}; conditions: {', '.join(KNOWN_KEYS)}", path
    )


def _number_test(
    value: Any, path: tuple[str | int, ...], key: str
) -> tuple[Callable[[float], bool], str]:
    if isinstance(value, bool):
        raise ConditionError(
            f"'{key}' takes a number, a comparison like \">100\", or [lo, hi]", path
        )
    if isinstance(value, int | float):
        number = float(value)
        return (lambda x: x == number), f"== {value}"
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        lo, hi = float(value[0]), float(value[1])
        if lo > hi:
            raise ConditionError(f"'{key}' range [{value[0]}, {value[1]}] is empty (lo > hi)", path)
        return (lambda x: lo <= x <= hi), f"in [{value[0]}, {value[1]}]"
    if isinstance(value, str):
        match = _NUM.match(value)
        if match:
            op = _OPS[match.group(1) or "=="]
            number = float(match.group(2))
            return (lambda x: op(x, number)), f"{match.group(1) or '=='} {match.group(2)}"
    raise ConditionError(
        f"'{key}' takes a number, a comparison like \">100\", or [lo, hi]; got {value!r}", path
    )
