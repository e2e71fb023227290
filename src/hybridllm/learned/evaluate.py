"""A router's quality on per-prompt outcomes, beside the prompt-length and random baselines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hybridllm.learned.data import Outcome
from hybridllm.learned.metrics import RoutingMetrics, evaluate_scores, random_baseline

__all__ = ["RouterReport", "evaluate_router"]


@dataclass(frozen=True, slots=True)
class RouterReport:
    """The router's metrics and both baselines', on one data set."""

    router: RoutingMetrics
    length: RoutingMetrics
    random: RoutingMetrics
    n: int
    strong_quality: float  # mean quality of the strong model alone
    weak_quality: float

    def to_json(self) -> dict[str, object]:
        return {
            "n": self.n,
            "strong_quality": round(self.strong_quality, 4),
            "weak_quality": round(self.weak_quality, 4),
            "router": self.router.to_json(),
            "length": self.length.to_json(),
            "random": self.random.to_json(),
        }


def evaluate_router(outcomes: Sequence[Outcome], score: Callable[[str], float]) -> RouterReport:
    """Score every prompt with ``score`` and measure APGR, CPT(50%), CPT(80%).

    The length baseline sends the longest prompts to the strong model; the random baseline is
    the mean of 200 seeded random routers. Raises ValueError when the strong model is not better
    than the weak one on this data.
    """
    strong = [o.strong for o in outcomes]
    weak = [o.weak for o in outcomes]
    n = len(outcomes)
    if n == 0:
        raise ValueError("no usable outcomes (both models need a value on a line)")
    return RouterReport(
        router=evaluate_scores([score(o.prompt) for o in outcomes], strong, weak),
        length=evaluate_scores([float(len(o.prompt)) for o in outcomes], strong, weak),
        random=random_baseline(strong, weak),
        n=n,
        strong_quality=sum(strong) / n,
        weak_quality=sum(weak) / n,
    )
