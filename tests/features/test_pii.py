from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridllm.features import pii
from hybridllm.features.pii import DEFAULT_DETECTORS, Finding, PiiScanner
from hybridllm.features.pii_engine import RunFinder
from hybridllm.features.pii_rules import EMAIL
from hybridllm.features.pii_secrets import SECRET_TOKEN

try:
    import hyperscan  # noqa: F401

    HAVE_HYPERSCAN = True
except ImportError:  # non-x86 machines
    HAVE_HYPERSCAN = False

ENGINES = ("hyperscan", "re2", "re") if HAVE_HYPERSCAN else ("re2", "re")
USER_PATTERNS = {
    "employee_id": r"EMP-\d{6}",
    "codename": r"Projekt Über\w+",
    "python_only_syntax": r"Z{,3}Q9",
}
SCANNERS = {engine: PiiScanner(engine=engine) for engine in ENGINES}
USER_SCANNERS = {
    engine: PiiScanner(extra_patterns=USER_PATTERNS, engine=engine) for engine in ENGINES
}
DEFAULT = PiiScanner()


def found(text: str, scanner: PiiScanner = DEFAULT) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in scanner.scan(text)]


def luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        number = prefix + d
        total = 0
        for i, ch in enumerate(reversed(number)):
            n = int(ch) * (2 if i % 2 else 1)
            total += n - 9 if n > 9 else n
        if total % 10 == 0:
            return number
    raise AssertionError("unreachable")


# --- API -------------------------------------------------------------------------------------
def test_auto_engine_prefers_hyperscan_when_available() -> None:
    assert DEFAULT.engine == ("hyperscan" if HAVE_HYPERSCAN else "re2")


def test_finding_repr_never_contains_the_value() -> None:
    text = "mail alice.smith@example.com now"
    (finding,) = DEFAULT.scan(text)
    assert finding == Finding("email", 5, 28)
    assert "alice" not in repr(finding) and "alice" not in str(finding)


def test_kinds_matches_the_kinds_of_scan() -> None:
    text = "alice@example.com, 4111 1111 1111 1111, bob@example.org, 10.1.2.3"
    assert DEFAULT.kinds(text) == {f.kind for f in DEFAULT.scan(text)}
    assert DEFAULT.kinds(text) == {"email", "credit_card", "ip_address"}


def test_scan_returns_findings_sorted_by_start() -> None:
    text = "10.0.0.1 then alice@example.com then 4111111111111111"
    starts = [f.start for f in DEFAULT.scan(text)]
    assert starts == sorted(starts) and len(starts) == 3


def test_empty_text_has_no_findings() -> None:
    assert DEFAULT.scan("") == [] and DEFAULT.kinds("") == frozenset()


def test_detectors_subset_only_runs_those_detectors() -> None:
    scanner = PiiScanner(detectors=["email"])
    text = "alice@example.com 4111 1111 1111 1111 10.0.0.1"
    assert scanner.kinds(text) == {"email"}


def test_unknown_detector_is_rejected() -> None:
    with pytest.raises(ValueError, match="passport"):
        PiiScanner(detectors=["email", "passport"])


def test_default_detectors_are_the_documented_ones() -> None:
    assert DEFAULT_DETECTORS == (
        "email", "phone", "credit_card", "iban", "ssn", "national_id", "ip_address", "api_key",
    )  # fmt: skip


def test_unknown_engine_is_rejected() -> None:
    with pytest.raises(ValueError, match="engine"):
        PiiScanner(engine="pcre")


# --- offsets ---------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINES)
def test_offsets_are_character_offsets_after_non_ascii_text(engine: str) -> None:
    text = (
        "Grüße aus Köln 😀 — 日本語のテキスト: schreib an josé.müller@example.de, "
        "Karte 4111-1111-1111-1111"
    )
    assert found(text, SCANNERS[engine]) == [
        ("email", "josé.müller@example.de"),
        ("credit_card", "4111-1111-1111-1111"),
    ]


# --- email -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", ["alice@example.com", "first.last+tag@mail.example.co.uk", "x_y-z@sub-domain.io"]
)
def test_email_is_found(value: str) -> None:
    assert found(f"Contact: {value}.") == [("email", value)]


