"""``hybridllm dashboard``: the dashboard alone, over a ledger, serving no model traffic.

Its own small Starlette app on 127.0.0.1 (uvicorn). A one-time launch token, in the URL it prints
and opens, sets the dashboard cookie; admin keys of the config (when one is loaded) work too.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Sequence

from starlette.applications import Starlette
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hybridllm.config.models import Budget, ServerKey
from hybridllm.dashboard.auth import DashboardAuth
from hybridllm.dashboard.routes import Dashboard
from hybridllm.errors import UsageError
from hybridllm.ledger.open import open_store, sqlite_path

__all__ = ["HOST", "create_dashboard_app", "launch_token", "prepare_ledger"]

HOST = "127.0.0.1"


def launch_token() -> str:
    return secrets.token_urlsafe(24)


def prepare_ledger(url: str) -> None:
    """Check the ledger exists and bring its schema up to date (the report's summary table)."""
    if url.startswith("sqlite://"):
        path = sqlite_path(url)
        if path == ":memory:":
            raise UsageError("the dashboard needs a ledger file or database, not :memory:")
        if not os.path.exists(path):
            raise UsageError(f"no ledger at {path} (from {url})")
    open_store(url).close()


def create_dashboard_app(
    ledger_url: str,
    *,
    keys: Sequence[ServerKey] = (),
    budgets: Sequence[Budget] | None = None,
    tokens: Sequence[str] = (),
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The standalone dashboard app: ``/`` sends the browser to ``/dashboard``."""
    dashboard = Dashboard(ledger_url, DashboardAuth(keys, tokens), budgets, clock=clock)

    async def root(request: object) -> Response:
        return RedirectResponse("/dashboard", 307)

    app = Starlette(routes=[Route("/", root, methods=["GET"]), *dashboard.routes()])
    app.state.dashboard = dashboard
    return app
