"""Budget periods in UTC: a day starts at 00:00, a month on the 1st."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

__all__ = ["Period", "period_end", "period_key", "period_start"]

Period = Literal["daily", "monthly"]


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def period_start(period: Period, ts: float) -> float:
    t = _at(ts)
    if period == "daily":
        return datetime(t.year, t.month, t.day, tzinfo=UTC).timestamp()
    return datetime(t.year, t.month, 1, tzinfo=UTC).timestamp()


def period_end(period: Period, ts: float) -> float:
    t = _at(period_start(period, ts))
    if period == "daily":
        return (t + timedelta(days=1)).timestamp()
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp()


def period_key(period: Period, ts: float) -> str:
    t = _at(ts)
    return t.strftime("%Y-%m-%d") if period == "daily" else t.strftime("%Y-%m")
