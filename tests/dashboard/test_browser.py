"""The dashboard in a real browser: Playwright driving the system Chromium signs in with an admin
key, waits for the page to draw, and checks the charts and the numbers against the ledger.

Skipped (with the reason) without playwright or Chromium, except under ``CI=true`` where that is a
failure. ``HYBRIDLLM_UPDATE_SCREENSHOT=1`` also copies the screenshot to ``docs/dashboard.png``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ADMIN_KEY, BUDGETS, KEYS, NOW, ServeFactory, direct

CHROMIUM = os.environ.get("HYBRIDLLM_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
CHARTS = (
    "chart-spend",
    "chart-saving",
    "chart-tiers",
    "chart-rates",
    "chart-latency",
    "chart-budgets",
)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and the browser test cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright)")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


_FINAL = """
    SELECT l.* FROM ledger l WHERE l.status IN ('ok', 'partial') AND l.ts >= :since
    UNION ALL
    SELECT l.* FROM ledger l
    WHERE l.ts >= :since AND NOT EXISTS (SELECT 1 FROM ledger o WHERE o.request_id = l.request_id
                      AND o.status IN ('ok', 'partial'))
      AND l.attempt = (SELECT MAX(o.attempt) FROM ledger o WHERE o.request_id = l.request_id)
"""


def expected_totals(url: str, since: float) -> dict[str, Any]:
    ((requests, cost, baseline),) = direct(
        url,
        "SELECT COUNT(DISTINCT request_id), SUM(cost_usd), SUM(baseline_cost_usd) FROM ledger"
        " WHERE ts >= ? AND ts < ?",
        (since, NOW),
    )
    ((local,),) = direct(
        url,
        f"SELECT COUNT(*) FROM ({_FINAL}) f WHERE f.locality = 'local'"
        " AND f.status IN ('ok', 'partial')",
        {"since": since},
    )
    return {
        "requests": requests,
        "cost": cost,
        "baseline": baseline,
        "saving_pct": (baseline - cost) / baseline * 100,
        "local_share": local / requests,
    }


def test_the_dashboard_draws_its_charts_and_shows_the_ledgers_numbers(
    browser: Any, serve_dashboard: ServeFactory, ledger_url: str, tmp_path: Path
) -> None:
    served = serve_dashboard(keys=KEYS, budgets=BUDGETS)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests_seen: list[str] = []
    page.on("request", lambda r: requests_seen.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(served.url + "/dashboard")
    page.fill("#key", ADMIN_KEY)  # the sign-in form: the cookie is set, back to the page
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)

    for chart in CHARTS:
        painted = page.evaluate(
            """(id) => {
                const c = document.getElementById(id);
                if (!c || c.width === 0 || c.height === 0) return 0;
                const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) n++;
                return n;
            }""",
            chart,
        )
        assert painted > 500, f"{chart} drew nothing"

    want = expected_totals(ledger_url, NOW - 7 * 86_400)
    text = {k: page.inner_text(f"#kpi-{k}") for k in ("requests", "cost", "baseline")}
    assert text["requests"] == f"{want['requests']:,}"
    assert text["cost"] == f"${want['cost']:,.4f}"
    assert text["baseline"] == f"${want['baseline']:,.4f}"
    assert page.inner_text("#kpi-saving") == f"{want['saving_pct']:.1f}%"
    assert page.inner_text("#kpi-local-share") == f"{want['local_share'] * 100:.1f}%"
    raw = {k: page.get_attribute(f"#kpi-{k}", "data-value") for k in ("cost", "saving")}
    assert float(raw["cost"] or "nan") == pytest.approx(want["cost"], rel=1e-12)
    assert float(raw["saving"] or "nan") == pytest.approx(want["saving_pct"], rel=1e-12)

    latest = page.inner_text("#latest tbody")
    assert "UpstreamTimeoutError" in latest and "local-small" in latest
    assert page.locator("#budgets tbody tr").count() == len(BUDGETS)
    assert not errors
    assert all(u.startswith(served.url) for u in requests_seen), requests_seen

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    if os.environ.get("HYBRIDLLM_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, DOCS_SHOT)
    page.close()
