"""Which of many literal phrases occur in a text, in one pass.

Hyperscan (x86-64) scans once for all phrases at once; elsewhere a substring test per
phrase stands in (slower, same answers). Matching is case-insensitive for ASCII; phrases are
plain literals.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

_hs: Any
try:  # pragma: no cover - platform dependent
    import hyperscan as _hs
except ImportError:  # pragma: no cover
    _hs = None

__all__ = ["LiteralMatcher"]


class LiteralMatcher:
    """``matches(text)`` returns the indexes of the phrases found in ``text``."""

    def __init__(self, phrases: Sequence[str], *, engine: str | None = None) -> None:
        self.phrases = tuple(phrases)
        self.engine = engine or ("hyperscan" if _hs is not None else "re")
        self._local = threading.local()
        self._db: Any = None
        if not self.phrases:
            return
        if self.engine == "hyperscan":
            assert _hs is not None
            self._db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
            exprs = [re.escape(p.lower()).encode("utf-8") for p in self.phrases]
            flags = _hs.HS_FLAG_CASELESS | _hs.HS_FLAG_SINGLEMATCH
            self._db.compile(
                expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=flags
            )
        else:
            self._lowered = tuple(p.lower() for p in self.phrases)

    def matches(self, text: str) -> set[int]:
        if not self.phrases or not text:
            return set()
        if self._db is not None:
            return self._scan_hs(text)
        lowered = text.lower()
        return {i for i, phrase in enumerate(self._lowered) if phrase in lowered}

    def _scan_hs(self, text: str) -> set[int]:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = _hs.Scratch(self._db)
            self._local.scratch = scratch
        found: set[int] = set()

        def on_match(id_: int, _from: int, _to: int, _flags: int, _ctx: object) -> None:
            found.add(id_)

        self._db.scan(text.encode("utf-8"), match_event_handler=on_match, scratch=scratch)
        return found
