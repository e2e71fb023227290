"""``hybridllm learn``: retrain the difficulty model on the ledger's outcomes, swap it in only when
it is better on held-out recorded traffic.

Labels (1 = the cheap tier fell short), per request with recorded features:

- a reply judged too weak by its rule's ``escalate`` (status ``escalated``): 1, whatever came next;
- otherwise, answered below the strong tier (the highest ``tier`` among the deployments) with
  feedback: 1 when the score is below 0.5, else 0. A user's newest score wins over the judge's;
- answered on the strong tier (no escalation): no label. Its feedback says how the strong model
  did, not whether the cheap one would have done as well;
- no feedback and no escalation: no label (silence is not a good score).

The most recent ``holdout`` share of the labelled requests is held out; a candidate is trained on
the rest (plus the public routing data when given), starting from and regularised towards the
model in use. Both are measured on the held-out requests: APGR (strong quality 1, cheap quality
``1 - label``: the share of the gap recovered as more go to the strong side) and AUC. The candidate
is swapped in only when its APGR is higher by at least ``min_gain`` *and* higher in at least
``confidence`` of paired bootstrap resamples of the held-out set: with few or noisy labels the old
model stays.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hybridllm.learned.data import load_outcomes
from hybridllm.learned.metrics import evaluate_scores
from hybridllm.learned.model import DifficultyModel
from hybridllm.learned.record import RecordedFeatures, RecordFormatError, featurize, logit_of
from hybridllm.learned.train import Example, TrainSettings, fit
from hybridllm.ledger.learning import RecordedRequest

__all__ = [
    "Labelled",
    "LearnOptions",
    "LearnResult",
    "NotEnoughDataError",
    "label_of",
    "labelled_requests",
    "learn",
    "public_examples",
]

MIN_LABELLED = 20
L2_GRID = (0.001, 0.01, 0.1)


class NotEnoughDataError(ValueError):
    """Too few labelled requests (or only one outcome) to train and to judge a candidate."""


@dataclass(frozen=True, slots=True)
class Labelled:
    request_id: str
    ts: float
    record: RecordedFeatures
    label: int  # 1 = the cheap tier fell short
    source: str  # "escalated" | "user" | "judge"


@dataclass(frozen=True, slots=True)
class LabelCounts:
    labelled: int = 0
    strong_tier: int = 0  # answered on the strong tier without escalation: no label
    no_outcome: int = 0  # neither feedback nor escalation
    unreadable: int = 0  # features recorded by another version


def label_of(request: RecordedRequest, strong_tier: int) -> tuple[int, str] | None:
    """The request's label and where it came from, or None when it has none (see the module)."""
    if request.escalated:
        return 1, "escalated"
    if request.tier >= strong_tier or not request.feedback:
        return None
    users = [f for f in request.feedback if f.source != "judge"]
    chosen = users[-1] if users else request.feedback[-1]
    return (1 if chosen.score < 0.5 else 0), chosen.source


def labelled_requests(
    recorded: Iterable[RecordedRequest], strong_tier: int
) -> tuple[list[Labelled], LabelCounts]:
    out: list[Labelled] = []
    strong = none = unreadable = 0
    for request in recorded:
        found = label_of(request, strong_tier)
        if found is None:
            if request.tier >= strong_tier and not request.escalated:
                strong += 1
            else:
                none += 1
            continue
        try:
            record = RecordedFeatures.decode(request.features)
        except RecordFormatError:
            unreadable += 1
            continue
        out.append(Labelled(request.request_id, request.ts, record, found[0], found[1]))
    out.sort(key=lambda r: (r.ts, r.request_id))
    return out, LabelCounts(len(out), strong, none, unreadable)


@dataclass(frozen=True, slots=True)
class LearnOptions:
    holdout: float = 0.2
    min_gain: float = 0.01
    confidence: float = 0.95
    bootstrap: int = 500
    seed: int = 0
    ngram_bits: int = 18
    public_weight: float = 0.5  # public examples weigh this much in total per recorded example


