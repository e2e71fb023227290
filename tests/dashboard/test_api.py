"""The dashboard's JSON API and its access rules, over HTTP on a loopback port."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from hybridllm.budgets.periods import period_start
from hybridllm.dashboard.auth import COOKIE, DashboardAuth

from .conftest import ADMIN_KEY, BUDGETS, KEYS, NOW, TEAM_KEY, ServeFactory, direct, serve


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def get(url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> Reply:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with _opener.open(request, timeout=30) as resp:
            return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return Reply(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())


def test_without_keys_loopback_clients_get_the_page_and_the_api(
    serve_dashboard: ServeFactory,
) -> None:
    served = serve_dashboard()
    page = get(served.url + "/dashboard")
    assert page.status == 200 and b"chart-spend" in page.body
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = get(served.url + "/dashboard/static/chart.umd.min.js")
    assert script.status == 200 and b"Chart.js v4" in script.body
    assert get(served.url + "/dashboard/static/../auth.py").status == 404
    assert get(served.url + "/dashboard/api/summary?since=7d").status == 200


def test_remote_clients_are_refused_when_no_key_is_configured() -> None:
    auth = DashboardAuth([])
    assert auth.check({}, {}, "127.0.0.1").value == "allowed"
    assert auth.check({}, {}, "::1").value == "allowed"
    assert auth.check({}, {}, "10.1.2.3").value == "loopback_only"
    assert auth.check({}, {}, None).value == "loopback_only"


def test_with_keys_only_an_admin_key_opens_the_dashboard(serve_dashboard: ServeFactory) -> None:
    served = serve_dashboard(keys=KEYS)
    api = served.url + "/dashboard/api/summary"
    assert get(api).status == 401
    assert "admin key" in get(api).json()["error"]["message"]
    assert get(api, {"authorization": f"Bearer {TEAM_KEY}"}).status == 401
    assert get(api, {"authorization": f"Bearer {ADMIN_KEY}"}).status == 200
    assert get(api, {"x-api-key": ADMIN_KEY}).status == 200
    page = get(served.url + "/dashboard")
    assert page.status == 401 and b'<form method="post" action="/dashboard/login">' in page.body
    assert get(served.url + "/dashboard/static/dashboard.js").status == 401
    assert get(served.url + "/dashboard", {"x-api-key": ADMIN_KEY}).status == 200


def test_the_login_form_sets_an_httponly_cookie_that_opens_the_api(
    serve_dashboard: ServeFactory,
) -> None:
    served = serve_dashboard(keys=KEYS)
    wrong = get(served.url + "/dashboard/login", data=f"key={TEAM_KEY}".encode())
    assert wrong.status == 401 and b"not an admin key" in wrong.body
    assert "set-cookie" not in wrong.headers
    ok = get(served.url + "/dashboard/login", data=f"key={ADMIN_KEY}".encode())
    assert ok.status == 303 and ok.headers["location"] == "/dashboard"
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    jar = {"cookie": cookie.split(";")[0]}
    assert get(served.url + "/dashboard/api/requests", jar).status == 200
    out = get(served.url + "/dashboard/logout", jar, data=b"")
    assert out.status == 303 and f'{COOKIE}=""' in out.headers["set-cookie"]


def test_the_launch_token_of_hybridllm_dashboard_signs_the_browser_in(
    serve_dashboard: ServeFactory,
) -> None:
    served = serve_dashboard(tokens=["launch-token-123"])
    assert get(served.url + "/dashboard/api/summary").status == 401
    signed = get(served.url + "/dashboard/login?key=launch-token-123")
    assert signed.status == 303
    jar = {"cookie": signed.headers["set-cookie"].split(";")[0]}
    assert get(served.url + "/dashboard/api/summary", jar).status == 200


def test_summary_totals_equal_direct_sql(serve_dashboard: ServeFactory, ledger_url: str) -> None:
    served = serve_dashboard()
    since = NOW - 7 * 86_400
    body = get(served.url + "/dashboard/api/summary?since=7d").json()
    ((requests, attempts, cost, baseline),) = direct(
        ledger_url,
        "SELECT COUNT(DISTINCT request_id), COUNT(*), SUM(cost_usd), SUM(baseline_cost_usd)"
        " FROM ledger WHERE ts >= ? AND ts < ?",
        (since, NOW),
    )
    total = body["total"]
    assert (total["requests"], total["attempts"]) == (requests, attempts)
    assert total["cost_usd"] == pytest.approx(cost)
    assert total["baseline_cost_usd"] == pytest.approx(baseline)
    assert total["saving_pct"] == pytest.approx((baseline - cost) / baseline * 100)
    assert {g["group"] for g in body["groups"]} == {"local-small", "deepseek", "sonnet"}
    assert body["group_by"] == "deployment"


def test_spend_per_day_by_deployment_equals_direct_sql(
    serve_dashboard: ServeFactory, ledger_url: str
) -> None:
    served = serve_dashboard()
    body = get(served.url + "/dashboard/api/spend?since=7d").json()
    assert len(body["days"]) == 8 and body["days"][-1] == "2026-05-28"
    expected = direct(
        ledger_url,
        "SELECT date(ts, 'unixepoch'), deployment, SUM(cost_usd) FROM ledger"
        " WHERE ts >= ? GROUP BY 1, 2",
        (NOW - 7 * 86_400,),
    )
    for day, dep, cost in expected:
        assert body["deployments"][dep][body["days"].index(day)] == pytest.approx(cost)
    assert sum(body["cost"]) == pytest.approx(sum(c for _, _, c in expected))
    assert get(served.url + "/dashboard/api/spend?since=soon").status == 400


def test_budgets_show_this_periods_spend_against_the_config(
    serve_dashboard: ServeFactory, ledger_url: str
) -> None:
    served = serve_dashboard(budgets=BUDGETS)
    body = get(served.url + "/dashboard/api/budgets").json()
    assert body["configured"] is True
    research, support = body["budgets"]
    month, today = period_start("monthly", NOW), period_start("daily", NOW)
    for entry, center in ((research, "research"), (support, "support")):
        ((month_spend,),) = direct(
            ledger_url,
            "SELECT COALESCE(SUM(cost_usd), 0) FROM ledger WHERE cost_center = ? AND ts >= ?",
            (center, month),
        )
        ((day_spend,),) = direct(
            ledger_url,
            "SELECT COALESCE(SUM(cost_usd), 0) FROM ledger WHERE cost_center = ? AND ts >= ?",
            (center, today),
        )
        assert entry["spent_month_usd"] == pytest.approx(month_spend)
        assert entry["spent_today_usd"] == pytest.approx(day_spend)
        if entry["monthly_usd"] is not None:
            assert entry["remaining_by_day"][-1] == pytest.approx(
                entry["monthly_usd"] - month_spend
            )
    assert research["action"] == "downgrade" and research["daily_usd"] == 0.5
    without = serve_dashboard()
    assert get(without.url + "/dashboard/api/budgets").json()["configured"] is False


def test_latest_requests_are_newest_first_with_their_routing_facts(
    serve_dashboard: ServeFactory,
) -> None:
    served = serve_dashboard()
    body = get(served.url + "/dashboard/api/requests?limit=5").json()
    assert len(body["rows"]) == 5
    col = {c: i for i, c in enumerate(body["columns"])}
    times = [r[col["ts"]] for r in body["rows"]]
    assert times == sorted(times, reverse=True)
    assert {"route", "deployment", "tier", "status", "fallback_from", "error_class"} <= set(col)
    everything = get(served.url + "/dashboard/api/requests?limit=500").json()["rows"]
    fell_back = [r for r in everything if r[col["fallback_from"]] is not None]
    assert {r[col["request_id"]] for r in fell_back} == {"f1", "e1", "x1"}


GATEWAY_CONFIG = """
deployments:
  local:
    provider: ollama
    model: llama3.3:14b
    base_url: http://127.0.0.1:9/v1
routes:
  - name: default
    use: [local]
ledger: "{ledger}"
"""


def test_the_gateway_serves_the_dashboard_to_admin_keys_only(
    tmp_path: Path, ledger_url: str
) -> None:
    from hybridllm.router import Router
    from hybridllm.server.app import create_app

    keys = "".join(
        f"\n    - {{name: {k.name}, key_sha256: {k.key_sha256}, admin: {str(k.admin).lower()}}}"
        for k in KEYS
    )
    path = tmp_path / "hybridllm.yaml"
    path.write_text(GATEWAY_CONFIG.format(ledger=ledger_url) + f"server:\n  keys:{keys}\n")
    served = serve(create_app(Router.from_config(path)))
    try:
        assert get(served.url + "/dashboard").status == 401
        assert get(served.url + "/dashboard/api/summary", {"x-api-key": TEAM_KEY}).status == 401
        reply = get(served.url + "/dashboard/api/summary?since=all", {"x-api-key": ADMIN_KEY})
        assert reply.status == 200 and reply.json()["total"]["requests"] == 18
        assert get(served.url + "/dashboard", {"x-api-key": ADMIN_KEY}).status == 200
    finally:
        served.stop()
