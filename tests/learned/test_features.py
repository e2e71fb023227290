"""The fast paths of the difficulty signals compute exactly what the plain regex versions do.

``signals`` skips the regexes it can (words by translate and split, no number scan in a text
without digits); the model was trained on the plain versions, so any difference would be a silent
change of every score. The plain versions are kept here as the reference.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hybridllm.learned import features as F

HELDOUT = Path(__file__).resolve().parents[2] / "bench" / "data" / "heldout"


def reference_keyword_counts(lower: str) -> dict[str, int]:
    words = Counter(F._PLAIN_WORD.findall(lower))
    counts = dict.fromkeys(F._KEYWORD_GROUPS, 0)
    for keyword, group in F._KEYWORDS.items():
        counts[group] += lower.count(keyword) if " " in keyword else words.get(keyword, 0)
    return counts


def reference_counts(text: str) -> tuple[int, int, dict[str, int]]:
    """Numbers, arithmetic matches and keyword counts, by the regexes over the clipped text."""
    clipped = F.clip_text(text)
    return (
        len(F._NUMBER.findall(clipped)),
        len(F._MATH.findall(clipped)),
        reference_keyword_counts(clipped.lower()),
    )


def fast_counts(text: str) -> tuple[float, float, dict[str, int]]:
    values = dict(zip(F.SIGNAL_NAMES, F.signals(text), strict=True))
    return (
        values["log_numbers"],
        values["math_markers"],
        F._keyword_counts(F.clip_text(text).lower()),
    )


def assert_same(text: str) -> None:
    numbers, arithmetic, keywords = reference_counts(text)
    got_numbers, got_math, got_keywords = fast_counts(text)
    lower = F.clip_text(text).lower()
    marks = sum(lower.count(m) for m in F._MATH_MARKS)
    assert got_numbers == math.log1p(numbers), text
    assert got_math == math.log1p(arithmetic + marks), text
    assert got_keywords == keywords, text
    assert F._plain_words(lower) == F._PLAIN_WORD.findall(lower), text


# the characters where a fast path could part from the regexes: word edges, '+', digits of other
# scripts, the Kelvin sign (lower-cases to ASCII 'k'), separators str.split() knows
TRICKY = st.sampled_from(
    [
        *"abcz AZ09.+-*/=^<>\n\t\r_'$(){};:?,",
        *("c++", "how many", "at least", "step by", "python"),
        *("\u212a", "\u0663", "\x1c", "\xa0", "é"),
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(TRICKY, max_size=60).map("".join))
def test_fast_signals_count_what_the_regexes_count(text: str) -> None:
    assert_same(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_fast_signals_agree_on_any_unicode_text(text: str) -> None:
    assert_same(text)


def test_fast_signals_agree_on_every_heldout_question() -> None:
    prompts = [
        json.loads(line)["prompt"]
        for path in sorted(HELDOUT.glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    assert len(prompts) > 3_000
    for prompt in prompts:
        assert_same(prompt)
        assert_same(prompt + " c++ and 3 + 4 = 7")
