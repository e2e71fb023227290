"""Routing quality as in RouteLLM: the performance-gap-recovered curve, APGR and CPT.

Given per-prompt quality of a strong and a weak model and a router's "needs the strong model"
score, sort the prompts by score (highest first) and send the top ``k`` of ``n`` to the strong
model. The quality reached is ``q(k) = (sum of weak + gain of the top k) / n`` where a prompt's
gain is ``strong - weak``, so the performance gap recovered is

    PGR(k / n) = (q(k) - q_weak) / (q_strong - q_weak) = cumulative gain(k) / total gain.

The curve joins the points ``(k / n, PGR)`` with straight lines. Prompts with equal scores are
routed in an unspecified order, so within a run of ties the curve takes the expected value over
that order: the straight line across the run. A constant router is therefore exactly the random
router (PGR(f) = f, APGR = 0.5). APGR is the area under the curve over f in [0, 1]; CPT(x) is the
smallest share of strong calls at which the curve reaches x.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "RoutingMetrics",
    "apgr",
    "cpt",
    "evaluate_scores",
    "pgr_curve",
    "random_baseline",
]


@dataclass(frozen=True, slots=True)
class RoutingMetrics:
    """APGR and CPT of one router on one data set (shares in [0, 1])."""

    apgr: float
    cpt50: float
    cpt80: float
    n: int

    def to_json(self) -> dict[str, float | int]:
        return {
            "apgr": round(self.apgr, 4),
            "cpt50": round(self.cpt50, 4),
            "cpt80": round(self.cpt80, 4),
            "n": self.n,
        }


def pgr_curve(
    scores: Sequence[float], strong: Sequence[float], weak: Sequence[float]
) -> list[tuple[float, float]]:
    """The PGR curve's corners ``(share of strong calls, PGR)``, from (0, 0) to (1, 1).

    Raises ValueError when the lengths differ, the data is empty, or the strong model is not
    better than the weak one on average (PGR is then undefined).
    """
    n = len(scores)
    if n == 0 or len(strong) != n or len(weak) != n:
        raise ValueError("scores, strong and weak must be non-empty and of equal length")
    total_gain = sum(strong) - sum(weak)
    if total_gain <= 0:
        raise ValueError("the strong model is not better than the weak one on this data")
    order = sorted(range(n), key=lambda i: -scores[i])
    points = [(0.0, 0.0)]
    cum = 0.0
    i = 0
    while i < n:
        j = i
        value = scores[order[i]]
        while j < n and scores[order[j]] == value:
            cum += strong[order[j]] - weak[order[j]]
            j += 1
        points.append((j / n, cum / total_gain))  # ties: the straight line across the run
        i = j
    return points


def apgr(points: Sequence[tuple[float, float]]) -> float:
    """The area under a PGR curve (trapezoids between its corners)."""
    area = 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        area += (x1 - x0) * (y0 + y1) / 2.0
    return area


def cpt(points: Sequence[tuple[float, float]], target: float) -> float:
    """The smallest share of strong calls at which the curve reaches ``target`` PGR."""
    if points[0][1] >= target:
        return points[0][0]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if y1 >= target:
            if y1 == y0:
                return x1
            return x0 + (x1 - x0) * (target - y0) / (y1 - y0)
    return 1.0


def evaluate_scores(
    scores: Sequence[float], strong: Sequence[float], weak: Sequence[float]
) -> RoutingMetrics:
    """APGR, CPT(50%) and CPT(80%) of the router that gave ``scores``."""
    points = pgr_curve(scores, strong, weak)
    return RoutingMetrics(
        apgr=apgr(points), cpt50=cpt(points, 0.5), cpt80=cpt(points, 0.8), n=len(scores)
    )


def random_baseline(
    strong: Sequence[float], weak: Sequence[float], rounds: int = 200, seed: int = 0
) -> RoutingMetrics:
    """The mean metrics of ``rounds`` seeded random routers (APGR close to 0.5)."""
    rng = random.Random(seed)
    n = len(strong)
    runs: list[RoutingMetrics] = []
    draw: Callable[[], float] = rng.random
    for _ in range(rounds):
        runs.append(evaluate_scores([draw() for _ in range(n)], strong, weak))
    return RoutingMetrics(
        apgr=sum(r.apgr for r in runs) / rounds,
        cpt50=sum(r.cpt50 for r in runs) / rounds,
        cpt80=sum(r.cpt80 for r in runs) / rounds,
        n=n,
    )
