"""``DifficultyModel``: the predicted chance that the cheap tier falls short on a request.

A logistic model over the features of :mod:`hybridllm.learned.features`, loaded from a small JSON
artifact (the one shipped in this package unless a path is given). Scoring is pure Python, holds
no mutable state and so is safe to call from any number of threads at once.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from hybridllm.learned import features

__all__ = [
    "ARTIFACT_FORMAT",
    "DEFAULT_PATH",
    "DifficultyModel",
    "ModelFormatError",
    "ModelSource",
    "shipped_source",
]

ARTIFACT_FORMAT = "hybridllm-difficulty/1"
DEFAULT_PATH = Path(__file__).with_name("model.json")


class ModelFormatError(ValueError):
    """The artifact is missing, unreadable, or not a difficulty model of a known format."""


def _floats(raw: object, name: str) -> tuple[float, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, int | float) for v in raw):
        raise ModelFormatError(f"'{name}' must be a list of numbers")
    return tuple(float(v) for v in raw)


def _ints(raw: object, name: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, int) for v in raw):
        raise ModelFormatError(f"'{name}' must be a list of integers")
    return tuple(raw)


@dataclass(frozen=True, slots=True)
class DifficultyModel:
    """Scores a prompt in [0, 1]: higher means the strong model is more likely needed."""

    intercept: float
    signal_weight: tuple[float, ...] = ()
    ngram_bits: int = 0
    ngram_orders: tuple[int, ...] = (1, 2)
    ngram_weight: Mapping[int, float] = field(default_factory=dict)
    metadata: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None = None) -> DifficultyModel:
        """The model at ``path``, else the one shipped with hybridllm."""
        source = Path(path) if path is not None else DEFAULT_PATH
        try:
            raw = orjson.loads(source.read_bytes())
        except OSError as exc:
            raise ModelFormatError(f"cannot read the difficulty model {source}: {exc}") from None
        except orjson.JSONDecodeError as exc:
            raise ModelFormatError(f"{source} is not JSON: {exc}") from None
        if not isinstance(raw, dict) or raw.get("format") != ARTIFACT_FORMAT:
            raise ModelFormatError(f"{source} is not a {ARTIFACT_FORMAT} artifact")
        return cls.from_json(raw)

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> DifficultyModel:
        intercept = raw.get("intercept")
        if not isinstance(intercept, int | float):
            raise ModelFormatError("'intercept' must be a number")
        signal_weight = _floats(raw.get("signal_weight", []), "signal_weight")
        if signal_weight and len(signal_weight) != len(features.SIGNAL_NAMES):
            raise ModelFormatError(
                f"the model has {len(signal_weight)} signal weights, this hybridllm computes "
                f"{len(features.SIGNAL_NAMES)} signals: retrain it with scripts/train_router.py"
            )
        bits = raw.get("ngram_bits", 0)
        if not isinstance(bits, int) or not 0 <= bits <= 24:
            raise ModelFormatError("'ngram_bits' must be an integer in [0, 24]")
        index = _ints(raw.get("ngram_index", []), "ngram_index")
        weight = _floats(raw.get("ngram_weight", []), "ngram_weight")
        if len(index) != len(weight):
            raise ModelFormatError("'ngram_index' and 'ngram_weight' differ in length")
        orders = _ints(raw.get("ngram_orders", [1, 2]), "ngram_orders")
        metadata = raw.get("metadata", {})
        return cls(
            intercept=float(intercept),
            signal_weight=signal_weight,
            ngram_bits=bits,
            ngram_orders=orders,
            ngram_weight=dict(zip(index, weight, strict=True)),
            metadata=metadata if isinstance(metadata, dict) else {},
        )

    def logit(self, text: str) -> float:
        """The score before the logistic squash (a ranking key with no ties at 0 or 1)."""
        z = self.intercept
        if self.signal_weight:
            z += math.fsum(
                w * x for w, x in zip(self.signal_weight, features.signals(text), strict=True)
            )
        if self.ngram_bits:
            table = self.ngram_weight
            for bucket, value in features.hashed_ngrams(
                text, self.ngram_bits, self.ngram_orders
            ).items():
                w = table.get(bucket)
                if w is not None:
                    z += w * value
        return z

    def score(self, text: str, system: str | None = None) -> float:
        """The chance in [0, 1] that the cheap tier falls short on ``text``.

        ``text`` is the last user message; a system prompt, when given, is read with it.
        """
        if system:
            text = f"{system}\n\n{text}"
        z = self.logit(text)
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)


class ModelSource:
    """The difficulty model a config names (``learning.model``), loaded on first use.

    ``path`` None, or a file not written yet (``hybridllm learn`` writes it once a retrained
    model beats the current one): the shipped model. Loading once per process is cheap (a few
    KiB of JSON) but not free, so routers that never evaluate ``difficulty`` never load it.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else None
        self._model: DifficultyModel | None = None
        self._lock = threading.Lock()

    @property
    def resolved(self) -> Path:
        """The file the model is (or will be) read from."""
        if self.path is not None and self.path.exists():
            return self.path
        return DEFAULT_PATH

    def get(self) -> DifficultyModel:
        model = self._model
        if model is None:
            with self._lock:
                if self._model is None:
                    self._model = DifficultyModel.load(self.resolved)
                model = self._model
        return model

    def score(self, text: str, system: str | None = None) -> float:
        return self.get().score(text, system)


_SHIPPED = ModelSource()


def shipped_source() -> ModelSource:
    """The process-wide source of the shipped model (loaded once, shared: it is immutable)."""
    return _SHIPPED
