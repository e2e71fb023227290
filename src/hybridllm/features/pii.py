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
from hybridllm.features.pii_engine import ENGINES, RunFinder, make_engine
from hybridllm.features.pii_rules import EMAIL, Rule
from hybridllm.features.pii_secrets import MIN_TOKEN, SECRET_TOKEN

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

# Two candidate patterns cost most of a multi-pattern pass over prose: each keeps the automaton
# busy on ordinary words (60-70% of hyperscan's time on a 2 KB prompt). They are found another
# way, with the same regions (a hit is widened to its run of region characters, so any hit in a
# run stands for all of them):
# * the long-token pattern is every maximal run of MIN_TOKEN or more token characters: one
#   ``bytes.translate`` and a substring search, one hit per run, from the first run on (a
#   hyperscan scan of the bare repeat finds it, or says there is none, ~10x faster);
# * the e-mail pattern needs an "@": looked for first (memchr), then the pattern alone, leftmost
#   and non-overlapping, as the re2 and ``re`` engines run it.
_TOKEN_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
_TOKEN_MAP = bytes(0x74 if b in _TOKEN_CHARS else 0x20 for b in range(256))
_TOKEN_RUN = b"t" * MIN_TOKEN
_FIRST_TOKEN_RUN = RunFinder(SECRET_TOKEN.region, MIN_TOKEN)
_EMAIL_CANDIDATE = re.compile(EMAIL.engine[0].encode("ascii"))


def _token_runs(data: bytes) -> list[int]:
    """One hit (its end offset) per maximal run of at least MIN_TOKEN token characters."""
    start = _FIRST_TOKEN_RUN.first_start(data)  # prose mostly has none: no translate at all
    if start < 0:
        return []
    mapped = (data[start:] if start else data).translate(_TOKEN_MAP)
    ends: list[int] = []
    at = mapped.find(_TOKEN_RUN)
    while at >= 0:  # the leftmost occurrence starts its run: an earlier start would be found
        ends.append(start + at + MIN_TOKEN)
        stop = mapped.find(b" ", at + MIN_TOKEN)
        if stop < 0:
            break
        at = mapped.find(_TOKEN_RUN, stop)
    return ends


def _email_candidates(data: bytes) -> list[int]:
    if b"@" not in data:
        return []
    return [m.end() for m in _EMAIL_CANDIDATE.finditer(data)]


_SIDE_PATTERNS = {SECRET_TOKEN.engine[0]: _token_runs, EMAIL.engine[0]: _email_candidates}


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

    __slots__ = (
        "_always",
        "_engine",
        "_engine_pids",
        "_owner",
        "_regions",
        "_rules",
        "_side",
        "_user",
    )

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
        patterns = list(owners)
        self._side = tuple(
            (pid, _SIDE_PATTERNS[p]) for pid, p in enumerate(patterns) if p in _SIDE_PATTERNS
        )
        # The engine numbers the patterns it is given; this maps its numbers back to ours.
        self._engine_pids = tuple(pid for pid, p in enumerate(patterns) if p not in _SIDE_PATTERNS)
        self._engine = make_engine(
            engine,
            [patterns[pid] for pid in self._engine_pids],
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
        if hits:
            pids = self._engine_pids
            hits = [(pids[pid], end) for pid, end in hits]
        for pid, side in self._side:
            ends = side(data)
            if ends:
                hits.extend((pid, end) for end in ends)
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
