"""The difficulty threshold that sends a given share of traffic to the strong side.

As RouteLLM's threshold calibration: score a sample of prompts, and take the threshold at the
``1 - share`` quantile, so that a rule ``difficulty: ">t"`` holds for ``share`` of them. The
threshold printed is the shortest decimal that splits the sample exactly there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Calibration", "calibrate_threshold"]


@dataclass(frozen=True, slots=True)
class Calibration:
    """A threshold, and the share of the sample whose score is above it."""

    threshold: float
    text: str  # the threshold as printed in the rule
    requested_share: float
    achieved_share: float
    n: int

    def rule_snippet(self) -> str:
        return f'when: {{difficulty: ">{self.text}"}}'


def _decimal_between(low: float, high: float) -> str:
    """The shortest decimal string ``r`` with ``low <= r < high`` (``low < high``)."""
    for places in range(1, 10):
        step = 10.0**-places
        candidate = math.ceil(low / step - 1e-9) * step
        if low <= candidate < high:
            return f"{candidate:.{places}f}"
    return repr(low)


def calibrate_threshold(scores: Sequence[float], strong_share: float) -> Calibration:
    """The threshold above which ``strong_share`` of ``scores`` lie (as near as ties allow)."""
    if not 0.0 <= strong_share <= 1.0:
        raise ValueError("the strong share must be between 0 and 1")
    n = len(scores)
    if n == 0:
        raise ValueError("no prompts to calibrate on")
    ranked = sorted(scores, reverse=True)
    k = round(strong_share * n)  # how many go to the strong side
    if k >= n:
        text = _decimal_between(ranked[-1] - 1.0, ranked[-1])
    else:
        while k > 0 and ranked[k - 1] == ranked[k]:  # a tie at the cut goes to the cheap side
            k -= 1
        if k == 0:
            text = _decimal_between(ranked[0], ranked[0] + 1.0)
        else:
            text = _decimal_between(ranked[k], ranked[k - 1])
    threshold = float(text)
    achieved = sum(s > threshold for s in scores) / n
    return Calibration(threshold, text, strong_share, achieved, n)
