"""The dashboard: spend, savings, routing, latency and budgets, drawn from the ledger.

- :class:`Dashboard` (``routes``): the page and its JSON API under ``/dashboard``, mounted by the
  gateway (``hybridllm serve``) and by the standalone app.
- :class:`DashboardAuth` (``auth``): admin keys, the launch token, loopback-only without keys.
- :func:`create_dashboard_app` (``app``): the standalone app behind ``hybridllm dashboard``.
- ``data``: what each API route reads from the ledger.

Charts: Chart.js (MIT), vendored as its built UMD file in ``static/`` with its licence; the page
loads nothing from the network but its own origin.
"""

from __future__ import annotations

from hybridllm.dashboard.app import create_dashboard_app
from hybridllm.dashboard.auth import Access, DashboardAuth
from hybridllm.dashboard.routes import Dashboard

__all__ = ["Access", "Dashboard", "DashboardAuth", "create_dashboard_app"]
