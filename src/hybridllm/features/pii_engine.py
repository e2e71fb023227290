"""Multi-pattern candidate engines for the PII scanner.

An engine runs every built-in *candidate* pattern over the scanner's one-byte-per-character
buffer and reports ``(pattern_id, end_offset)`` hits; the scanner turns hits into regions and
validates them in Python. Three engines give the same regions (see ``pii_rules``):

* ``hyperscan``: one compiled database, one pass, a callback per match (x86-64 only);
* ``re2``: an ``re2.Set`` pass says which patterns match at all, then ``finditer`` per pattern;
* ``re``: the standard library, one ``finditer`` per pattern (last resort).

User patterns (``extra_patterns``) are only *prefiltered* by hyperscan (``HS_FLAG_PREFILTER``,
which may over-report but never under-reports); their findings always come from Python ``re``.
The other engines do not prefilter them.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["ENGINES", "Engine", "RunFinder", "make_engine"]


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:  # pragma: no cover - depends on the platform
        return None


_hs: Any = _optional("hyperscan")  # x86-64 only
_re2: Any = _optional("re2")

ENGINES: tuple[str, ...] = ("hyperscan", "re2", "re")

Hit = tuple[int, int]


class Engine(Protocol):
    name: str
    user_prefiltered: frozenset[int]

    def scan(self, data: bytes, text: str, ascii: bool) -> tuple[list[Hit], set[int]]:
        """Return built-in hits and the prefiltered user patterns that may match."""
        ...


def _collect(pid: int, start: int, end: int, flags: int, ctx: list[Hit]) -> None:
    ctx.append((pid, end))


# Python-only syntax that hyperscan would read differently (``{,n}`` is a literal to PCRE,
# ``[[:x:]]`` a POSIX class), or flags it does not know: such patterns skip the prefilter.
_HS_UNSAFE = re.compile(r"\{,|\[:|\(\?[a-zA-Z]*[aLu]")


class _Hyperscan:
    name = "hyperscan"

    def __init__(self, builtin: Sequence[str], user: Sequence[str]) -> None:
        if _hs is None:
            raise ImportError("hyperscan is not installed")
        hs = _hs
        self._n = len(builtin)
        user_flags = (
            hs.HS_FLAG_UTF8 | hs.HS_FLAG_UCP | hs.HS_FLAG_PREFILTER | hs.HS_FLAG_SINGLEMATCH
        )
        ok_user: list[tuple[int, bytes]] = []
        for i, pattern in enumerate(user):
            if _HS_UNSAFE.search(pattern):
                continue
            expr = pattern.encode("utf-8")
            try:
                self._compile([expr], [0], [user_flags])
            except hs.error:
                continue
            ok_user.append((self._n + i, expr))
        self.user_prefiltered = frozenset(pid - self._n for pid, _ in ok_user)
        b_exprs = [p.encode("ascii") for p in builtin]
        b_ids = list(range(self._n))
        self._builtin = self._compile(b_exprs, b_ids, [0] * self._n) if builtin else None
        self._user = None
        self._combined = None
        if ok_user:
            u_ids = [pid for pid, _ in ok_user]
            u_exprs = [expr for _, expr in ok_user]
            self._user = self._compile(u_exprs, u_ids, [user_flags] * len(u_ids))
            self._combined = self._compile(
                b_exprs + u_exprs, b_ids + u_ids, [0] * self._n + [user_flags] * len(u_ids)
            )
        self._local = threading.local()

    @staticmethod
    def _compile(exprs: list[bytes], ids: list[int], flags: list[int]) -> Any:
        hs = _hs
        db = hs.Database(mode=hs.HS_MODE_BLOCK)
        db.compile(expressions=exprs, ids=ids, elements=len(exprs), flags=flags)
        return db

    def _scratch(self, db: Any) -> Any:
        # A scratch is per thread and per database: hs_scan releases the GIL.
        scratches: dict[int, Any] | None = getattr(self._local, "scratches", None)
        if scratches is None:
            scratches = {}
            self._local.scratches = scratches
        scratch = scratches.get(id(db))
        if scratch is None:
            scratch = scratches[id(db)] = _hs.Scratch(db)
        return scratch

    def scan(self, data: bytes, text: str, ascii: bool) -> tuple[list[Hit], set[int]]:
        hits: list[Hit] = []
        if self._user is None or ascii:
            # ASCII text: the buffer is the UTF-8 text, so one pass serves both sets.
            db = self._combined if self._combined is not None else self._builtin
            if db is not None:
                db.scan(data, _collect, context=hits, scratch=self._scratch(db))
        else:
            if self._builtin is not None:
                db = self._builtin
                db.scan(data, _collect, context=hits, scratch=self._scratch(db))
            try:
                utf8 = text.encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates: not valid UTF-8, run them all
                return hits, set(self.user_prefiltered)
            db = self._user
            db.scan(utf8, _collect, context=hits, scratch=self._scratch(db))
        if self._user is None:
            return hits, set()
        n = self._n
        return [h for h in hits if h[0] < n], {pid - n for pid, _ in hits if pid >= n}


class _Re2:
    name = "re2"
    user_prefiltered: frozenset[int] = frozenset()

    def __init__(self, builtin: Sequence[str], user: Sequence[str]) -> None:
        if _re2 is None:
            raise ImportError("google-re2 is not installed")
        re2 = _re2
        self._patterns = [re2.compile(p.encode("ascii")) for p in builtin]
        self._set = None
        if builtin:
            self._set = re2.Set.SearchSet()
            for p in builtin:
                self._set.Add(p.encode("ascii"))
            self._set.Compile()

    def scan(self, data: bytes, text: str, ascii: bool) -> tuple[list[Hit], set[int]]:
        hits: list[Hit] = []
        matched = self._set.Match(data) if self._set is not None else None
        for pid in sorted(matched or ()):
            hits.extend((pid, m.end()) for m in self._patterns[pid].finditer(data))
        return hits, set()


class _Re:
    name = "re"
    user_prefiltered: frozenset[int] = frozenset()

    def __init__(self, builtin: Sequence[str], user: Sequence[str]) -> None:
        self._patterns = [re.compile(p.encode("ascii")) for p in builtin]

    def scan(self, data: bytes, text: str, ascii: bool) -> tuple[list[Hit], set[int]]:
        hits: list[Hit] = []
        for pid, pattern in enumerate(self._patterns):
            hits.extend((pid, m.end()) for m in pattern.finditer(data))
        return hits, set()


class RunFinder:
    """Where the first run of ``length`` bytes from a class starts in a buffer.

    One hyperscan scan of the bare class repeat, stopped at its first match (which ends the
    first run's ``length``-th byte, so the run starts ``length`` bytes before it). Hyperscan
    runs such a lone repeat about ten times faster than ``bytes.translate`` plus a substring
    search (10 against 100 us on 100 KB of prose), though inside the candidate database the same
    repeat slows the whole pass. Where hyperscan is missing, ``first_start`` is always 0: the
    caller searches from the start, as before.
    """

    def __init__(self, char_class: bytes, length: int) -> None:
        self._db: Any = None
        self._local = threading.local()
        if _hs is None:
            return
        self._db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        expr = b"[" + char_class + b"]{" + str(length).encode() + b"}"
        self._db.compile(expressions=[expr], ids=[0], elements=1, flags=[_hs.HS_FLAG_SINGLEMATCH])
        self._length = length

    def first_start(self, data: bytes) -> int:
        """The offset where the first run starts; -1 when there is none (0: not known)."""
        if self._db is None:
            return 0
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:  # per thread: hs_scan releases the GIL
            scratch = self._local.scratch = _hs.Scratch(self._db)
        found: list[int] = []
        try:
            self._db.scan(data, _first, context=found, scratch=scratch)
        except _hs.ScanTerminated:  # _first stopped the scan at the first run
            return found[0] - self._length
        return -1


def _first(pid: int, start: int, end: int, flags: int, ctx: list[int]) -> bool:
    ctx.append(end)
    return True  # stop scanning


def make_engine(name: str, builtin: Sequence[str], user: Sequence[str]) -> Engine:
    """Build the named engine; ``auto`` takes the fastest one that works here."""
    makers: dict[str, type[_Hyperscan] | type[_Re2] | type[_Re]] = {
        "hyperscan": _Hyperscan,
        "re2": _Re2,
        "re": _Re,
    }
    if name != "auto":
        if name not in makers:
            raise ValueError(f"unknown PII engine {name!r}; expected one of {ENGINES}")
        return makers[name](builtin, user)
    for candidate in ENGINES:
        try:
            return makers[candidate](builtin, user)
        except ImportError:
            continue
    raise AssertionError("unreachable: the re engine always builds")  # pragma: no cover