@dataclass(frozen=True, slots=True)
class Figures:
    apgr: float
    auc: float


@dataclass(frozen=True, slots=True)
class LearnResult:
    candidate: DifficultyModel
    current: Figures
    new: Figures
    train: int
    held_out: int
    held_out_positives: int
    public: int
    l2: float
    win_share: float  # share of bootstrap resamples where the candidate's APGR is higher
    better: bool
    why: str
    sources: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "current": {"apgr": round(self.current.apgr, 4), "auc": round(self.current.auc, 4)},
            "candidate": {"apgr": round(self.new.apgr, 4), "auc": round(self.new.auc, 4)},
            "train": self.train,
            "held_out": self.held_out,
            "held_out_positives": self.held_out_positives,
            "public": self.public,
            "l2": self.l2,
            "win_share": round(self.win_share, 4),
            "better": self.better,
            "why": self.why,
            "labels": dict(self.sources),
        }


def apgr_of(scores: Sequence[float], labels: Sequence[int]) -> float:
    """APGR with strong quality 1 and cheap quality ``1 - label`` (needs a positive label)."""
    return evaluate_scores(scores, [1.0] * len(labels), [1.0 - y for y in labels]).apgr


def auc_of(scores: Sequence[float], labels: Sequence[int]) -> float:
    """The chance a positive scores above a negative (ties count half)."""
    ranked = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and scores[ranked[j + 1]] == scores[ranked[i]]:
            j += 1
        for t in range(i, j + 1):
            ranks[ranked[t]] = (i + j) / 2.0 + 1.0
        i = j + 1
    pos = sum(labels)
    neg = len(labels) - pos
    if pos == 0 or neg == 0:
        return 0.5
    rank_sum = sum(r for r, y in zip(ranks, labels, strict=True) if y)
    return (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg)


def _split(items: Sequence[Labelled], share: float) -> tuple[list[Labelled], list[Labelled]]:
    held = max(1, round(len(items) * share))
    return list(items[:-held]), list(items[-held:])


def _need_both(items: Sequence[Labelled], what: str) -> None:
    positives = sum(r.label for r in items)
    if positives == 0 or positives == len(items):
        only = "fell short" if positives else "did well"
        raise NotEnoughDataError(
            f"every {what} request {only} on the cheap tier: both outcomes are needed "
            f"(record more traffic and feedback, or change --holdout)"
        )


def _examples(items: Sequence[Labelled]) -> list[Example]:
    return [Example(r.record, float(r.label)) for r in items]


def _train(
    train: Sequence[Labelled],
    public: Sequence[Example],
    prior: DifficultyModel,
    options: LearnOptions,
) -> tuple[DifficultyModel, float]:
    """The candidate, with its L2 strength chosen on the most recent part of ``train``."""
    fit_part, check_part = _split(train, options.holdout)
    best_l2, best = L2_GRID[1], -1.0
    if sum(r.label for r in check_part) not in (0, len(check_part)) and len(fit_part) >= 10:
        for l2 in L2_GRID:
            settings = TrainSettings(l2=l2, ngram_bits=options.ngram_bits, seed=options.seed)
            model = fit(_weighted(fit_part, public, options), prior, settings)
            labels = [r.label for r in check_part]
            got = apgr_of([logit_of(model, r.record) for r in check_part], labels)
            if got > best + 1e-12:
                best_l2, best = l2, got
    settings = TrainSettings(l2=best_l2, ngram_bits=options.ngram_bits, seed=options.seed)
    return fit(_weighted(train, public, options), prior, settings), best_l2


def _weighted(
    items: Sequence[Labelled], public: Sequence[Example], options: LearnOptions
) -> list[Example]:
    examples = _examples(items)
    if public:
        each = options.public_weight * len(items) / len(public)
        examples += [Example(e.record, e.target, e.weight * each) for e in public]
    return examples


