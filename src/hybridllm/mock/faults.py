"""Programmable faults of the mock upstream: the typed rule and the per-prefix rule book.

Rules for a prefix are tried in order; the first that *applies* wins. A rule applies when

1. its selectors pass, checked in this order: ``count`` (only the first N requests that reach the
   rule), ``every`` (only every Nth request that reaches it), ``rate`` (a draw from the prefix's
   ``random.Random(seed)``, seeded with the ``seed`` of the prefix's first rule, default 0); and
2. if it has a condition, the condition holds: ``expect_key`` (the key received differs),
   ``context_window`` (the prompt has more tokens than that).

A rule with only shaping fields (``reply``, ``chunk_delay``, ``cached_tokens``, ``no_usage``,
``delay``...) always applies and shapes the normal answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import msgspec
import orjson
import yaml

from hybridllm.errors import UsageError

__all__ = ["FaultBook", "FaultRule", "load_faults_file", "parse_rules", "parse_rules_mapping"]

_NonNeg = Annotated[int, msgspec.Meta(ge=0)]
_Seconds = Annotated[float, msgspec.Meta(ge=0)]


class FaultRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One fault rule. Every field is optional; see the module docstring for how rules match.

    When a rule applies: ``delay`` is slept first; then ``hang`` holds the connection open without
    an answer; then ``expect_key`` answers 401, ``context_window`` 400 with the wire's
    context-length text, ``status`` (>= 400) that status in the wire's error envelope, with
    ``message``, ``Retry-After`` (``retry_after``) and ``retry-after-ms`` (``retry_after_ms``).
    Otherwise the normal answer is sent, shaped by ``reply``, ``cached_tokens``, ``no_usage``, and
    for streams by ``chunk_delay`` (between content chunks), ``stall_after`` (after N content
    chunks: send nothing more, keep the connection open), ``malformed_after`` (after N content
    chunks: one event whose data is invalid JSON, then the stream continues), ``close_after``
    (after N content chunks: drop the connection; on a non-streaming request: drop it before
    answering) and ``no_final_event`` (no ``[DONE]`` / ``message_stop`` / Gemini finishReason).
    A count N larger than the number of content chunks acts just before the closing events.
    """

    # selectors
    rate: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    seed: int = 0
    count: _NonNeg | None = None
    every: Annotated[int, msgspec.Meta(ge=1)] | None = None
    # conditions
    expect_key: str | None = None
    context_window: _NonNeg | None = None
    # error answer
    status: Annotated[int, msgspec.Meta(ge=100, le=599)] | None = None
    message: str | None = None
    retry_after: _Seconds | None = None
    retry_after_ms: _NonNeg | None = None
    # timing and connection
    delay: _Seconds | None = None
    hang: bool = False
    chunk_delay: _Seconds | None = None
    stall_after: _NonNeg | None = None
    malformed_after: _NonNeg | None = None
    close_after: _NonNeg | None = None
    no_final_event: bool = False
    # shaping the normal answer
    no_usage: bool = False
    reply: str | None = None
    cached_tokens: _NonNeg | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        """Build from a plain mapping; raises ``ValueError`` naming the bad field."""
        try:
            return msgspec.convert(data, cls)
        except msgspec.ValidationError as exc:
            raise ValueError(str(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        return {k: v for k, v in out.items() if v is not None and v is not False}


def parse_rules(rules: object) -> list[FaultRule]:
    """A list of rules (``FaultRule`` or mappings) -> typed rules; ``ValueError`` if malformed."""
    if not isinstance(rules, list):
        raise ValueError(f"expected a list of rules, got {type(rules).__name__}")
    out: list[FaultRule] = []
    for i, rule in enumerate(rules):
        if isinstance(rule, FaultRule):
            out.append(rule)
        elif isinstance(rule, dict):
            try:
                out.append(FaultRule.from_dict(rule))
            except ValueError as exc:
                raise ValueError(f"rule {i}: {exc}") from None
        else:
            raise ValueError(f"rule {i}: expected a mapping, got {type(rule).__name__}")
    return out


def parse_rules_mapping(data: object) -> dict[str, list[FaultRule]]:
    """``{prefix: [rule, ...]}`` -> typed; prefixes are normalised (no surrounding slashes)."""
    if not isinstance(data, dict):
        raise ValueError(
            f"expected a mapping of prefix -> list of rules, got {type(data).__name__}"
        )
    out: dict[str, list[FaultRule]] = {}
    for prefix, rules in data.items():
        name = "" if prefix is None else str(prefix).strip("/")
        try:
            out[name] = parse_rules(rules)
        except ValueError as exc:
            raise ValueError(f"prefix '{name}': {exc}") from None
    return out


def load_faults_file(path: Path) -> dict[str, list[FaultRule]]:
    """Read a YAML or JSON faults file; a bad file raises :class:`UsageError` naming it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"faults file {path}: cannot read: {exc.strerror or exc}") from None
    try:
        data: object = orjson.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"faults file {path}: not valid YAML/JSON: {exc}") from None
    if data is None:
        return {}
    try:
        return parse_rules_mapping(data)
    except ValueError as exc:
        raise UsageError(f"faults file {path}: {exc}") from None


@dataclass
class _PrefixRules:
    rules: list[FaultRule]
    rng: random.Random
    reached: list[int] = field(default_factory=list)


class FaultBook:
    """The rules of every prefix, with their counters and random generators."""

    def __init__(self) -> None:
        self._by_prefix: dict[str, _PrefixRules] = {}

    def set(self, prefix: str, rules: list[FaultRule]) -> None:
        seed = rules[0].seed if rules else 0
        self._by_prefix[prefix.strip("/")] = _PrefixRules(
            list(rules), random.Random(seed), [0] * len(rules)
        )

    def get(self, prefix: str) -> list[FaultRule]:
        state = self._by_prefix.get(prefix)
        return list(state.rules) if state else []

    def all(self) -> dict[str, list[FaultRule]]:
        return {p: list(s.rules) for p, s in self._by_prefix.items()}

    def clear(self) -> None:
        self._by_prefix.clear()

    def match(self, prefix: str, key: str | None, prompt_tokens: int) -> FaultRule | None:
        """The first rule of ``prefix`` that applies to this request, counters advanced."""
        state = self._by_prefix.get(prefix)
        if state is None:
            return None
        for i, rule in enumerate(state.rules):
            state.reached[i] += 1
            n = state.reached[i]
            if rule.count is not None and n > rule.count:
                continue
            if rule.every is not None and n % rule.every != 0:
                continue
            if rule.rate is not None and state.rng.random() >= rule.rate:
                continue
            if rule.expect_key is not None and key == rule.expect_key:
                continue
            if rule.context_window is not None and prompt_tokens <= rule.context_window:
                continue
            return rule
        return None