@pytest.mark.parametrize(
    "text",
    [
        "@dataclass\nclass A: ...",
        "npm i @types/node",
        "see logo@2x.png and icon@3x.jpg",
        "git clone git@github.com:org/repo.git",
        "pip install requests==2.31.0 and foo@1.2.3",
        "user@localhost",
    ],
)
def test_email_like_code_is_not_an_email(text: str) -> None:
    assert "email" not in DEFAULT.kinds(text)


# --- credit cards ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "4111 1111 1111 1111",  # Visa
        "4111-1111-1111-1111",
        "4012888888881881",
        "5555 5555 5555 4444",  # Mastercard
        "2223003122003222",  # Mastercard 2-series
        "3782 822463 10005",  # Amex
        "6011111111111117",  # Discover
        "3530111333300000",  # JCB
        "30569309025904",  # Diners
    ],
)
def test_luhn_valid_card_with_known_issuer_is_found(value: str) -> None:
    assert found(f"card: {value} exp 12/27") == [("credit_card", value)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn fails
        "ref " + luhn_complete("911111111111111"),  # Luhn holds, no issuer starts with 9
        "order 1234567890123456789012",  # too long
        "4111 1111 11 11 1111",  # not card grouping
        "hash a4111111111111111b",  # glued to letters
    ],
)
def test_card_shaped_numbers_that_fail_validation_are_not_cards(text: str) -> None:
    assert "credit_card" not in DEFAULT.kinds(text)


def test_card_followed_by_more_digits_is_still_found() -> None:
    assert found("4111 1111 1111 1111 2027") == [("credit_card", "4111 1111 1111 1111")]


# --- phone -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "+1 415 555 2671",
        "+14155552671",
        "(415) 555-2671",
        "415-555-2671",
        "+44 20 7946 0958",
        "020 7946 0958",
        "+49 (0)30 1234567",
        "030/12345678",
        "06 12 34 56 78",
        "+33 6 12 34 56 78",
        "98765 43210",
        "+91 98765 43210",
    ],
)
def test_phone_number_is_found(value: str) -> None:
    assert found(f"call me at {value} tomorrow") == [("phone", value)]


@pytest.mark.parametrize(
    "text",
    [
        "id 4155552671",  # plain digits, no phone structure
        "order 123-456-7890",  # area code 123 does not exist
        "on 2024-01-15 at 10:30:00",
        "on 01.02.2024 10:30",
        "on 15/01/2024",
        "version 3.11.7 and 1.2.3",
        "price $1,234.56 or EUR 1.299,00",
        "SKU 12345-678",
        "SSN-shaped 078-05-1120",
    ],
)
def test_ordinary_numbers_are_not_phones(text: str) -> None:
    assert "phone" not in DEFAULT.kinds(text)


# --- IBAN ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    ["DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "GB82 WEST 1234 5698 7654 32"],
)
def test_valid_iban_is_found(value: str) -> None:
    assert found(f"IBAN: {value} thanks") == [("iban", value)]


def test_iban_followed_by_an_uppercase_word_keeps_its_own_span() -> None:
    assert found("PAY TO BE71 0961 2345 6769 AND THEN") == [("iban", "BE71 0961 2345 6769")]


@pytest.mark.parametrize(
    "text",
    ["DE89 3704 0044 0532 0130 01", "XX89 3704 0044 0532 0130 00", "AB12CDEFGHIJKLMNOP"],
)
def test_iban_shaped_garbage_is_not_an_iban(text: str) -> None:
    assert "iban" not in DEFAULT.kinds(text)


# --- SSN -------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["536-90-4399", "536 90 4399"])
def test_valid_ssn_is_found(value: str) -> None:
    assert found(f"SSN {value}.") == [("ssn", value)]


@pytest.mark.parametrize(
    "value",
    [
        "078-05-1120",  # the Woolworth wallet number: stdnum rejects it
        "219-09-9999",  # advertising number
        "000-12-3456",
        "666-12-3456",
        "912-34-5678",
        "123-00-4567",
        "123-45-0000",
        "536-90 4399",  # mixed separators
    ],
)
def test_invalid_ssn_is_not_flagged(value: str) -> None:
    assert DEFAULT.kinds(f"SSN {value}.") == frozenset()


