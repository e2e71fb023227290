"""``--since``: a span back from now (``30m``, ``12h``, ``7d``, ``4w``) or an ISO date/time."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hybridllm.errors import UsageError

__all__ = ["parse_since"]

_SPAN = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", re.IGNORECASE)
_UNIT_S = {"m": 60.0, "h": 3_600.0, "d": 86_400.0, "w": 604_800.0}


def parse_since(text: str, now: float) -> float:
    """The unix time ``text`` names.

    ``30m``, ``12h``, ``7d``, ``4w``: that long before ``now``. ``2026-05-01`` or
    ``2026-05-01T08:00`` (UTC unless an offset is given): that moment. Anything else, a zero span,
    or a moment after ``now`` raises :class:`~hybridllm.errors.UsageError`.
    """
    if m := _SPAN.fullmatch(text):
        amount = float(m.group(1))
        if amount <= 0:
            raise UsageError(f"--since {text!r}: the span must be longer than zero")
        return now - amount * _UNIT_S[m.group(2).lower()]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since {text!r}: expected a span like 30m, 12h, 7d, 4w or an ISO date "
            "like 2026-05-01"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    ts = moment.timestamp()
    if ts > now:
        raise UsageError(f"--since {text!r} is in the future")
    return ts
