"""Machine output: JSON (the whole report) and CSV (one line per group, then the total)."""

from __future__ import annotations

import csv
import io

import orjson

from hybridllm.report.model import GroupStats, Report

__all__ = ["to_csv", "to_json"]

_SCALARS = tuple(name for name in GroupStats.__dataclass_fields__ if name != "tier_shares")


def to_json(report: Report) -> bytes:
    return orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def to_csv(report: Report) -> str:
    """One line per group and a last line whose group is ``total``; a ``tier_N_share`` column
    per tier seen; empty cells where a figure is unknown (no requests, unknown prices)."""
    tiers = sorted({t for s in (*report.groups, report.total) for t in s.tier_shares})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([report.group_by, *_SCALARS[1:], *(f"tier_{t}_share" for t in tiers)])
    for stats in (*report.groups, report.total):
        values = [getattr(stats, name) for name in _SCALARS]
        shares = [stats.tier_shares.get(t, 0.0) for t in tiers]
        writer.writerow(["" if v is None else v for v in (*values, *shares)])
    return out.getvalue()
