"""With virtual keys configured, every route but health answers 401 without a valid key, and the
dashboard needs an admin key.

The routes are read from the app itself, so a route added later is covered without editing this
test. The dashboard is checked where the gateway mounts it, and always in the standalone app
(``hybridllm dashboard``).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from starlette.routing import Mount, Route

from hybridllm.config.models import ServerKey
from hybridllm.dashboard import create_dashboard_app
from tests.reliability.figures import record
from tests.reliability.harness import AppThread, GatewayThread, ThreadedMock

from .conftest import sha

AREA = "security"
TEAM_KEY = "hk-auth-team-key-000000000001"
ADMIN_KEY = "hk-auth-admin-key-00000000002"
HEALTH = {"/healthz", "/readyz"}

CONFIG = f"""
deployments:
  primary:
    provider: openai
    model: gpt-4o-mini
    base_url: {{mock}}/primary/v1
    api_key: sk-test-auth-primary-0000000000
    tier: 2
    price: {{input: 0.15, output: 0.60}}
routes:
  - name: default
    use: [primary]
server:
  keys:
    - {{name: team, key_sha256: {sha(TEAM_KEY)}, cost_center: research}}
    - {{name: root, key_sha256: {sha(ADMIN_KEY)}, admin: true}}
ledger: "sqlite://:memory:"
"""


def concrete(path: str) -> str:
    return path.replace("{name}", "app.js").replace("{path:path}", "x")


def app_routes(routes: list[object], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, Route):
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                out.append((method, concrete(prefix + route.path)))
        elif isinstance(route, Mount):
            out += app_routes(list(route.routes), prefix + route.path)
    return out


async def _status(
    session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str]
) -> int:
    body = b"{}" if method == "POST" else None
    async with session.request(
        method, url, data=body, headers=headers, allow_redirects=False
    ) as resp:
        await resp.read()
        return resp.status


@pytest.fixture
def keyed_gateway(tmp_path: Path, mock: ThreadedMock) -> GatewayThread:
    config = tmp_path / "hybridllm.yaml"
    config.write_text(CONFIG.replace("{mock}", mock.url))
    return GatewayThread(config, f"sqlite:///{tmp_path / 'ledger.db'}")


async def test_every_route_but_health_needs_a_valid_key(
    keyed_gateway: GatewayThread, mock: ThreadedMock
) -> None:
    gw = keyed_gateway
    routes = app_routes(list(gw.app.routes))
    open_routes: list[str] = []
    try:
        async with aiohttp.ClientSession() as session:
            for method, path in routes:
                if path in HEALTH or path.startswith("/dashboard"):
                    continue
                for headers in (
                    {},
                    {"authorization": "Bearer hk-not-a-key-000000"},
                    {"x-api-key": sha(TEAM_KEY)},  # the digest is not the key
                    {"authorization": f"Basic {TEAM_KEY}"},
                ):
                    status = await _status(session, method, gw.url + path, headers)
                    if status != 401:
                        open_routes.append(f"{method} {path} {headers} -> {status}")
                with_key = await _status(
                    session, method, gw.url + path, {"authorization": f"Bearer {TEAM_KEY}"}
                )
                if with_key == 401:
                    open_routes.append(f"{method} {path}: 401 even with a valid key")
            for path in sorted(HEALTH):
                assert await _status(session, "GET", gw.url + path, {}) in (200, 503)
    finally:
        gw.stop()
    checked = len([r for r in routes if r[1] not in HEALTH and not r[1].startswith("/dashboard")])
    record(AREA, "routes checked for 401 without a key", checked, ">= 6", checked >= 6)
    record(AREA, "routes answering without a valid key", len(open_routes), "== 0")
    assert open_routes == []
    assert mock.mock.records == []  # nothing reached an upstream without a key


DASHBOARD_PATHS = (
    "/dashboard",
    "/dashboard/api/summary",
    "/dashboard/api/spend",
    "/dashboard/api/budgets",
    "/dashboard/api/requests",
)


async def _dashboard_denials(base: str) -> tuple[list[str], int]:
    """(paths open without an admin key, paths the admin key opens)."""
    open_paths: list[str] = []
    admin_ok = 0
    async with aiohttp.ClientSession() as session:
        for path in DASHBOARD_PATHS:
            for headers in ({}, {"authorization": f"Bearer {TEAM_KEY}"}):
                status = await _status(session, "GET", base + path, headers)
                if status not in (401, 403):
                    open_paths.append(f"{path} {sorted(headers)} -> {status}")
            admin = await _status(
                session, "GET", base + path, {"authorization": f"Bearer {ADMIN_KEY}"}
            )
            admin_ok += admin == 200
    return open_paths, admin_ok


async def test_the_dashboard_needs_an_admin_key(
    keyed_gateway: GatewayThread, tmp_path: Path
) -> None:
    gw = keyed_gateway
    try:
        mounted = any(path.startswith("/dashboard") for _, path in app_routes(list(gw.app.routes)))
        gateway_open: list[str] = []
        if mounted:
            gateway_open, _ = await _dashboard_denials(gw.url)
    finally:
        gw.stop()
    ledger = tmp_path / "dash.db"
    from hybridllm.ledger import open_store

    open_store(f"sqlite:///{ledger}").close()
    keys = [
        ServerKey(name="team", key_sha256=sha(TEAM_KEY)),
        ServerKey(name="root", key_sha256=sha(ADMIN_KEY), admin=True),
    ]
    standalone = AppThread(create_dashboard_app(f"sqlite:///{ledger}", keys=keys))
    try:
        standalone_open, admin_ok = await _dashboard_denials(standalone.url)
    finally:
        standalone.stop()
    record(AREA, "dashboard mounted on the gateway", "yes" if mounted else "no", "info", True)
    record(
        AREA,
        "dashboard paths open without an admin key",
        len(gateway_open) + len(standalone_open),
        "== 0",
    )
    record(AREA, "dashboard paths the admin key opens", admin_ok, f"== {len(DASHBOARD_PATHS)}")
    assert gateway_open == []
    assert standalone_open == []
    assert admin_ok == len(DASHBOARD_PATHS)
