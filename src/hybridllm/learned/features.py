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

import itertools
import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence

__all__ = [
    "HEAD_CHARS",
    "SIGNAL_NAMES",
    "TAIL_CHARS",
    "clip_text",
    "hashed_ngrams",
    "signals",
]

HEAD_CHARS = 1_500
TAIL_CHARS = 1_500

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
_PLAIN_WORD = re.compile(r"[a-z]+(?:\+\+)?")
_MATH = re.compile(r"\d\s*[-+*/^=<>]\s*\d")
_CHOICES = re.compile(r"^\s*\(?[A-Ea-e][).:]\s", re.MULTILINE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CODE_MARKS = ("```", "def ", "return ", "class ", "import ", "{", ";", "=>", "#include", "select ")
_MATH_MARKS = ("\\frac", "\\sqrt", "$", "^", "sqrt(", "log(")

# keyword -> signal group; two-word phrases are matched on consecutive words
_KEYWORDS: dict[str, str] = {}
for _group, _words in {
    "code_words": "python function code program script sql javascript java c++ regex algorithm "
    "array list string integer bug compile implement api",
    "math_words": "calculate compute solve equation prove probability sum product percent "
    "average total ratio how_many how_much number_of",
    "reasoning_words": "why explain analyze analyse compare evaluate justify reason because "
    "therefore tradeoff tradeoffs trade-offs step_by design argue critique implication "
    "implications",
    "constraint_words": "must should exactly at_least at_most no_more without only each every "
    "all format json word words sentence sentences bullet",
    "creative_words": "write story poem creative imagine slogan tweet essay letter song joke "
    "generate",
    "simple_edit_words": "rewrite paraphrase translate summarize summarise correct edit "
    "convert classify categorize categorise identify name list find",
}.items():
    for _word in _words.split():
        _KEYWORDS.setdefault(_word.replace("_", " "), _group)
_KEYWORD_WORDS = frozenset(k for k in _KEYWORDS if " " not in k)
_KEYWORD_PHRASES = tuple((k, g) for k, g in _KEYWORDS.items() if " " in k)
# every ASCII character but a-z becomes a space (str.translate's fast path: ASCII to ASCII)
_NOT_A_TO_Z = {c: 32 for c in range(128) if not 97 <= c <= 122}
_KEYWORD_GROUPS = (
    "code_words",
    "math_words",
    "reasoning_words",
    "constraint_words",
    "creative_words",
    "simple_edit_words",
)
_ASCII_DIGITS = str.maketrans("", "", "0123456789")
_ASCII_UPPER = str.maketrans("", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ASCII_PLAIN = str.maketrans(
    "", "", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \t\n\r"
)
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


def _plain_words(lower: str) -> list[str]:
    """``_PLAIN_WORD.findall(lower)``; for ASCII text without ``+`` (most prompts) by translate
    and split, which is several times faster than the regex and gives the same words."""
    if "+" in lower or not lower.isascii():
        return _PLAIN_WORD.findall(lower)
    return lower.translate(_NOT_A_TO_Z).split()


def _keyword_counts(lower: str) -> dict[str, int]:
    words = Counter(_plain_words(lower))
    counts = dict.fromkeys(_KEYWORD_GROUPS, 0)
    for word in words.keys() & _KEYWORD_WORDS:  # the few keywords present, not every keyword
        counts[_KEYWORDS[word]] += words[word]
    for phrase, group in _KEYWORD_PHRASES:
        counts[group] += lower.count(phrase)
    return counts


def signals(text: str) -> list[float]:
    """The hand-made signals of ``text``, in the order of ``SIGNAL_NAMES``."""
    n_chars = len(text)
    clipped = clip_text(text)
    n_clip = max(1, len(clipped))
    lower = clipped.lower()
    words = clipped.split()
    scale = n_chars / n_clip  # extrapolate clipped counts to the whole text
    n_words = len(words) * scale
    ascii = clipped.isascii()
    if ascii:
        non_ascii = 0
        symbols = len(clipped.translate(_ASCII_PLAIN))
    else:
        non_ascii = sum(ord(c) > 127 for c in clipped)
        symbols = sum(not (c.isalnum() or c.isspace()) for c in clipped)
    digits = n_clip - len(clipped.translate(_ASCII_DIGITS))
    upper = n_clip - len(clipped.translate(_ASCII_UPPER))
    if digits or not ascii:  # numbers and arithmetic need a digit (\d: any script)
        n_numbers = len(_NUMBER.findall(clipped))
        n_math = len(_MATH.findall(clipped))
    else:
        n_numbers = n_math = 0
    keywords = _keyword_counts(lower)
    stripped = text.rstrip()
    first = words[0].lower().strip("\"'*#:,.") if words else ""
    values = [
        _log_count(n_chars),
        math.log1p(n_words),
        _log_count(text.count("\n") + 1),
        (len("".join(words)) / len(words)) if words else 0.0,
        digits / n_clip,
        upper / n_clip,
        symbols / n_clip,
        non_ascii / n_clip,
        _log_count(clipped.count("?")),
        _log_count(clipped.count(". ") + clipped.count(".\n") + 1),
        _log_count(n_numbers),
        _log_count(sum(lower.count(m) for m in _CODE_MARKS)),
        _log_count(keywords["code_words"]),
        _log_count(n_math + sum(lower.count(m) for m in _MATH_MARKS)),
        _log_count(keywords["math_words"]),
        _log_count(keywords["reasoning_words"]),
        _log_count(keywords["constraint_words"]),
        _log_count(len(_CHOICES.findall(clipped))),
        _log_count(keywords["creative_words"]),
        _log_count(keywords["simple_edit_words"]),
        1.0 if " _ " in clipped or "___" in clipped else 0.0,
        1.0 if ":\n" in clipped else 0.0,
        1.0 if stripped.endswith("?") else 0.0,
    ]
    values.extend(1.0 if first == w else 0.0 for w in _OPENERS)
    return values


def hashed_ngrams(text: str, bits: int, orders: Sequence[int] = (1, 2)) -> dict[int, float]:
    """Bucket -> value for the word n-grams of ``text`` (present/absent, L2-normalised)."""
    mask = (1 << bits) - 1
    tokens = _WORD.findall(clip_text(text).lower())
    grams: set[str] = set()
    if 1 in orders:
        grams.update(tokens)
    if 2 in orders:
        grams.update(f"{a} {b}" for a, b in itertools.pairwise(tokens))
    if 3 in orders:
        grams.update(
            f"{a} {b} {c}" for a, b, c in zip(tokens, tokens[1:], tokens[2:], strict=False)
        )
    if not grams:
        return {}
    crc32 = zlib.crc32  # a local name: this runs for every n-gram of a scored prompt
    buckets = {crc32(gram.encode("utf-8", "surrogatepass")) & mask: None for gram in grams}
    norm = 1.0 / math.sqrt(len(buckets))
    return dict.fromkeys(buckets, norm)
