"""The built-in PII and secret rules: cheap candidate patterns, then validation in Python.

Each rule has three parts:

* ``engine``: candidate patterns in the regex subset hyperscan, re2 and ``re`` share, run over
  the scanner's buffer (ASCII; every non-ASCII character is one ``?`` byte, so byte offsets are
  character offsets);
* ``region``: a character class. A hit is widened to the maximal run of class characters
  around its last byte. Every engine pattern only matches class characters (the long-token
  pattern also matches the one character before a run), so a match never spans two runs, and
  any engine that finds *some* match in a run finds the run: hyperscan (every match) and
  re2/``re`` (leftmost, non-overlapping) yield the same regions, hence the same findings;
* ``extract``: exact patterns and validators over the real text of a region.

Values never leave this module: extractors return spans only.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from stdnum import iban as _iban
from stdnum.de import idnr as _idnr
from stdnum.es import dni as _dni
from stdnum.es import nie as _nie
from stdnum.fr import nir as _nir
from stdnum.in_ import aadhaar as _aadhaar
from stdnum.us import ssn as _ssn

__all__ = ["RULES", "Check", "Rule", "Span", "memo", "regex_extract", "when"]

Span = tuple[int, int]
Extract = Callable[[str, int, int], list[Span]]
Check = Callable[[str, "re.Match[str]"], Span | None]


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    engine: tuple[str, ...]
    region: bytes  # body of a bytes character class
    extract: Extract


def regex_extract(*checks: tuple[re.Pattern[str], Check]) -> Extract:
    """Run exact patterns over a region; each match is kept if its check returns a span."""

    def extract(text: str, start: int, end: int) -> list[Span]:
        # endpos one past the region lets look-aheads see the (non-class) next character.
        stop = end + 1 if end < len(text) else end
        found: list[Span] = []
        for pattern, check in checks:
            for m in pattern.finditer(text, start, stop):
                span = check(text, m)
                if span is not None:
                    found.append(span)
        return found

    return extract


def memo(fn: Callable[[str], bool]) -> Callable[[str], bool]:
    """Remember the verdicts of a slow validator (phonenumbers, stdnum.iban: 20-30 us each).

    The same contact details recur in every request that shares a system prompt. Keys are
    ``hash(value)`` (salted per process), so the cache holds no values; it is bounded by
    clearing, and plain dict operations keep it safe across threads.
    """
    cache: dict[int, bool] = {}

    def check(value: str) -> bool:
        key = hash(value)
        verdict = cache.get(key)
        if verdict is None:
            verdict = fn(value)
            if len(cache) >= 4096:
                cache.clear()
            cache[key] = verdict
        return verdict

    return check


def when(ok: Callable[[str], bool]) -> Check:
    return lambda _text, m: m.span() if ok(m.group()) else None


# --- email -------------------------------------------------------------------------------
_EMAIL = re.compile(
    r"(?<![\w.%+\-])[\w%+\-](?:[\w.%+\-]{0,62}[\w%+\-])?@"
    r"(?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}(?![\w\-])"
)
# ``logo@2x.png`` is an asset name; ``git@github.com`` an SSH remote, not a person.
_NOT_TLD = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff"})


def _email_ok(value: str) -> bool:
    local, _, domain = value.rpartition("@")
    return (
        ".." not in local
        and local.lower() != "git"
        and len(value) <= 254
        and domain.rpartition(".")[2].lower() not in _NOT_TLD
    )


EMAIL = Rule(
    "email",
    (r"[A-Za-z0-9._%+?\-]@[A-Za-z0-9?.\-]*[A-Za-z0-9?\-]\.[A-Za-z?]{2}",),
    rb"A-Za-z0-9._%+?@\-",
    regex_extract((_EMAIL, when(_email_ok))),
)

# --- credit card -------------------------------------------------------------------------
# (low, high) of a prefix, and the lengths issued under it.
_IIN: tuple[tuple[int, int, frozenset[int]], ...] = tuple(
    (lo, hi, frozenset(lengths))
    for lo, hi, lengths in (
        (4, 4, (13, 16, 19)),  # Visa
        (51, 55, (16,)),  # Mastercard
        (2221, 2720, (16,)),  # Mastercard 2-series
        (34, 34, (15,)),  # Amex
        (37, 37, (15,)),
        (6011, 6011, range(16, 20)),  # Discover
        (644, 649, range(16, 20)),
        (65, 65, range(16, 20)),
        (300, 305, range(14, 20)),  # Diners
        (3095, 3095, range(14, 20)),
        (36, 36, range(14, 20)),
        (38, 39, range(14, 20)),
        (3528, 3589, range(16, 20)),  # JCB
        (62, 62, range(16, 20)),  # UnionPay
        (2200, 2204, range(16, 20)),  # Mir
        (60, 60, (16,)),  # RuPay
        (81, 82, (16,)),
        (508, 508, (16,)),
        (5018, 5018, range(13, 20)),  # Maestro
        (5020, 5020, range(13, 20)),
        (5038, 5038, range(13, 20)),
        (5893, 5893, range(13, 20)),
        (6304, 6304, range(13, 20)),
        (6759, 6759, range(13, 20)),
        (6761, 6763, range(13, 20)),
    )
)


def _luhn(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_ok(number: str) -> bool:
    n = len(number)
    for lo, hi, lengths in _IIN:
        if n in lengths and lo <= int(number[: len(str(lo))]) <= hi:
            return _luhn(number)
    return False


_DIGIT_RUN = re.compile(r"[0-9]+")


def _is_word(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] == "_")


def _card_at(text: str, groups: list[Span], i: int, end: int) -> int | None:
    """Index of the last digit group of a valid card starting at group ``i``, if any."""
    g0, g1 = groups[i]
    if _is_word(text, g0 - 1):
        return None
    if 13 <= g1 - g0 <= 19:
        return i if not _is_word(text, g1) and _card_ok(text[g0:g1]) else None
    if g1 - g0 != 4 or g1 >= end:
        return None
    sep, number, j = text[g1], text[g0:g1], i
    while j + 1 < len(groups):
        n0, n1 = groups[j + 1]
        if n0 != groups[j][1] + 1 or text[n0 - 1] != sep or not 3 <= n1 - n0 <= 6:
            return None
        number += text[n0:n1]
        j += 1
        if len(number) > 19:
            return None
        if len(number) >= 13 and not _is_word(text, n1) and _card_ok(number):
            return j
    return None


def _cards(text: str, start: int, end: int) -> list[Span]:
    """13-19 digits: one run, or groups (the first of 4, then 3-6) joined by one ' ' or '-'."""
    groups = [m.span() for m in _DIGIT_RUN.finditer(text, start, end)]
    found: list[Span] = []
    i = 0
    while i < len(groups):
        last = _card_at(text, groups, i, end)
        if last is None:
            i += 1
        else:
            found.append((groups[i][0], groups[last][1]))
            i = last + 1
    return found


# Candidates: 13+ digits (single separators allowed) after a non-word character. The national
# ID rule shares this pattern (French NIR is 15 digits).
LONG_DIGITS = r"(?:^|[^0-9A-Za-z_])[0-9](?:[ \-]?[0-9]){12}"
CARD = Rule("credit_card", (LONG_DIGITS,), rb"0-9 \-", _cards)

# --- phone -------------------------------------------------------------------------------
_PHONE_LEFT = r"(?<![0-9A-Za-z_+])(?<![0-9][ .\-/])"
_PHONE_RIGHT = r"(?![0-9A-Za-z_]|[.\-/][0-9])"
_PHONE = re.compile(
    _PHONE_LEFT + r"(?:(?P<intl>\+[1-9][0-9]{0,2}(?:[ .\-]?(?:\([0-9]{1,4}\)|[0-9]{1,5})){1,7})"
    r"|(?P<nanp>(?:1[ .\-])?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .\-])[0-9]{3}[ .\-][0-9]{4})"
    r"|(?P<in>[6-9][0-9]{4}[ \-][0-9]{5})"
    r"|(?P<trunk>(?:\(0[0-9]{1,4}\)|0[0-9]{1,4})(?:[ .\-/]{1,2}[0-9]{2,8}){1,4}))" + _PHONE_RIGHT
)
# Not phones: a date ("01.02.2024 10"), or the US SSN layout ("078-05-1120").
_NOT_PHONE = re.compile(
    r"\(?[0-9]{1,2}[./\-][0-9]{1,2}[./\-](?:19|20)[0-9]{2}(?![0-9])"
    r"|[0-9]{3}([ \-])[0-9]{2}\1[0-9]{4}$"
)
_LAST_GROUP = re.compile(r"[ .\-/()]+[0-9]+\)?$")


# Per shape: default regions to try, and the digit count range (country code included).
_PHONE_SHAPES: dict[str, tuple[tuple[str | None, ...], int, int]] = {
    "intl": ((None,), 8, 15),
    "nanp": (("US",), 10, 11),
    "in": (("IN",), 10, 10),
    "trunk": (("GB", "DE", "FR", "IN"), 9, 13),
}


@memo
def _phone_valid(key: str) -> bool:
    region, _, value = key.partition("|")
    try:
        parsed = phonenumbers.parse(value, None if region == "None" else region)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(parsed))


def _phone_check(_text: str, m: re.Match[str]) -> Span | None:
    regions, lo, hi = _PHONE_SHAPES[m.lastgroup or "intl"]
    value = m.group()
    if regions[0] is not None and _NOT_PHONE.match(value):
        return None
    for _ in range(3):  # a greedy match may have taken a trailing number: drop groups
        n = sum(c.isdigit() for c in value)
        if n < lo:
            return None
        if n <= hi and any(_phone_valid(f"{region}|{value}") for region in regions):
            return m.start(), m.start() + len(value)
        cut = _LAST_GROUP.search(value)
        if cut is None:
            return None
        value = value[: cut.start()]
    return None


PHONE = Rule(
    "phone",
    (
        r"\+[1-9][0-9 .\-()]{6}",
        r"[0-9]{3}[ .\-)]{1,2}[0-9]{3}[ .\-][0-9]{4}",
        r"[6-9][0-9]{4}[ \-][0-9]{5}",
        r"(?:^|[^0-9])0[0-9]{1,4}\)?[ .\-/]{1,2}[0-9]{2}[0-9 .\-/]{4}",
    ),
    rb"0-9 .()/+\-",
    regex_extract((_PHONE, _phone_check)),
)

# --- IBAN --------------------------------------------------------------------------------
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}"
    r"(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)(?![A-Za-z0-9])"
)


_iban_valid = memo(lambda value: bool(_iban.is_valid(value)))


def _iban_check(_text: str, m: re.Match[str]) -> Span | None:
    value = m.group()
    while len(value) >= 15:  # "... 0130 00 AND": drop trailing groups until it validates
        if _iban_valid(value):
            return m.start(), m.start() + len(value)
        if " " not in value:
            return None
        value = value.rpartition(" ")[0]
    return None


IBAN = Rule(
    "iban",
    (r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}",),
    rb"A-Z0-9 ",
    regex_extract((_IBAN, _iban_check)),
)

# --- US SSN ------------------------------------------------------------------------------
_SSN = re.compile(
    r"(?<![0-9A-Za-z_\-])(?<![0-9] )[0-9]{3}([ \-])[0-9]{2}\1[0-9]{4}(?![0-9A-Za-z_]|[ \-][0-9])"
)
SSN = Rule(
    "ssn",
    (r"[0-9]{3}[ \-][0-9]{2}[ \-][0-9]{4}",),
    rb"0-9 \-",
    regex_extract((_SSN, when(lambda v: bool(_ssn.is_valid(v.replace(" ", "-")))))),
)

# --- other national IDs ------------------------------------------------------------------
# python-stdnum 2.2 has no UK NINO module; the NINO rules are short enough to state here.
_NINO_BAD_PREFIX = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def _nino_ok(value: str) -> bool:
    p = value[:2]
    return p[0] not in "DFIQUV" and p[1] not in "DFIOQUV" and p not in _NINO_BAD_PREFIX


def _bounded(body: str) -> re.Pattern[str]:
    return re.compile(r"(?<![A-Za-z0-9])(?<![0-9][ \-])" + body + r"(?![A-Za-z0-9]|[ \-][0-9])")


def _dni_or_nie(value: str) -> bool:
    return bool(_dni.is_valid(value) or _nie.is_valid(value))


NATIONAL_ID = Rule(
    "national_id",
    (
        r"[0-9]{8}-?[A-Z]",  # ES DNI
        r"[XYZ]-?[0-9]{7}-?[A-Z]",  # ES NIE
        r"[A-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]",  # UK NINO
        r"[2-9][0-9]{3}[ \-][0-9]{4}[ \-][0-9]{4}",  # IN Aadhaar, grouped
        LONG_DIGITS,  # FR NIR
        r"2[AB] ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}",  # FR NIR, Corsica
        r"[1-9][0-9] [0-9]{3} [0-9]{3} [0-9]{3}",  # DE IdNr, grouped
    ),
    rb"A-Z0-9 \-",
    regex_extract(
        (_bounded(r"(?:[XYZ]-?[0-9]{7}|[0-9]{8})-?[A-Z]"), when(_dni_or_nie)),
        (_bounded(r"[A-Z]{2}( ?)[0-9]{2}\1[0-9]{2}\1[0-9]{2}\1[A-D]"), when(_nino_ok)),
        (_bounded(r"[2-9][0-9]{3}([ \-])[0-9]{4}\1[0-9]{4}"), when(_aadhaar.is_valid)),
        (_bounded(r"[12][0-9]{4}(?:[0-9]{2}|2[AB])[0-9]{8}"), when(_nir.is_valid)),
        (
            _bounded(r"[12](?: [0-9]{2}){2} (?:[0-9]{2}|2[AB]) [0-9]{3} [0-9]{3} [0-9]{2}"),
            when(_nir.is_valid),
        ),
        (_bounded(r"[1-9][0-9] [0-9]{3} [0-9]{3} [0-9]{3}"), when(_idnr.is_valid)),
    ),
)

# --- IP addresses ------------------------------------------------------------------------
# IPv4: every dotted quad that ``ipaddress`` accepts, except a version string ("v1.2.3.4").
_IPV4 = re.compile(r"(?<![0-9.vV])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9]|\.[0-9])")
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z_:.])(?:[0-9A-Fa-f]{0,4}:){2,7}"
    r"(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{1,4})?(?![0-9A-Za-z_:]|\.[0-9])"
)


def _ipv4_ok(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def _ipv6_ok(value: str) -> bool:
    # At least three non-empty groups: "::1", "fe80::1" and slices like "a[1::2]" are not
    # someone's address; a full or "2001:db8::1"-style address is.
    groups = sum(1 for g in value.split(":") if g) + value.count(".") // 3
    if groups < 3:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


IP_V4 = Rule(
    "ip_address",
    (r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}",),
    rb"0-9.",
    regex_extract((_IPV4, when(_ipv4_ok))),
)
IP_V6 = Rule(
    "ip_address",
    (  # three groups or more: around "::", before or after it, or six of them without it
        r"[0-9A-Fa-f]::[0-9A-Fa-f]",
        r":[0-9A-Fa-f]{1,4}::",
        r"::[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]",
        r"(?:[0-9A-Fa-f]{1,4}:){6}",
    ),
    rb"0-9A-Fa-f:.",
    regex_extract((_IPV6, when(_ipv6_ok))),
)

RULES: tuple[Rule, ...] = (EMAIL, CARD, PHONE, IBAN, SSN, NATIONAL_ID, IP_V4, IP_V6)
