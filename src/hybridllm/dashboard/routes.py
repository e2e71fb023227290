"""The dashboard's routes, mounted by the gateway and by ``hybridllm dashboard``::

    GET  /dashboard                   the page (HTML; charts drawn in the browser)
    GET  /dashboard/static/{name}     its script, stylesheet and the vendored Chart.js
    GET  /dashboard/api/summary       ?since=7d: report.to_dict() grouped by deployment
    GET  /dashboard/api/spend         ?since=7d: cost and baseline per day, cost by deployment
    GET  /dashboard/api/budgets       spend today / this month against each configured budget
    GET  /dashboard/api/requests      ?limit=50: the newest attempts and their routing facts
    GET  /dashboard/login             ?key=...: same as posting the form
    POST /dashboard/login             form field ``key``: sets the HttpOnly cookie, back to the page
    POST /dashboard/logout            clears the cookie

``since``: a span (``30m``, ``24h``, ``7d``, ``4w``), an ISO date, or ``all``. Who may call them:
:mod:`hybridllm.dashboard.auth`. The database is read in a worker thread, never on the loop.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hybridllm.config.models import Budget
from hybridllm.dashboard import data
from hybridllm.dashboard.auth import COOKIE, Access, DashboardAuth
from hybridllm.errors import HybridLLMError, UsageError
from hybridllm.ledger.open import open_store
from hybridllm.ledger.store import LedgerStore
from hybridllm.report import parse_since

__all__ = ["STATIC", "Dashboard"]

STATIC = Path(__file__).parent / "static"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}
_JSON = "application/json"
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
_HEADERS = {
    "content-security-policy": _CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
COOKIE_MAX_AGE = 12 * 3600
MAX_LIMIT = 500

_LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hybridllm dashboard: sign in</title>
<style>body{{font:15px system-ui,sans-serif;margin:4rem auto;max-width:26rem;color:#1f2933}}
input{{font:inherit;padding:.4rem;width:100%;box-sizing:border-box;margin:.5rem 0}}
button{{font:inherit;padding:.4rem 1rem}}.err{{color:#b42318}}</style></head>
<body><h1>hybridllm dashboard</h1><p>{message}</p>
<form method="post" action="/dashboard/login">
<label for="key">Admin key</label>
<input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Open the dashboard</button></form></body></html>
"""