# --- national IDs ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "12345678Z",  # ES DNI
        "X1234567L",  # ES NIE
        "AB 12 34 56 C",  # UK NINO
        "AB123456C",
        "2345 6789 0124",  # IN Aadhaar
        "2 95 10 99 126 111 93",  # FR NIR
        "295109912611193",
        "36 574 261 809",  # DE IdNr
    ],
)
def test_national_id_is_found(value: str) -> None:
    assert found(f"ID {value}.") == [("national_id", value)]


@pytest.mark.parametrize(
    "value",
    [
        "12345678A",  # wrong DNI letter
        "QQ 12 34 56 C",  # NINO prefix Q is never issued
        "AB 12 34 56 E",  # NINO suffix is A-D
        "2345 6789 0123",  # Verhoeff check fails
        "2 95 10 99 126 111 94",  # NIR key fails
        "12345678",
    ],
)
def test_invalid_national_id_is_not_flagged(value: str) -> None:
    assert DEFAULT.kinds(f"ID {value}.") == frozenset()


# --- IP addresses ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "10.0.0.1",
        "192.168.1.254",
        "8.8.8.8",
        "2001:db8::1",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "::ffff:192.0.2.1",
    ],
)
def test_ip_address_is_found(value: str) -> None:
    assert found(f"host {value}, port 80") == [("ip_address", value)]


@pytest.mark.parametrize(
    "text",
    [
        "release v1.2.3.4",
        "256.1.1.1",
        "1.2.3.4.5",
        "01.02.03.04",
        "a[1::2] and b[::-1]",
        "std::vector<int>",
        "at 12:30:45",
        "mac 00:1A:2B:3C:4D:5E",
        "loopback ::1",
    ],
)
def test_non_addresses_are_not_ip_addresses(text: str) -> None:
    assert "ip_address" not in DEFAULT.kinds(text)


PNG_DATA_URI = (
    '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42'
    'mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==">'
)


# --- secrets ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "sk-proj-abcDEF1234567890abcdefGHIJklmn",
        "sk-ant-api03-" + "aB3dE5" * 8,
        "sk-" + "a1B2c3D4" * 6,
        "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",  # a fake, split so no key shape stands here
        "AKIAIOSFODNN7EXAMPLE",
        "ASIAY34FZKBOKMUTVV7A",
        "ghp_" + "a1B2" * 9,
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "xoxb-1234567890-abcdefghij",
        "sk_live_" + "a1B2c3D4e5F6g7H8i9J0",
        "rk_live_" + "a1B2c3D4e5F6g7H8i9J0",
        "gsk_" + "abcD1234" * 4,
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ],
)
def test_provider_key_shape_is_found(value: str) -> None:
    assert found(f"use {value} please") == [("api_key", value)]


def test_private_key_block_is_found_from_begin_to_end() -> None:
    block = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        "b3BlbnNzaC1rZXktdjEAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----"
    )
    assert found(f"my key:\n{block}\nthanks") == [("api_key", block)]


@pytest.mark.parametrize(
    "text",
    [
        'OPENAI_API_KEY = "Xk9mP2qR7vT4wY6zB3nC8dF5gH1jL0sA"',  # keyword and assignment
        "api_token: 5f4dcc3b5aa765d61d8327deb882cf99a1b2c3d4",  # hex next to a keyword
        "Authorization: Bearer Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo",
        'x = "Q7mK2pW9zR4tY8vB1nC6xD3fG5hJ0kLs"',  # assignment, random base62
    ],
)
def test_high_entropy_token_in_secret_context_is_found(text: str) -> None:
    assert DEFAULT.kinds(text) == {"api_key"}


@pytest.mark.parametrize(
    "text",
    [
        "the request id was 123e4567-e89b-12d3-a456-426614174000 yesterday",  # UUID in prose
        "fixed in commit e83c5163316f89bfbde7d9ab23ca2e25604af290",  # git SHA in prose
        'sha = "e83c5163316f89bfbde7d9ab23ca2e25604af290"',  # hex, no secret keyword
        'id: "123e4567-e89b-12d3-a456-426614174000"',
        PNG_DATA_URI,
        '"thumb": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"',
        'name = "MyVeryLongComponentName2024Version"',  # identifier: one digit run
        "def test_pii_scanner_handles_unicode_text_correctly(): pass",
        "see https://github.com/org/repository-name/blob/main/src/module/file_name.py",
        "path: /Users/JohnSmith/Documents/Project2024/src/main",
        "pip install sk-learn-compatible-transformer-pipeline",
        "Pass the task-specific configuration to the constructor",
    ],
)
def test_ordinary_tokens_are_not_secrets(text: str) -> None:
    assert "api_key" not in DEFAULT.kinds(text)


