"""A small logistic-regression trainer over recorded features: pure Python, deterministic.

What ``hybridllm learn`` fits, with the base install only (no numpy, no scikit-learn):

- inputs: the 45 signals, standardised on the training set, and the hashed word n-grams folded
  to ``ngram_bits`` (L2-normalised, as the model reads them);
- loss: weighted log loss on a target in [0, 1] (soft labels allowed), plus an L2 penalty that
  pulls every weight towards a *prior* model (the one in use: its weights are what the shipped
  data, or the last retrain, taught), so little data moves the model little;
- optimiser: a few epochs of Adagrad over the examples in a seeded shuffled order; the penalty is
  applied as a proximal step per coordinate (stable for rare n-grams, whose penalty is scaled
  to count once per epoch). The intercept is not penalised.

The result is exported in the artifact format of :class:`~hybridllm.learned.model.DifficultyModel`
(signal scaling folded into the weights, n-gram weights sparse).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hybridllm.learned import features
from hybridllm.learned.model import ARTIFACT_FORMAT, DifficultyModel
from hybridllm.learned.record import RECORD_ORDERS, RecordedFeatures, ngram_values

__all__ = ["Example", "TrainSettings", "artifact", "fit"]


@dataclass(frozen=True, slots=True)
class Example:
    record: RecordedFeatures
    target: float  # 1 = the cheap tier falls short; soft targets in between are allowed
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class TrainSettings:
    l2: float = 0.01  # pull towards the prior, per unit of (mean) example weight
    epochs: int = 10
    learning_rate: float = 0.3
    ngram_bits: int = 18
    seed: int = 0


@dataclass(slots=True)
class _Params:
    intercept: float
    signal: list[float]
    ngram: dict[int, float] = field(default_factory=dict)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _scaling(examples: Sequence[Example]) -> tuple[list[float], list[float]]:
    n = len(examples)
    k = len(features.SIGNAL_NAMES)
    mean = [math.fsum(e.record.signals[j] for e in examples) / n for j in range(k)]
    std = []
    for j in range(k):
        var = math.fsum((e.record.signals[j] - mean[j]) ** 2 for e in examples) / n
        std.append(math.sqrt(var) if var > 1e-18 else 1.0)
    return mean, std


def _prior(
    prior: DifficultyModel | None, mean: Sequence[float], std: Sequence[float], bits: int
) -> _Params:
    """The prior's weights in the standardised space of this training set."""
    k = len(mean)
    if prior is None:
        return _Params(0.0, [0.0] * k)
    raw = list(prior.signal_weight) or [0.0] * k
    intercept = prior.intercept + math.fsum(w * m for w, m in zip(raw, mean, strict=True))
    ngram: dict[int, float] = {}
    if prior.ngram_bits == bits and tuple(prior.ngram_orders) == RECORD_ORDERS:
        ngram = dict(prior.ngram_weight)
    return _Params(intercept, [w * s for w, s in zip(raw, std, strict=True)], ngram)


def fit(
    examples: Sequence[Example],
    prior: DifficultyModel | None = None,
    settings: TrainSettings = TrainSettings(),
) -> DifficultyModel:
    """A model trained on ``examples``, starting from and pulled towards ``prior``."""
    if not examples:
        raise ValueError("no examples to train on")
    bits = settings.ngram_bits
    mean, std = _scaling(examples)
    p = _prior(prior, mean, std, bits)
    k = len(mean)
    rows = [
        (
            [(x - m) / s for x, m, s in zip(e.record.signals, mean, std, strict=True)],
            ngram_values(e.record.ngrams, bits),
            e.target,
            e.weight,
        )
        for e in examples
    ]
    n = len(rows)
    mean_weight = math.fsum(r[3] for r in rows) / n or 1.0
    counts: dict[int, int] = {}
    for _, grams, _, _ in rows:
        for b in grams:
            counts[b] = counts.get(b, 0) + 1

    theta = _Params(p.intercept, list(p.signal), dict(p.ngram))
    g_int = 1e-8
    g_sig = [1e-8] * k
    g_ngram: dict[int, float] = {}
    lr, lam = settings.learning_rate, settings.l2
    order = list(range(n))
    rng = random.Random(settings.seed)
    for _ in range(settings.epochs):
        rng.shuffle(order)
        for i in order:
            x, grams, y, w = rows[i]
            sig = theta.signal
            z = theta.intercept + math.fsum(a * b for a, b in zip(sig, x, strict=True))
            table = theta.ngram
            for b, v in grams.items():
                z += table.get(b, 0.0) * v
            err = (_sigmoid(z) - y) * (w / mean_weight)
            g_int += err * err
            theta.intercept -= lr * err / math.sqrt(g_int)
            for j in range(k):
                g = err * x[j]
                g_sig[j] += g * g
                step = lr / math.sqrt(g_sig[j])
                value = sig[j] - step * g
                # proximal L2 towards the prior: exact, stable at any step size
                sig[j] = p.signal[j] + (value - p.signal[j]) / (1.0 + step * lam)
            for b, v in grams.items():
                g = err * v
                acc = g_ngram.get(b, 1e-8) + g * g
                g_ngram[b] = acc
                step = lr / math.sqrt(acc)
                prior_w = p.ngram.get(b, 0.0)
                value = table.get(b, prior_w) - step * g
                shrink = step * lam * n / counts[b]  # the penalty counts once per epoch
                table[b] = prior_w + (value - prior_w) / (1.0 + shrink)
    return _export(theta, mean, std, bits)


def _export(
    theta: _Params, mean: Sequence[float], std: Sequence[float], bits: int
) -> DifficultyModel:
    raw = [w / s for w, s in zip(theta.signal, std, strict=True)]
    intercept = theta.intercept - math.fsum(w * m for w, m in zip(raw, mean, strict=True))
    ngram = {b: w for b, w in sorted(theta.ngram.items()) if abs(w) > 1e-4}  # prune dust
    return DifficultyModel(
        intercept=float(f"{intercept:.8g}"),
        signal_weight=tuple(float(f"{w:.6g}") for w in raw),
        ngram_bits=bits if ngram else 0,
        ngram_orders=RECORD_ORDERS,
        ngram_weight={b: float(f"{w:.5g}") for b, w in ngram.items()},
    )


def artifact(model: DifficultyModel, metadata: Mapping[str, object]) -> dict[str, object]:
    """The JSON artifact of ``model`` (what :meth:`DifficultyModel.load` reads)."""
    index = sorted(model.ngram_weight)
    return {
        "format": ARTIFACT_FORMAT,
        "features": {
            "signals": bool(model.signal_weight),
            "words": bool(model.ngram_bits),
            "head_chars": features.HEAD_CHARS,
            "tail_chars": features.TAIL_CHARS,
        },
        "ngram_bits": model.ngram_bits,
        "ngram_orders": list(model.ngram_orders),
        "ngram_index": index,
        "ngram_weight": [model.ngram_weight[b] for b in index],
        "signal_names": list(features.SIGNAL_NAMES),
        "signal_weight": list(model.signal_weight),
        "intercept": model.intercept,
        "metadata": dict(model.metadata) | dict(metadata),
    }
