"""Planted canary keys never leave the gateway: not in a log line, an error body or header, a
metric label or a ledger row, under every error path we can provoke.

The canaries: the upstream key of each wire (OpenAI-shaped, Anthropic without a key shape so only
the registered-secret net catches it, Gemini), the key of a deployment that refuses connections,
the caller's virtual key and a wrong virtual key. Upstream error messages *echo the key* (as real
providers do with a prefix of it), which is the hard case: the text comes back from upstream.
Logs are captured at DEBUG from every logger, formatted with tracebacks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.reliability.figures import record
from tests.reliability.harness import (
    CHAT,
    MESSAGES,
    GatewayThread,
    ThreadedMock,
    free_port,
)

from .conftest import sha

AREA = "security"
UPSTREAM = {
    "primary": "sk-canary-openai-9f8e7d6c5b4a3928170654",
    "claude": "canary-anthropic-plain-4c3b2a19e8d7f6",
    "gem": "AIza" + "CanaryGeminiKey0000000000000000000",
    "dead": "sk-canary-dead-deployment-11223344556677",
}
CLIENT_KEY = "hk-canary-client-key-5e6f7a8b9c0d"
WRONG_KEY = "hk-canary-wrong-client-key-0a1b2c3d"
CANARIES = (*UPSTREAM.values(), CLIENT_KEY, WRONG_KEY)

CONFIG = """
deployments:
  primary:
    provider: openai
    model: gpt-4o-mini
    base_url: {mock}/primary/v1
    api_key: {primary}
    tier: 2
    price: {{input: 0.15, output: 0.60}}
    context_window: 1000000
    timeout: {{first_token: 1, idle: 0.5, total: 1.5}}
  claude:
    provider: anthropic
    model: claude-sonnet-4-5
    base_url: {mock}/claude
    api_key: {claude}
    tier: 3
    price: {{input: 3.00, output: 15.00}}
    context_window: 1000000
    timeout: {{first_token: 1, idle: 0.5, total: 1.5}}
  gem:
    provider: gemini
    model: gemini-2.5-flash
    base_url: {mock}/gem/v1beta
    api_key: {gem}
    tier: 3
    price: {{input: 0.30, output: 2.50}}
    context_window: 1000000
    timeout: {{first_token: 1, idle: 0.5, total: 1.5}}
  dead:
    provider: openai
    model: gpt-4o
    base_url: http://127.0.0.1:{dead_port}/v1
    api_key: {dead}
    tier: 3
    price: {{input: 2.50, output: 10.00}}
baseline: claude
routes:
  - name: default
    use: [primary, claude, gem]
dispatch: {{max_attempts: 3, backoff_base: 0.001, backoff_max: 0.01, breaker_min_calls: 100000}}
server:
  keys:
    - {{name: team, key_sha256: {client_sha}, cost_center: research}}
ledger: "sqlite://:memory:"
"""


def phases(key: str) -> list[list[dict[str, Any]]]:
    """Fault rules for one deployment, one error path each; the messages echo its key."""
    return [
        [{"status": 401, "message": f"Incorrect API key provided: {key}."}],
        [{"status": 403, "message": f"key {key} may not use this model"}],
        [{"status": 500, "message": f"internal error while serving key {key}"}],
        [{"status": 400, "message": f"bad request (key={key})"}],
        [{"status": 422, "message": f"unprocessable for {key}"}],
        [{"status": 503, "message": f"overloaded; your key {key[:12]}... {key}"}],
        [{"status": 429, "retry_after_ms": 1, "message": f"slow down {key}"}],
        [{"context_window": 1}],
        [{"delay": 3}],
        [{"malformed_after": 1}],
        [{"close_after": 1}],
        [{"stall_after": 1}],
        [{"no_final_event": True}],
    ]


class Capture(logging.Handler):
    """Every record of every logger, formatted as a log file would hold it (tracebacks too)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured_logs() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    names = ("hybridllm", "uvicorn", "uvicorn.error", "uvicorn.access", "aiohttp", "psycopg")
    old = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for n, level in old.items():
            logging.getLogger(n).setLevel(level)


