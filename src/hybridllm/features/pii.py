"""Detect PII and secrets in prompt text, fast, so that private requests stay on local models.

Design (see ``pii_rules`` and ``pii_engine``): the text is encoded to one byte per character
(non-ASCII becomes ``?``, so offsets need no mapping), one multi-pattern pass (hyperscan; re2
or ``re`` where hyperscan is unavailable) finds cheap candidates, and only those are checked
in Python: Luhn and issuer ranges for cards, ``phonenumbers`` for phones, ``python-stdnum`` for
IBANs and national IDs, ``ipaddress`` for IPs, shape and entropy rules for secrets. All engines
give identical findings.

``PiiScanner`` compiles everything once; ``scan`` and ``kinds`` are thread-safe. A ``Finding``
carries a kind and character offsets, never the matched value.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hybridllm.features import pii_rules, pii_secrets
from hybridllm.features.pii_engine import ENGINES, make_engine
from hybridllm.features.pii_rules import Rule

__all__ = ["DEFAULT_DETECTORS", "ENGINES", "Finding", "PiiScanner"]

DEFAULT_DETECTORS: tuple[str, ...] = (
    "email",
    "phone",
    "credit_card",
    "iban",
    "ssn",
    "national_id",
    "ip_address",
    "api_key",
)

_ALL_RULES: tuple[Rule, ...] = pii_rules.RULES + pii_secrets.RULES


@dataclass(frozen=True, slots=True)
class Finding:
    """One detection: what kind, and where (character offsets into the scanned ``str``)."""

    kind: str
    start: int
    end: int


class PiiScanner:
    """Scans text for the configured detectors and user patterns.

    ``detectors``: names from ``DEFAULT_DETECTORS`` (``None``: all of them).
    ``extra_patterns``: name -> Python regex; a match is a finding of kind ``name``.
    ``engine``: ``"auto"`` (hyperscan, else re2, else re) or one of ``ENGINES``.
    """

    __slots__ = ("_always", "_engine", "_owner", "_regions", "_rules", "_user")

    def __init__(
        self,
        detectors: Sequence[str] | None = None,
        extra_patterns: Mapping[str, str] | None = None,
        *,
        engine: str = "auto",
    ) -> None:
        names = DEFAULT_DETECTORS if detectors is None else tuple(detectors)
        unknown = sorted(set(names) - set(DEFAULT_DETECTORS))
        if unknown:
            raise ValueError(
                f"unknown PII detector(s) {', '.join(unknown)}; "
                f"expected some of {', '.join(DEFAULT_DETECTORS)}"
            )
        self._rules = tuple(rule for rule in _ALL_RULES if rule.kind in names)
        # One engine pattern per distinct string; a hit feeds every rule that lists it.
        owners: dict[str, list[int]] = {}
        for i, rule in enumerate(self._rules):
            for pattern in rule.engine:
                owners.setdefault(pattern, []).append(i)
        self._owner = tuple(tuple(rules) for rules in owners.values())
        self._regions = tuple(re.compile(b"[" + rule.region + b"]*") for rule in self._rules)
        self._user = tuple(
            _compile_user(name, regex) for name, regex in (extra_patterns or {}).items()
        )
        self._engine = make_engine(
            engine,
            list(owners),
            [pattern.pattern for _, pattern in self._user],
        )
        prefiltered = self._engine.user_prefiltered
        self._always = frozenset(i for i in range(len(self._user)) if i not in prefiltered)

    @property
    def engine(self) -> str:
        """The candidate engine in use: ``hyperscan``, ``re2`` or ``re``."""
        return self._engine.name

    def scan(self, text: str) -> list[Finding]:
        """All findings, sorted by start; overlapping findings of one kind are merged."""
        raw = sorted(self._find(text, first_only=False))
        merged: list[Finding] = []
        for kind, start, end in raw:
            last = merged[-1] if merged else None
            if last is not None and last.kind == kind and start < last.end:
                merged[-1] = Finding(kind, last.start, max(last.end, end))
            else:
                merged.append(Finding(kind, start, end))
        merged.sort(key=lambda f: (f.start, f.end, f.kind))
        return merged

    def kinds(self, text: str) -> frozenset[str]:
        """The kinds found in ``text``; stops looking for a kind once it is found."""
        return frozenset(kind for kind, _, _ in self._find(text, first_only=True))

    def _find(self, text: str, *, first_only: bool) -> list[tuple[str, int, int]]:
        if not text:
            return []
        ascii = text.isascii()
        data = text.encode("ascii") if ascii else text.encode("ascii", "replace")
        hits, maybe = self._engine.scan(data, text, ascii)
        found: list[tuple[str, int, int]] = []
        done: set[str] = set()
        if hits:
            owner, rules, regions = self._owner, self._rules, self._regions
            candidates = sorted((i, end) for pid, end in hits for i in owner[pid])
            rev = data[::-1]
            size = len(data)
            rule_i, region_end = -1, -1
            for i, end in candidates:
                if i == rule_i and end <= region_end:
                    continue  # inside the region already checked
                kind = rules[i].kind
                if first_only and kind in done:
                    continue
                p = end - 1  # the hit's last byte is a class character: widen to the run
                run = regions[i]
                left, right = run.match(rev, size - 1 - p), run.match(data, p)
                assert left is not None and right is not None  # "[...]*" always matches
                start = size - left.end()
                rule_i, region_end = i, right.end()
                for s, e in rules[i].extract(text, start, region_end):
                    found.append((kind, s, e))
                    if first_only:
                        done.add(kind)
                        break
        for i in sorted(maybe | self._always):
            name, pattern = self._user[i]
            if first_only and name in done:
                continue
            for m in pattern.finditer(text):
                if m.end() > m.start():
                    found.append((name, m.start(), m.end()))
                    if first_only:
                        done.add(name)
                        break
        return found


def _compile_user(name: str, regex: str) -> tuple[str, re.Pattern[str]]:
    if not isinstance(name, str) or not name:
        raise ValueError(f"extra PII pattern name must be a non-empty string, got {name!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return name, re.compile(regex)
    except (re.error, Warning, TypeError) as exc:
        raise ValueError(f"extra PII pattern {name!r} is not a valid regex: {exc}") from exc
