from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hybridllm.errors import UsageError
from hybridllm.report import parse_since

NOW = 1_780_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1_800),
        ("12h", 43_200),
        ("7d", 604_800),
        ("4w", 2_419_200),
        ("1.5h", 5_400),
        (" 2D ", 172_800),
    ],
)
def test_a_span_counts_back_from_now(text: str, seconds: float) -> None:
    assert parse_since(text, NOW) == NOW - seconds


def test_an_iso_date_is_midnight_utc_and_an_offset_is_honoured() -> None:
    assert parse_since("2026-05-01", NOW) == datetime(2026, 5, 1, tzinfo=UTC).timestamp()
    assert (
        parse_since("2026-05-01T08:30", NOW) == datetime(2026, 5, 1, 8, 30, tzinfo=UTC).timestamp()
    )
    assert (
        parse_since("2026-05-01T10:00+02:00", NOW)
        == datetime(2026, 5, 1, 8, tzinfo=UTC).timestamp()
    )


@pytest.mark.parametrize("text", ["yesterday", "7", "7y", "-3d", "0d", "", "d7", "2026-13-01"])
def test_anything_else_is_a_usage_error_naming_the_value(text: str) -> None:
    with pytest.raises(UsageError, match="--since"):
        parse_since(text, NOW)


def test_a_moment_in_the_future_is_refused() -> None:
    with pytest.raises(UsageError, match="future"):
        parse_since("2099-01-01", NOW)
