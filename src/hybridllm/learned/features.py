"""Text -> features for the difficulty model: pure Python, no tokenizer, no network.

Two families, both cheap enough for the request path:

- *signals*: a few dozen hand-made numbers (length, structure, code and math markers, question
  type, constraints), standardised by the model with the training set's mean and scale;
- *hashed n-grams*: lower-cased word unigrams and bigrams, hashed with CRC-32 into a fixed number
  of buckets (stable across processes and machines, unlike ``hash()``), present/absent, with the
  vector L2-normalised.

Long prompts are cut to their head and tail before the n-grams and pattern counts (the lengths are
computed on the whole text), so scoring an 8,000-token prompt costs about as much as a 1,000-token
one.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Sequence

__all__ = [
    "HEAD_CHARS",
    "SIGNAL_NAMES",
    "TAIL_CHARS",
    "clip_text",
    "hashed_ngrams",
    "signals",
]

HEAD_CHARS = 2_000
TAIL_CHARS = 2_000

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
_CODE = re.compile(
    r"```|\bdef |\breturn\b|\bclass |\bimport |\bfunction\b|[{};]\s*$|=>|\bSELECT\b|#include",
    re.MULTILINE,
)
_CODE_WORDS = re.compile(
    r"\b(?:python|function|code|program|script|sql|javascript|java|c\+\+|regex|algorithm|"
    r"array|list|string|integer|bug|compile|implement|api)\b",
    re.IGNORECASE,
)
_MATH = re.compile(
    r"\d\s*[-+*/^=<>]\s*\d|\\frac|\\sqrt|\$[^$]+\$|\b(?:sqrt|log|sin|cos|integral|derivative)\b",
    re.IGNORECASE,
)
_MATH_WORDS = re.compile(
    r"\b(?:calculate|compute|solve|equation|prove|probability|sum|product|percent|average|"
    r"how many|how much|total|ratio|number of)\b",
    re.IGNORECASE,
)
_REASONING = re.compile(
    r"\b(?:why|explain|analy[sz]e|compare|evaluate|justify|reason|because|therefore|"
    r"trade-?offs?|step by step|design|argue|critique|implications?)\b",
    re.IGNORECASE,
)
_CONSTRAINTS = re.compile(
    r"\b(?:must|should|exactly|at least|at most|no more than|without|only|each|every|"
    r"all|format|json|words?|sentences?|bullet)\b",
    re.IGNORECASE,
)
_CHOICES = re.compile(r"^\s*\(?[A-Ea-e][).:]\s", re.MULTILINE)
_CREATIVE = re.compile(
    r"\b(?:write|story|poem|creative|imagine|slogan|tweet|essay|letter|song|joke|generate)\b",
    re.IGNORECASE,
)
_SIMPLE_EDIT = re.compile(
    r"\b(?:rewrite|paraphrase|translate|summari[sz]e|correct|edit|format|convert|classify|"
    r"categori[sz]e|identify|name|list|find)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_OPENERS = (
    "what",
    "why",
    "how",
    "who",
    "when",
    "which",
    "explain",
    "write",
    "generate",
    "create",
    "describe",
    "list",
    "name",
    "give",
    "find",
    "identify",
    "classify",
    "rewrite",
    "translate",
    "summarize",
    "is",
    "can",
)

SIGNAL_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_lines",
    "avg_word_len",
    "frac_digits",
    "frac_upper",
    "frac_symbols",
    "frac_non_ascii",
    "questions",
    "sentences",
    "log_numbers",
    "code_markers",
    "code_words",
    "math_markers",
    "math_words",
    "reasoning_words",
    "constraint_words",
    "choices",
    "creative_words",
    "simple_edit_words",
    "has_blank",
    "has_input_block",
    "ends_with_question",
    *(f"opener_{w}" for w in _OPENERS),
)


def clip_text(text: str) -> str:
    """The head and tail of a long text; short texts unchanged."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def _log_count(n: int) -> float:
    return math.log1p(n)


def signals(text: str) -> list[float]:
    """The hand-made signals of ``text``, in the order of ``SIGNAL_NAMES``."""
    n_chars = len(text)
    clipped = clip_text(text)
    n_clip = max(1, len(clipped))
    words = clipped.split()
    scale = n_chars / n_clip  # extrapolate clipped counts to the whole text
    n_words = len(words) * scale
    digits = sum(c.isdigit() for c in clipped)
    upper = sum(c.isupper() for c in clipped)
    alnum_space = sum(c.isalnum() or c.isspace() for c in clipped)
    non_ascii = 0 if clipped.isascii() else sum(ord(c) > 127 for c in clipped)
    stripped = text.rstrip()
    first = words[0].lower().strip("\"'*#:,.") if words else ""
    values = [
        _log_count(n_chars),
        math.log1p(n_words),
        _log_count(text.count("\n") + 1),
        (sum(len(w) for w in words) / len(words)) if words else 0.0,
        digits / n_clip,
        upper / n_clip,
        (n_clip - alnum_space) / n_clip,
        non_ascii / n_clip,
        _log_count(clipped.count("?")),
        _log_count(clipped.count(". ") + clipped.count(".\n") + 1),
        _log_count(len(_NUMBER.findall(clipped))),
        _log_count(len(_CODE.findall(clipped))),
        _log_count(len(_CODE_WORDS.findall(clipped))),
        _log_count(len(_MATH.findall(clipped))),
        _log_count(len(_MATH_WORDS.findall(clipped))),
        _log_count(len(_REASONING.findall(clipped))),
        _log_count(len(_CONSTRAINTS.findall(clipped))),
        _log_count(len(_CHOICES.findall(clipped))),
        _log_count(len(_CREATIVE.findall(clipped))),
        _log_count(len(_SIMPLE_EDIT.findall(clipped))),
        1.0 if " _ " in clipped or "___" in clipped else 0.0,
        1.0 if "\n" in stripped.split("\n\n")[-1] or ":\n" in clipped else 0.0,
        1.0 if stripped.endswith("?") else 0.0,
    ]
    values.extend(1.0 if first == w else 0.0 for w in _OPENERS)
    return values


def _bucket(token: str, mask: int) -> int:
    return zlib.crc32(token.encode("utf-8", "surrogatepass")) & mask


def hashed_ngrams(text: str, bits: int, orders: Sequence[int] = (1, 2)) -> dict[int, float]:
    """Bucket -> value for the word n-grams of ``text`` (present/absent, L2-normalised)."""
    mask = (1 << bits) - 1
    tokens = _WORD.findall(clip_text(text).lower())
    grams: set[str] = set()
    if 1 in orders:
        grams.update(tokens)
    if 2 in orders:
        grams.update(f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False))
    if 3 in orders:
        grams.update(
            f"{a} {b} {c}" for a, b, c in zip(tokens, tokens[1:], tokens[2:], strict=False)
        )
    if not grams:
        return {}
    buckets: dict[int, float] = {}
    for gram in grams:
        buckets[_bucket(gram, mask)] = 1.0
    norm = 1.0 / math.sqrt(len(buckets))
    return dict.fromkeys(buckets, norm)