def _win_share(
    current: Sequence[float], new: Sequence[float], labels: Sequence[int], options: LearnOptions
) -> float:
    rng = random.Random(options.seed)
    n = len(labels)
    wins = counted = 0
    for _ in range(options.bootstrap):
        pick = [rng.randrange(n) for _ in range(n)]
        ys = [labels[i] for i in pick]
        if not any(ys):
            continue
        counted += 1
        a = apgr_of([current[i] for i in pick], ys)
        b = apgr_of([new[i] for i in pick], ys)
        wins += b > a
    return wins / counted if counted else 0.0


def learn(
    items: Sequence[Labelled],
    current: DifficultyModel,
    options: LearnOptions = LearnOptions(),
    public: Sequence[Example] = (),
) -> LearnResult:
    """Train a candidate and say whether it beats ``current`` on held-out recorded traffic."""
    if not 0.0 < options.holdout < 1.0:
        raise ValueError("the held-out share must be between 0 and 1")
    if len(items) < MIN_LABELLED:
        raise NotEnoughDataError(
            f"{len(items)} labelled requests; at least {MIN_LABELLED} are needed (feedback, "
            "escalations or judge scores on requests recorded with learning.record: true)"
        )
    train, held = _split(items, options.holdout)
    _need_both(held, "held-out")
    _need_both(train, "training")
    candidate, l2 = _train(train, public, current, options)
    labels = [r.label for r in held]
    try:
        before = [logit_of(current, r.record) for r in held]
    except ValueError as exc:
        raise NotEnoughDataError(
            f"the current model cannot score recorded requests: {exc}"
        ) from None
    after = [logit_of(candidate, r.record) for r in held]
    old = Figures(apgr_of(before, labels), auc_of(before, labels))
    new = Figures(apgr_of(after, labels), auc_of(after, labels))
    share = _win_share(before, after, labels, options)
    figures = f"held-out APGR {new.apgr:.3f} vs {old.apgr:.3f}"
    better = False
    if new.apgr - old.apgr < options.min_gain:
        why = f"{figures}: a gain below {options.min_gain:.3f}"
    elif share < options.confidence:
        why = (
            f"{figures}, but higher in only {share:.0%} of bootstrap resamples "
            f"(needs {options.confidence:.0%}): not clearly better"
        )
    else:
        better = True
        why = f"{figures}, higher in {share:.0%} of bootstrap resamples"
    sources: dict[str, int] = {}
    for r in items:
        sources[r.source] = sources.get(r.source, 0) + 1
    return LearnResult(
        candidate=candidate,
        current=old,
        new=new,
        train=len(train),
        held_out=len(held),
        held_out_positives=sum(labels),
        public=len(public),
        l2=l2,
        win_share=share,
        better=better,
        why=why,
        sources=sources,
    )


def public_examples(directory: Path, sources: object) -> list[Example]:
    """Labelled examples from the public routing data (``../shared/data/routing``), read with
    the pairs the shipped artifact lists in ``metadata.sources``; test splits are left out.

    Label: RouterBench, the weak model is wrong (1/0); Co-Bench, the judge-score gap
    ``strong - weak`` clipped to [0, 4], over 4.
    """
    out: list[Example] = []
    if not isinstance(sources, list):
        return out
    for source in sources:
        if not isinstance(source, dict):
            continue
        pair, files = source.get("pair"), source.get("files")
        if not isinstance(pair, dict) or not isinstance(files, list):
            continue
        strong, weak = str(pair.get("strong")), str(pair.get("weak"))
        for name in files:
            path = directory / str(name)
            if "_test" in str(name) or not path.is_file():
                continue
            found = load_outcomes(path, strong, weak)
            for o in found.outcomes:
                if found.metric == "judge_score":
                    target = min(4.0, max(0.0, o.strong - o.weak)) / 4.0
                else:
                    target = 1.0 - o.weak
                out.append(Example(featurize(o.prompt), target))
    return out
