"""A mock upstream and a real gateway (uvicorn on a loopback socket), per test."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from hybridllm.ledger import open_store
from hybridllm.ledger.row import LedgerRow
from hybridllm.mock import MockUpstream
from hybridllm.router import Router
from hybridllm.server import create_app
from hybridllm.server.gateway import Gateway

TEAM_KEY = "hk-team-a-secret-0001"
OPS_KEY = "hk-ops-secret-0002"
PRIMARY_KEY = "sk-test-primary-upstream-000000000000"
CLAUDE_KEY = "sk-ant-" + "test-claude-upstream-0000000000"  # a fake, split on purpose

GATEWAY_CONFIG = """
deployments:
  local-a:
    provider: ollama
    model: llama3.2:3b
    base_url: {url}/local-a/v1
    tier: 1
    timeout: {{first_token: 2, idle: 1, total: 10}}
  primary:
    provider: openai
    model: gpt-4o-mini
    base_url: {url}/primary/v1
    api_key: {primary_key}
    tier: 2
    price: {{input: 0.15, output: 0.60}}
    timeout: {{first_token: 2, idle: 1, total: 10}}
  claude:
    provider: anthropic
    model: claude-sonnet-4-5
    base_url: {url}/claude
    api_key: {claude_key}
    tier: 3
    price: {{input: 3.00, output: 15.00}}
    timeout: {{first_token: 2, idle: 1, total: 10}}

baseline: claude

routes:
  - name: private
    when: {{contains_pii: true}}
    use: [local-a]
  - name: code
    when: {{task_type: code}}
    use: [claude, primary]
  - name: default
    use: [primary, claude, local-a]

dispatch:
  max_attempts: 3
  backoff_base: 0.001
  backoff_max: 0.01
  breaker_min_calls: 3
  breaker_failure_rate: 0.5
  breaker_cooldown: 30

ledger: "sqlite://:memory:"
"""


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


KEYS_CONFIG = f"""
server:
  keys:
    - {{name: team-a, key_sha256: {sha(TEAM_KEY)}, cost_center: research}}
    - {{name: ops, key_sha256: {sha(OPS_KEY)}}}
"""


class ThreadedMock:
    """The mock upstream on its own event loop thread, so its tasks never mix with ours."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.mock = MockUpstream()
        asyncio.run_coroutine_threadsafe(self.mock.start(), self.loop).result(5)

    @property
    def url(self) -> str:
        return self.mock.url

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.mock.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@dataclass
class Running:
    """A gateway serving on ``url``, its app's engine, and the ledger it writes."""

    url: str
    gateway: Gateway
    ledger_url: str
    server: uvicorn.Server
    task: asyncio.Task[None]
    sock: socket.socket

    def rows(self) -> list[LedgerRow]:
        """Every row so far (rows not waited for, e.g. of failed attempts, are flushed first)."""
        runtime = self.gateway.runtime
        if runtime is not None and runtime.writer is not None:
            runtime.writer.flush(5)
        store = open_store(self.ledger_url)
        try:
            return list(store.rows())
        finally:
            store.close()

    async def stop(self) -> None:
        if not self.task.done():
            self.server.should_exit = True
            await self.task
        self.sock.close()


GatewayFactory = Callable[..., Awaitable[Running]]


@pytest.fixture(scope="session")
def threaded_mock() -> Iterator[ThreadedMock]:
    threaded = ThreadedMock()
    try:
        yield threaded
    finally:
        threaded.close()


@pytest.fixture
def mock(threaded_mock: ThreadedMock) -> MockUpstream:
    threaded_mock.mock.reset()
    return threaded_mock.mock


_routers: dict[str, Router] = {}


def cached_router(config_path: Path) -> Router:
    """Routers are stateless between requests; building one compiles the PII scanner (slow)."""
    text = config_path.read_text()
    router = _routers.get(text)
    if router is None:
        router = _routers[text] = Router.from_config(config_path)
    return router


async def start_gateway(config_path: Path, ledger: Path) -> Running:
    app = create_app(cached_router(config_path), ledger_url=f"sqlite:///{ledger}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        loop="asyncio",
        http="httptools",
        ws="none",
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        backlog=2048,
    )
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        sock.close()
        task.result()
    return Running(
        f"http://127.0.0.1:{port}", app.state.gateway, f"sqlite:///{ledger}", server, task, sock
    )


@pytest.fixture
async def make_gateway(mock: MockUpstream, tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    running: list[Running] = []

    async def factory(extra: str = "") -> Running:
        ledger = tmp_path / f"ledger{len(running)}.db"
        path = tmp_path / f"hybridllm{len(running)}.yaml"
        text = GATEWAY_CONFIG.format(url=mock.url, primary_key=PRIMARY_KEY, claude_key=CLAUDE_KEY)
        path.write_text(text + extra)
        gw = await start_gateway(path, ledger)
        running.append(gw)
        return gw

    yield factory
    for gw in running:
        await gw.stop()


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> Running:
    return await make_gateway()


@pytest.fixture
async def keyed_gateway(make_gateway: GatewayFactory) -> Running:
    return await make_gateway(KEYS_CONFIG)
