"""Learned routing: a difficulty score for each request, and how routing quality is measured.

- :class:`DifficultyModel`: the predicted chance that the cheap tier falls short (in [0, 1]).
- :mod:`hybridllm.learned.metrics`: APGR and CPT, as in RouteLLM.
- :mod:`hybridllm.learned.evaluate`: a router against the prompt-length and random baselines.
- :mod:`hybridllm.learned.calibrate`: the threshold that sends a given share to the strong side.
"""

from __future__ import annotations

from hybridllm.learned.model import DifficultyModel, ModelFormatError

__all__ = ["DifficultyModel", "ModelFormatError"]
