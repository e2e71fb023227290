"""A small deterministic ledger, and the dashboard served over it on a loopback port."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette

from hybridllm.config.models import Budget, ServerKey
from hybridllm.dashboard import create_dashboard_app
from hybridllm.ledger import LedgerRow, open_store

NOW = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
ADMIN_KEY = "sk-admin-dashboard-test"
TEAM_KEY = "sk-team-not-admin"
BUDGETS = [
    Budget(cost_center="research", daily_usd=0.5, monthly_usd=2.0, action="downgrade"),
    Budget(cost_center="support", monthly_usd=1.0, action="reject"),
]


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


KEYS = [
    ServerKey(name="admin", key_sha256=sha(ADMIN_KEY), admin=True),
    ServerKey(name="team-a", key_sha256=sha(TEAM_KEY), cost_center="research"),
]

_DEPLOYMENTS = {  # name -> (provider, model, tier, locality, $ per 1k tokens)
    "local-small": ("ollama", "llama3.3:14b", 1, "local", 0.0),
    "deepseek": ("openai", "deepseek-chat", 2, "cloud", 0.0011),
    "sonnet": ("anthropic", "claude-sonnet-4-6", 3, "cloud", 0.015),
}


def _row(
    rid: str,
    attempt: int,
    ts: float,
    deployment: str,
    status: str = "ok",
    *,
    route: str = "default",
    cost_center: str | None = "research",
    tokens: int = 1_000,
    latency_ms: float = 800.0,
    fallback_from: str | None = None,
    error_class: str | None = None,
) -> LedgerRow:
    provider, model, tier, locality, price = _DEPLOYMENTS[deployment]
    used = 0 if status == "error" else tokens
    answered = status in ("ok", "partial")
    return LedgerRow(
        request_id=rid,
        attempt=attempt,
        ts=ts,
        route=route,
        deployment=deployment,
        provider=provider,
        model=model,
        tier=tier,
        locality=locality,
        cost_center=cost_center,
        key_name="team-a",
        prompt_tokens=used,
        completion_tokens=used // 4,
        cached_tokens=0,
        cost_usd=round(used * price / 1_000, 6),
        baseline_cost_usd=round(used * 0.015 / 1_000, 6) if answered else 0.0,
        latency_ms=latency_ms,
        ttft_ms=None,
        status=status,  # type: ignore[arg-type]
        error_class=error_class,
        fallback_from=fallback_from,
        streamed=False,
    )


def seeded_rows() -> list[LedgerRow]:
    """Eighteen requests over the last three days: local answers, cloud answers, fallbacks, an
    escalation and a failed request; three cost centers."""
    rows: list[LedgerRow] = []
    day = 86_400.0
    for i in range(12):  # plain answers, spread over three days
        dep = ("local-small", "local-small", "deepseek", "sonnet")[i % 4]
        center = ("research", "support", "marketing")[i % 3]
        ts = NOW - (i % 3) * day - 3_600 - i * 60
        rows.append(
            _row(
                f"r{i:02d}",
                1,
                ts,
                dep,
                cost_center=center,
                tokens=500 + 100 * i,
                latency_ms=400.0 + 150 * i,
            )
        )
    t = NOW - 2 * 3_600
    rows += [  # a fallback after a timeout: local-small -> deepseek
        _row(
            "f1",
            1,
            t,
            "local-small",
            "error",
            error_class="UpstreamTimeoutError",
            latency_ms=2_000.0,
        ),
        _row("f1", 2, t + 2.5, "deepseek", fallback_from="local-small", tokens=1_200),
        # an escalation: a weak local reply, answered by sonnet
        _row(
            "e1",
            1,
            t + 60,
            "local-small",
            "escalated",
            route="simple",
            tokens=300,
            error_class="WeakReply",
        ),
        _row("e1", 2, t + 61, "sonnet", route="simple", fallback_from="local-small", tokens=900),
        # a request that failed everywhere
        _row(
            "x1",
            1,
            t + 120,
            "deepseek",
            "error",
            cost_center="support",
            error_class="ServerError",
            latency_ms=300.0,
        ),
        _row(
            "x1",
            2,
            t + 121,
            "sonnet",
            "error",
            cost_center="support",
            fallback_from="deepseek",
            error_class="ServerError",
            latency_ms=250.0,
        ),
    ]
    rows += [  # yesterday: code on sonnet for support, a batch on deepseek
        _row(
            "c1",
            1,
            NOW - day - 7_200,
            "sonnet",
            route="code_generation",
            cost_center="support",
            tokens=4_000,
            latency_ms=3_100.0,
        ),
        _row(
            "b1",
            1,
            NOW - day - 5_400,
            "deepseek",
            route="batch_processing",
            cost_center=None,
            tokens=2_500,
            latency_ms=1_700.0,
        ),
        _row(
            "b2",
            1,
            NOW - 2 * day - 5_400,
            "local-small",
            route="batch_processing",
            cost_center="marketing",
            tokens=2_000,
            latency_ms=900.0,
        ),
    ]
    return rows


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store = open_store(url)
    try:
        store.write_many(seeded_rows())
    finally:
        store.close()
    return url


def direct(url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return [tuple(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


@dataclass
class Served:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve(app: Starlette) -> Served:
    """``app`` on a free loopback port, in a thread with its own event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, loop="asyncio", lifespan="on", log_level="warning", access_log=False)
    )

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        finally:
            sock.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.01)
    assert server.started, "the dashboard server did not start"
    return Served(f"http://127.0.0.1:{port}", server, thread)


ServeFactory = Callable[..., Served]


@pytest.fixture
def serve_dashboard(ledger_url: str) -> Iterator[ServeFactory]:
    running: list[Served] = []

    def factory(**kwargs: Any) -> Served:
        kwargs.setdefault("clock", lambda: NOW)
        served = serve(create_dashboard_app(ledger_url, **kwargs))
        running.append(served)
        return served

    yield factory
    for served in running:
        served.stop()