class Dashboard:
    """The dashboard over the ledger at ``ledger_url``.

    ``budgets``: the config's budgets (``None`` when no config is loaded: the page says so).
    ``clock``: the wall clock (tests pin it).
    """

    def __init__(
        self,
        ledger_url: str,
        auth: DashboardAuth,
        budgets: Sequence[Budget] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger_url = ledger_url
        self.auth = auth
        self.budgets = list(budgets) if budgets is not None else None
        self.clock = clock
        self._static = {p.name: p for p in STATIC.iterdir() if p.suffix in _TYPES}

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/dashboard", self.page, methods=["GET"]),
            Route("/dashboard/", self.page, methods=["GET"]),
            Route("/dashboard/login", self.login, methods=["GET", "POST"]),
            Route("/dashboard/logout", self.logout, methods=["POST"]),
            Route("/dashboard/static/{name}", self.static, methods=["GET"]),
            Route("/dashboard/api/summary", self.api_summary, methods=["GET"]),
            Route("/dashboard/api/spend", self.api_spend, methods=["GET"]),
            Route("/dashboard/api/budgets", self.api_budgets, methods=["GET"]),
            Route("/dashboard/api/requests", self.api_requests, methods=["GET"]),
        ]

    # -- access ------------------------------------------------------------------------------

    def _access(self, request: Request) -> Access:
        client = request.client.host if request.client else None
        return self.auth.check(request.headers, request.cookies, client)

    def _denied_page(self, access: Access, message: str | None = None) -> Response:
        if access is Access.LOOPBACK_ONLY:
            return _text(
                403,
                "the dashboard is served to loopback clients only: configure an "
                "admin key (server.keys with admin: true) to open it from elsewhere",
            )
        text = (
            message or "This dashboard needs an admin key (a server.keys entry with admin: true)."
        )
        body = _LOGIN.format(message=html.escape(text))
        return Response(body, 401, _HEADERS, "text/html; charset=utf-8")

    def _denied_api(self, access: Access) -> Response:
        if access is Access.LOOPBACK_ONLY:
            return _json_error(403, "the dashboard is served to loopback clients only")
        return _json_error(
            401, "an admin key is needed: 'Authorization: Bearer <key>' or 'x-api-key: <key>'"
        )

    # -- pages -------------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        access = self._access(request)
        if access is not Access.ALLOWED:
            return self._denied_page(access)
        return Response(
            (STATIC / "index.html").read_bytes(), 200, _HEADERS, "text/html; charset=utf-8"
        )

    async def static(self, request: Request) -> Response:
        access = self._access(request)
        if access is not Access.ALLOWED:
            return self._denied_api(access)
        path = self._static.get(request.path_params["name"])
        if path is None:
            return _json_error(404, "no such dashboard file")
        return Response(path.read_bytes(), 200, _HEADERS, _TYPES[path.suffix])

    async def login(self, request: Request) -> Response:
        if request.method == "POST":
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            key = (form.get("key") or [""])[0]
        else:
            key = request.query_params.get("key", "")
        if self.auth.open_on_loopback:
            return RedirectResponse("/dashboard", 303)
        if not self.auth.accepts(key):
            return self._denied_page(Access.NEEDS_KEY, "That is not an admin key.")
        response = RedirectResponse("/dashboard", 303)
        response.set_cookie(
            COOKIE,
            key,
            max_age=COOKIE_MAX_AGE,
            path="/dashboard",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/dashboard", 303)
        response.delete_cookie(COOKIE, path="/dashboard", httponly=True, samesite="strict")
        return response

    # -- the JSON API ------------------------------------------------------------------------

    async def _api(self, request: Request, read: Callable[[LedgerStore, float], Any]) -> Response:
        access = self._access(request)
        if access is not Access.ALLOWED:
            return self._denied_api(access)
        now = self.clock()

        def run() -> Any:
            # The gateway (or ``hybridllm dashboard``) migrated it at start; an in-memory
            # ledger is a new empty one each time.
            store = open_store(self.ledger_url, migrate=self.ledger_url.endswith(":memory:"))
            try:
                return read(store, now)
            finally:
                store.close()

        try:
            body = await run_in_threadpool(run)
        except UsageError as exc:
            return _json_error(400, exc.message)
        except HybridLLMError as exc:
            return _json_error(503, exc.message)
        return Response(orjson.dumps(body), 200, _HEADERS, _JSON)

    def _since(self, request: Request) -> float | None:
        text = request.query_params.get("since", "7d")
        return None if text == "all" else parse_since(text, self.clock())

    async def api_summary(self, request: Request) -> Response:
        try:
            since = self._since(request)
        except UsageError as exc:
            return _json_error(400, exc.message)
        return await self._api(request, lambda store, now: data.summary(store, since, now))

    async def api_spend(self, request: Request) -> Response:
        try:
            since = self._since(request)
        except UsageError as exc:
            return _json_error(400, exc.message)
        return await self._api(request, lambda store, now: data.spend(store, since, now))

    async def api_budgets(self, request: Request) -> Response:
        return await self._api(request, lambda store, now: data.budgets(store, self.budgets, now))

    async def api_requests(self, request: Request) -> Response:
        try:
            limit = int(request.query_params.get("limit", "50"))
        except ValueError:
            return _json_error(400, "limit: expected a whole number")
        limit = max(1, min(limit, MAX_LIMIT))
        return await self._api(request, lambda store, now: data.latest(store, limit))


def _json_error(status: int, message: str) -> Response:
    body = orjson.dumps({"error": {"message": message, "status": status}})
    return Response(body, status, _HEADERS, _JSON)


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status, _HEADERS, "text/plain; charset=utf-8")
