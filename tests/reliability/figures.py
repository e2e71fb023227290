"""The figures of the hardening suite: recorded by the tests, printed as one table at the end.

Every test of ``tests/reliability`` and ``tests/security`` records what it measured with
:func:`record` *before* asserting on it, so a failing run still shows the figure that failed. The
session-finish hook (registered by both directories' ``conftest.py``; it runs once) prints the
table to the terminal and writes ``bench/results/hardening-<profile>.json``.

Profiles: ``short`` (the default, what CI runs) and ``long`` (``HYBRIDLLM_PROFILE=long``).
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson
import pytest

__all__ = ["PROFILE", "Figure", "long_or_short", "record", "write_report"]

PROFILE = "long" if os.environ.get("HYBRIDLLM_PROFILE", "").strip().lower() == "long" else "short"
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def long_or_short(long: int, short: int) -> int:
    """The size of a run under the current profile."""
    return long if PROFILE == "long" else short


@dataclass(frozen=True, slots=True)
class Figure:
    area: str  # crash-sqlite, soak, fault-matrix, security, ...
    name: str
    value: float | int | str
    target: str  # human-readable, e.g. "== 0", "< 5%"
    ok: bool


_FIGURES: dict[tuple[str, str], Figure] = {}
_written: set[int] = set()


def record(
    area: str, name: str, value: float | int | str, target: str, ok: bool | None = None
) -> bool:
    """Remember one figure (a later one of the same area and name replaces it); returns ``ok``.

    ``ok`` defaults to ``value == target`` read as a number (``"== 0"``), for the common case.
    """
    if ok is None:
        wanted = target.removeprefix("==").strip()
        ok = str(value) == wanted
    _FIGURES[(area, name)] = Figure(area, name, value, target, bool(ok))
    return bool(ok)


def _show(value: float | int | str) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_report(session: pytest.Session) -> None:
    """Print the table and write the JSON; once per session, whichever conftest calls first."""
    if id(session) in _written or not _FIGURES:
        return
    _written.add(id(session))
    figures = sorted(_FIGURES.values(), key=lambda f: (f.area, f.name))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"hardening-{PROFILE}.json"
    payload = {
        "profile": PROFILE,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "exit_status": int(session.exitstatus),
        "all_at_target": all(f.ok for f in figures),
        "figures": [asdict(f) for f in figures],
    }
    path.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
    widths = [
        max(len(h), *(len(c) for c in col))
        for h, col in (
            ("area", [f.area for f in figures]),
            ("figure", [f.name for f in figures]),
            ("value", [_show(f.value) for f in figures]),
            ("target", [f.target for f in figures]),
            ("ok", ["MISS"]),
        )
    ]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()

    out = [
        "",
        f"hardening figures, profile {PROFILE} (written to {path})",
        line(["area", "figure", "value", "target", "ok"]),
        line(["-" * w for w in widths]),
    ]
    out += [
        line([f.area, f.name, _show(f.value), f.target, "ok" if f.ok else "MISS"]) for f in figures
    ]
    out.append(f"{sum(f.ok for f in figures)}/{len(figures)} figures at target")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for text in out:
            reporter.write_line(text)
    else:  # e.g. -p no:terminal
        print("\n".join(out))