def leaks(text: str) -> list[str]:
    return [c for c in CANARIES if c in text or c[:24] in text]


async def test_canary_keys_appear_in_no_log_body_header_metric_or_ledger_row(
    tmp_path: Path, mock: ThreadedMock, captured_logs: Capture
) -> None:
    config = tmp_path / "hybridllm.yaml"
    config.write_text(
        CONFIG.format(
            mock=mock.url,
            dead_port=free_port(),
            client_sha=sha(CLIENT_KEY),
            **UPSTREAM,
        )
    )
    db = tmp_path / "ledger.db"
    gw = GatewayThread(config, f"sqlite:///{db}")
    outputs: list[str] = []
    statuses: dict[int, int] = {}
    auth = {"authorization": f"Bearer {CLIENT_KEY}", "content-type": "application/json"}

    async def send(
        session: aiohttp.ClientSession, path: str, body: bytes, headers: dict[str, str]
    ) -> None:
        async with session.post(gw.url + path, data=body, headers=headers) as resp:
            payload = await resp.read()
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            outputs.append(payload.decode(errors="replace"))
            outputs.append(repr(list(resp.headers.items())))

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            n = 0
            for name in ("primary", "claude", "gem"):
                for rules in phases(UPSTREAM[name]):
                    mock.set_faults(name, rules)
                    for stream in (False, True):
                        for path in (CHAT, MESSAGES):
                            n += 1
                            body = {
                                "model": name,
                                "max_tokens": 50,
                                "stream": stream,
                                "messages": [{"role": "user", "content": f"canary {n}"}],
                            }
                            await send(session, path, orjson.dumps(body), auth)
                mock.set_faults(name, [])
            # A deployment that refuses connections, and the whole chain failing.
            for path in (CHAT, MESSAGES):
                for model in ("dead", "auto"):
                    for name in ("primary", "claude", "gem"):
                        mock.set_faults(name, [{"status": 500, "message": UPSTREAM[name]}])
                    body = {
                        "model": model,
                        "max_tokens": 50,
                        "messages": [{"role": "user", "content": "x"}],
                    }
                    await send(session, path, orjson.dumps(body), auth)
            # The gateway's own errors: keys in the body, bad keys, bad bodies, bad hints.
            for path in (CHAT, MESSAGES, "/v1/route"):
                await send(session, path, orjson.dumps({"api_key": UPSTREAM["primary"]}), auth)
                await send(session, path, b'{"model": "' + CLIENT_KEY.encode(), auth)
                await send(session, path, b"{}", {**auth, "authorization": f"Bearer {WRONG_KEY}"})
                await send(session, path, b"{}", {"x-api-key": WRONG_KEY})
                await send(
                    session,
                    path,
                    orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": "x"}]}),
                    {**auth, "x-hybridllm-tier": WRONG_KEY},
                )
            async with session.get(gw.url + "/metrics", headers=auth) as resp:
                metrics = await resp.text()
        rows = gw.rows()
    finally:
        gw.stop()

    log_text = "\n".join(captured_logs.lines)
    ledger_text = "\n".join(repr(r) for r in rows)
    found = {
        "log lines": leaks(log_text),
        "error bodies and headers": leaks("\n".join(outputs)),
        "metrics": leaks(metrics),
        "ledger rows": leaks(ledger_text),
    }
    for sink, hits in found.items():
        record(AREA, f"canary keys found in {sink}", len(hits), "== 0")
    errors = sum(v for k, v in statuses.items() if k >= 400)
    record(AREA, "canary: error replies provoked", errors, "> 100", errors > 100)
    record(AREA, "canary: log lines captured", len(captured_logs.lines), "info", True)
    assert found == {k: [] for k in found}, found
    assert errors > 100, statuses
    assert len(captured_logs.lines) > 0  # the capture works: the failures were logged
