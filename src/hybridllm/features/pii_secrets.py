"""Secret rules (kind ``api_key``): provider key shapes, private-key blocks, high-entropy tokens.

The generic high-entropy rule is a trade-off between leaking a secret to a cloud model and
sending ordinary code to the local tier. A token is a run of ``[A-Za-z0-9+/_-]`` of 32 or more
characters (base64, base64url, hex, provider keys); it is a secret only in one of two contexts:

* **keyword**: ``key``/``token``/``secret``/``password``/``pwd``/``credential``/``bearer``/
  ``auth`` occurs earlier on the same line, within 48 characters. Then two character classes
  (of upper, lower, digit) and a Shannon entropy of at least 3.0 bits/char suffice. Random hex
  of 32 characters measures 3.62 bits/char at the median and 3.14 at the 0.1th percentile, so
  hex secrets (and, knowingly, a UUID or git SHA labelled as a key or token) are flagged;
  ``deadbeef...`` (2.2) and ``aaaa...`` are not.
* **assignment**: the token directly follows ``=`` or ``:`` (``FOO="..."``, ``"x": "..."``,
  ``x: ...``). Without a keyword we ask much more: upper, lower *and* digits, digits in at
  least two separate runs, no ``/`` (paths, URLs), at most 256 characters (inline images are
  longer), and at least 4.0 bits/char. Random base62/base64 tokens of 32 characters measure
  4.55 at the median and 4.05 at the 0.1th percentile, while long identifiers
  (``MyVeryLongComponentName2024Version``: 4.09, one digit run) are not flagged. UUIDs and hex
  SHAs have no upper case, so they are never flagged in this context.

Anything else (a UUID or SHA in prose, a data-URI image, a long URL path) is not a secret.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from hybridllm.features.pii_rules import Rule, Span, regex_extract, when

__all__ = ["RULES"]

_BOUND = r"(?<![A-Za-z0-9])"
_KEYS = re.compile(
    _BOUND + r"(?:sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,}"
    r"|[sr]k_live_[A-Za-z0-9]{16,}"
    r"|AIza[0-9A-Za-z_\-]{35}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36,}"
    r"|github_pat_[A-Za-z0-9_]{22,}"
    r"|xox[bpar]-[A-Za-z0-9\-]{10,}"
    r"|gsk_[A-Za-z0-9]{20,}"
    r"|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*)"
    r"(?![A-Za-z0-9])"
)


def _key_ok(value: str) -> bool:
    if not value.startswith("sk-"):
        return True
    # "sk-learn-compatible-transformer" is prose; a key body mixes letters and digits.
    body = value[3:]
    return any(c.isdigit() for c in body) and any(c.isalpha() for c in body)


KEYS = Rule(
    "api_key",
    (
        r"sk-[A-Za-z0-9_\-]{20}",
        r"[sr]k_live_[A-Za-z0-9]{16}",
        r"AIza[0-9A-Za-z_\-]{35}",
        r"(?:AKIA|ASIA)[0-9A-Z]{16}",
        r"gh[pousr]_[A-Za-z0-9]{36}",
        r"github_pat_[A-Za-z0-9_]{22}",
        r"xox[bpar]-[A-Za-z0-9\-]{10}",
        r"gsk_[A-Za-z0-9]{20}",
        r"eyJ[A-Za-z0-9_\-]{8}[A-Za-z0-9_\-]*\.eyJ[A-Za-z0-9_\-]{8}",
    ),
    rb"A-Za-z0-9_.\-",
    regex_extract((_KEYS, when(_key_ok))),
)

_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")


def _pem_span(text: str, m: re.Match[str]) -> Span:
    end = _PEM_END.search(text, m.end(), m.end() + 65536)
    return m.start(), end.end() if end is not None else m.end()


PRIVATE_KEY = Rule(
    "api_key",
    (r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY",),
    rb"A-Z0-9 \-",
    regex_extract((_PEM_BEGIN, _pem_span)),
)

_KEYWORDS = ("key", "token", "secret", "passw", "pwd", "credential", "bearer", "auth")
_DIGIT_RUN = re.compile(r"[0-9]+")
_IMAGE_MAGIC = ("iVBORw0KGgo", "/9j/", "R0lGOD", "UklGR", "PHN2Zy")
MIN_TOKEN = 32
KEYWORD_MIN_BITS = 3.0
ASSIGNED_MIN_BITS = 4.0
ASSIGNED_MAX_LEN = 256


def _bits_per_char(value: str) -> float:
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def _secret_token(text: str, start: int, end: int) -> list[Span]:
    # Context first: most long tokens (hashes, UUIDs, paths) have none and stop here.
    before = text[max(0, start - 48) : start].rpartition("\n")[2]
    lowered = before.lower()
    keyword = any(k in lowered for k in _KEYWORDS)
    if not keyword and not before.rstrip(" \t\"'`").endswith(("=", ":")):
        return []
    token = text[start:end]
    if before.endswith("base64,") or token.startswith(_IMAGE_MAGIC):  # inline images
        return []
    # Class presence at C speed: casing changes a token iff it has letters of the other case.
    upper = token.lower() != token
    lower = token.upper() != token
    digit = _DIGIT_RUN.search(token) is not None
    if keyword:
        ok = upper + lower + digit >= 2 and _bits_per_char(token) >= KEYWORD_MIN_BITS
    else:
        ok = (
            upper
            and lower
            and digit
            and "/" not in token
            and len(token) <= ASSIGNED_MAX_LEN
            and len(_DIGIT_RUN.findall(token)) >= 2
            and _bits_per_char(token) >= ASSIGNED_MIN_BITS
        )
    return [(start, end)] if ok else []


# The candidate is a run of at least 32 token characters, reported once per run: the engine
# pattern also takes the character before the run (or the start of the text).
SECRET_TOKEN = Rule(
    "api_key",
    (rf"(?:^|[^A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{{{MIN_TOKEN}}}",),
    rb"A-Za-z0-9+/_\-",
    _secret_token,
)

RULES: tuple[Rule, ...] = (KEYS, PRIVATE_KEY, SECRET_TOKEN)