# --- ordinary text ---------------------------------------------------------------------------
ORDINARY = """\
Order #12345678 (ref ORD-2024-000123) shipped on 2024-01-15 at 10:30:00 UTC; total $1,234.56.
Upgrade Python from 3.11.7 to 3.12.1 and pin numpy==1.26.4; build 20240115.1 passed.
```python
def area(r: float) -> float:
    return 3.14159 * r ** 2  # see issue 4521, PR #8890
items = data[1::2]
```
The meeting is at 9:30 in room 204; call extension 5521. Invoice 2024/0042, page 3 of 12.
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_ordinary_text_with_code_has_no_findings(engine: str) -> None:
    assert SCANNERS[engine].scan(ORDINARY) == []


# --- user patterns ---------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINES)
def test_user_pattern_findings_use_the_pattern_name(engine: str) -> None:
    text = "Ticket für EMP-123456 im Projekt Übermorgen, code ZZQ9 and Q9."
    assert found(text, USER_SCANNERS[engine]) == [
        ("employee_id", "EMP-123456"),
        ("codename", "Projekt Übermorgen"),
        ("python_only_syntax", "ZZQ9"),
        ("python_only_syntax", "Q9"),
    ]
    assert USER_SCANNERS[engine].kinds("no match here") == frozenset()


def test_invalid_user_regex_names_the_pattern_and_the_error() -> None:
    with pytest.raises(ValueError, match=r"'badge'.*missing \)"):
        PiiScanner(extra_patterns={"badge": r"BADGE-(\d+"})


def test_user_pattern_matching_empty_string_reports_only_non_empty_matches() -> None:
    scanner = PiiScanner(detectors=[], extra_patterns={"maybe": r"x*"})
    assert found("ab xx c", scanner) == [("maybe", "xx")]


# --- threads ---------------------------------------------------------------------------------
def test_scan_is_thread_safe() -> None:
    texts = [
        f"user{i}@example.com 4111 1111 1111 1111 " + ORDINARY * (i % 5) + f" 10.0.{i}.1"
        for i in range(64)
    ]
    expected = [DEFAULT.scan(t) for t in texts]
    barrier = threading.Barrier(8)

    def work(i: int) -> list[list[Finding]]:
        barrier.wait()
        return [DEFAULT.scan(t) for t in texts[i::8]]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    for i, chunk in enumerate(results):
        assert chunk == expected[i::8]


# --- properties ------------------------------------------------------------------------------
FRAGMENTS = [
    "alice@example.com", "josé@bücher.de", "4111 1111 1111 1111", "378282246310005",
    "DE89 3704 0044 0532 0130 00", "+44 20 7946 0958", "(415) 555-2671", "536-90-4399",
    "12345678Z", "AB 12 34 56 C", "10.0.0.1", "2001:db8::1", "AKIAIOSFODNN7EXAMPLE",
    "api_key = ", "Xk9mP2qR7vT4wY6zB3nC8dF5gH1jL0sA", "-----BEGIN RSA PRIVATE KEY-----",
    "EMP-123456", "Projekt Überall", " ", "-", ".", ":", "@", "+", "(", ")", "\n", "é", "0", "9",
]  # fmt: skip
texts_with_pii = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.sampled_from(FRAGMENTS),
        st.from_regex(r"[0-9 .:\-]{1,20}", fullmatch=True),
    ),
    max_size=12,
).map("".join)


@pytest.mark.skipif(len(ENGINES) < 2, reason="needs two engines")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts_with_pii)
def test_all_engines_give_identical_findings(text: str) -> None:
    results = {engine: USER_SCANNERS[engine].scan(text) for engine in ENGINES}
    kinds = {engine: USER_SCANNERS[engine].kinds(text) for engine in ENGINES}
    first = ENGINES[0]
    for engine in ENGINES[1:]:
        assert results[engine] == results[first], engine
        assert kinds[engine] == kinds[first], engine
    assert kinds[first] == {f.kind for f in results[first]}


SEPARATORS = st.sampled_from(["\n", "\t", ", ", "; ", " (", ") "])
EMBEDDED = st.sampled_from(
    [
        ("email", "alice.smith@example.com"),
        ("email", "müller@bücher.de"),
        ("credit_card", "4111 1111 1111 1111"),
        ("credit_card", "5555555555554444"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("iban", "GB82WEST12345698765432"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), SEPARATORS, EMBEDDED, SEPARATORS, st.text(max_size=80))
def test_embedded_value_is_always_found_with_its_span(
    before: str, left: str, item: tuple[str, str], right: str, after: str
) -> None:
    kind, value = item
    prefix = before + left
    text = prefix + value + right + after
    expected = Finding(kind, len(prefix), len(prefix) + len(value))
    for scanner in SCANNERS.values():
        assert expected in scanner.scan(text)
        assert kind in scanner.kinds(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_scan_never_raises_on_arbitrary_unicode(text: str) -> None:
    for scanner in USER_SCANNERS.values():
        for f in scanner.scan(text):
            assert 0 <= f.start < f.end <= len(text)
        scanner.kinds(text)


def test_scan_survives_lone_surrogates() -> None:
    text = "bad \ud800 text alice@example.com \udfff EMP-123456"
    for scanner in USER_SCANNERS.values():
        assert [f.kind for f in scanner.scan(text)] == ["email", "employee_id"]


def _regions(ends: list[int], data: bytes, region: bytes) -> set[tuple[int, int]]:
    """Widen each hit's last byte to its run of region characters, as the scanner does."""
    run = re.compile(b"[" + region + b"]*")
    rev, size = data[::-1], len(data)
    out = set()
    for end in ends:
        p = end - 1
        left, right = run.match(rev, size - 1 - p), run.match(data, p)
        assert left is not None and right is not None
        out.add((size - left.end(), right.end()))
    return out


