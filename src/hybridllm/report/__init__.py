"""``hybridllm report``: what the ledger says about spend, savings, routing and latency.

- :func:`build_report` (``build``): the figures, aggregated by the store's own database.
- :class:`Report`, :class:`GroupStats`, :class:`Health` (``model``): the result and what each
  figure means.
- :func:`parse_since` (``since``): ``--since`` values.
- :func:`to_json`, :func:`to_csv` (``output``): machine output.
"""

from __future__ import annotations

from hybridllm.report.build import build_report
from hybridllm.report.model import GROUP_BY, GroupBy, GroupStats, Health, Report
from hybridllm.report.output import to_csv, to_json
from hybridllm.report.since import parse_since

__all__ = [
    "GROUP_BY",
    "GroupBy",
    "GroupStats",
    "Health",
    "Report",
    "build_report",
    "parse_since",
    "to_csv",
    "to_json",
]
