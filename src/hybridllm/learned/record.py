"""What is kept of a request for retraining: its features, never its text.

A :class:`RecordedFeatures` is the difficulty model's input for one request: the hand-made
signals (:data:`~hybridllm.learned.features.SIGNAL_NAMES`) and the *set* of hashed word-n-gram
buckets at :data:`RECORD_BITS` bits. Hashing is a mask of the low bits of a CRC-32, so the buckets
of any model with fewer bits are the recorded ones masked again: one record serves every model of
up to 20 bits with the recorded n-gram orders. Private requests are recorded without n-grams (a
bucket could be matched against a guessed word); the signals alone say nothing about the words.

Stored as compact JSON text (``request_features.features``), about 0.5 to 1 KiB a request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from hybridllm.learned import features
from hybridllm.learned.model import DifficultyModel

__all__ = [
    "RECORD_BITS",
    "RECORD_ORDERS",
    "RecordFormatError",
    "RecordedFeatures",
    "featurize",
    "logit_of",
    "ngram_values",
]

RECORD_VERSION = 1
RECORD_BITS = 20
RECORD_ORDERS: tuple[int, ...] = (1, 2)


class RecordFormatError(ValueError):
    """A stored record this hybridllm cannot read (another format, other signals)."""


@dataclass(frozen=True, slots=True)
class RecordedFeatures:
    signals: tuple[float, ...]
    ngrams: tuple[int, ...] = ()  # distinct buckets at RECORD_BITS, ascending; () = not kept

    def encode(self) -> str:
        return orjson.dumps(
            {
                "v": RECORD_VERSION,
                "bits": RECORD_BITS,
                "s": [float(f"{x:.6g}") for x in self.signals],
                "n": list(self.ngrams),
            }
        ).decode()

    @classmethod
    def decode(cls, text: str | bytes) -> RecordedFeatures:
        try:
            raw = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise RecordFormatError(f"not JSON: {exc}") from None
        if not isinstance(raw, dict) or raw.get("v") != RECORD_VERSION:
            raise RecordFormatError("unknown record version")
        if raw.get("bits") != RECORD_BITS:
            raise RecordFormatError(f"recorded at {raw.get('bits')} bits, expected {RECORD_BITS}")
        signals, ngrams = raw.get("s"), raw.get("n")
        if (
            not isinstance(signals, list)
            or len(signals) != len(features.SIGNAL_NAMES)
            or not all(isinstance(x, int | float) for x in signals)
        ):
            raise RecordFormatError(
                f"expected {len(features.SIGNAL_NAMES)} signals (recorded by another version?)"
            )
        if not isinstance(ngrams, list) or not all(isinstance(b, int) for b in ngrams):
            raise RecordFormatError("'n' must be a list of bucket numbers")
        return cls(tuple(float(x) for x in signals), tuple(ngrams))


def _joined(text: str, system: str | None) -> str:
    """The text the model reads: as :meth:`DifficultyModel.score` joins it."""
    return f"{system}\n\n{text}" if system else text


def featurize(text: str, system: str | None = None, *, ngrams: bool = True) -> RecordedFeatures:
    """The record of a request whose last user message is ``text``."""
    joined = _joined(text, system)
    buckets: tuple[int, ...] = ()
    if ngrams:
        buckets = tuple(sorted(features.hashed_ngrams(joined, RECORD_BITS, RECORD_ORDERS)))
    return RecordedFeatures(tuple(features.signals(joined)), buckets)


def ngram_values(buckets: Sequence[int], bits: int) -> dict[int, float]:
    """Recorded buckets -> the n-gram vector at ``bits`` (<= RECORD_BITS), L2-normalised."""
    if not buckets or bits <= 0:
        return {}
    mask = (1 << bits) - 1
    folded = {b & mask for b in buckets}
    value = 1.0 / math.sqrt(len(folded))
    return dict.fromkeys(folded, value)


def logit_of(model: DifficultyModel, record: RecordedFeatures) -> float:
    """The model's logit for a recorded request (as :meth:`DifficultyModel.logit` on its text).

    Raises ValueError when the model reads n-grams the record cannot give (more bits than
    recorded, or other n-gram orders).
    """
    z = model.intercept
    if model.signal_weight:
        z += math.fsum(w * x for w, x in zip(model.signal_weight, record.signals, strict=True))
    if model.ngram_bits and model.ngram_weight:
        _check_ngrams(model)
        table: Mapping[int, float] = model.ngram_weight
        for bucket, value in ngram_values(record.ngrams, model.ngram_bits).items():
            w = table.get(bucket)
            if w is not None:
                z += w * value
    return z


def _check_ngrams(model: DifficultyModel) -> None:
    if model.ngram_bits > RECORD_BITS or tuple(model.ngram_orders) != RECORD_ORDERS:
        raise ValueError(
            f"the model reads {model.ngram_bits}-bit n-grams of orders {model.ngram_orders}; "
            f"requests are recorded with at most {RECORD_BITS} bits, orders {RECORD_ORDERS}"
        )