token_texts = st.lists(
    st.one_of(
        st.from_regex(r"[A-Za-z0-9+/_\-]{25,70}", fullmatch=True),
        st.sampled_from([" ", "\n", ".", "=", "@", "?", "a@b.cd", "x" * 32]),
        st.text(alphabet="ab+/-_ .@9", max_size=40),
    ),
    max_size=10,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(token_texts)
def test_side_finders_give_the_regions_of_their_engine_patterns(text: str) -> None:
    """The long-token and e-mail candidates skip the multi-pattern pass (they are found with a
    substring search and an "@" check); their regions must be the ones the pattern gives."""
    data = text.encode("ascii")
    for rule, finder in ((SECRET_TOKEN, pii._token_runs), (EMAIL, pii._email_candidates)):
        by_pattern = [m.end() for m in re.finditer(rule.engine[0].encode(), data)]
        assert _regions(finder(data), data, rule.region) == _regions(
            by_pattern, data, rule.region
        ), rule.kind


@settings(max_examples=200, deadline=None)
@given(token_texts)
def test_long_token_runs_are_the_same_without_the_hyperscan_first_run_finder(text: str) -> None:
    """The first-run finder only says where to start looking: without hyperscan (it answers 0,
    search from the start) the runs found are the same."""
    data = text.encode("ascii")
    with_finder = pii._token_runs(data)
    saved = pii._FIRST_TOKEN_RUN
    pii._FIRST_TOKEN_RUN = _NoHyperscan()
    try:
        assert pii._token_runs(data) == with_finder
    finally:
        pii._FIRST_TOKEN_RUN = saved


class _NoHyperscan:
    """What RunFinder answers where hyperscan is missing: search from the start."""

    def first_start(self, data: bytes) -> int:
        return 0


@pytest.mark.skipif(not HAVE_HYPERSCAN, reason="hyperscan is x86-64 only")
def test_first_run_finder_gives_the_start_of_the_first_long_run_or_none() -> None:
    finder = RunFinder(SECRET_TOKEN.region, 32)
    assert finder.first_start(b"plain prose, with words of ordinary length only. " * 50) == -1
    token = b"A" * 31 + b"=" + b"sk-" + b"x" * 40  # 31 is one short; the run after "=" counts
    assert finder.first_start(b"key: " + token + b" end") == len(b"key: ") + 32
    assert finder.first_start(b"z" * 32) == 0
    assert finder.first_start(b"") == -1
