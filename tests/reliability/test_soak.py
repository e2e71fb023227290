"""Soak: many mixed requests with client disconnects and upstream faults; nothing accumulates.

Short profile: 3,000 requests; long: 100,000. 10% of the requests are abandoned by their client
(a stream after its first bytes, a plain request while in flight), 5% of primary's answers are
faults (500, 429 with Retry-After, a malformed chunk, a dropped connection, no usage). Afterwards:

- RSS grew less than 5% from the mark (request 20,000 in the long profile, 20% in the short one);
- the gateway loop's asyncio tasks and the process's sockets are back to their baseline (sockets
  counted net of idle keep-alive connections in the upstream pool);
- the budget's reservations are back to zero and its spend equals the ledger's;
- the ledger's spend over the plain replies equals the sum of their ``x-hybridllm-cost-usd``.

The gateway runs in this process on a thread of its own (its tasks are counted on its loop); the
mock upstream runs as a ``hybridllm mock-upstream`` subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest
import yaml

from .figures import PROFILE, long_or_short, record
from .harness import (
    CHAT,
    EXE,
    MESSAGES,
    GatewayThread,
    anthropic_body,
    anthropic_stream,
    chat_body,
    free_port,
    openai_stream,
    rss_bytes,
    socket_fds,
)

TOTAL = long_or_short(100_000, 3_000)
MARK = long_or_short(20_000, 600)
WORKERS = 16
RSS_LIMIT = 0.05 if PROFILE == "long" else 0.20  # a short run is mostly warm-up
AREA = "soak"
COST_CENTER = "soak"

FAULTS = {
    "primary": [
        {"rate": 0.015, "seed": 99, "status": 500},
        {"rate": 0.010, "status": 429, "retry_after_ms": 20},
        {"rate": 0.010, "malformed_after": 2},
        {"rate": 0.010, "close_after": 1},
        {"rate": 0.005, "no_usage": True},
    ],
}

CONFIG = """
deployments:
  local:
    provider: ollama
    model: llama3.2:3b
    base_url: {url}/local/v1
    tier: 1
  primary:
    provider: openai
    model: gpt-4o-mini
    base_url: {url}/primary/v1
    api_key: sk-test-soak-primary-00000000000
    tier: 2
    price: {{input: 0.15, output: 0.60}}
    timeout: {{first_token: 10, idle: 5, total: 30}}
  backup:
    provider: anthropic
    model: claude-sonnet-4-5
    base_url: {url}/backup
    api_key: {backup_key}
    tier: 3
    price: {{input: 3.00, output: 15.00}}
    timeout: {{first_token: 10, idle: 5, total: 30}}
baseline: backup
routes:
  - name: private
    when: {{contains_pii: true}}
    use: [local]
  - name: default
    use: [primary, backup]
budgets:
  - cost_center: {cc}
    daily_usd: 1000000
    monthly_usd: 1000000
    action: alert
dispatch:
  max_attempts: 3
  backoff_base: 0.001
  backoff_max: 0.01
  breaker_min_calls: 50
  deadline: 60
ledger: sqlite:///{ledger}
"""

PROMPTS = (
    "Summarize the quarterly report in two lines",
    "Translate into French: the meeting moved to Tuesday",
    "What is a monad? Explain briefly with one example",
    "Write a haiku about load balancers " + "and queues " * 20,
    "Reply to jane.doe@example.com about the invoice",  # PII: the local deployment
)


@pytest.fixture
def mock_process(tmp_path: Path) -> Iterator[str]:
    faults = tmp_path / "faults.yaml"
    faults.write_text(yaml.safe_dump(FAULTS))
    port = free_port()
    log = (tmp_path / "mock.log").open("wb")
    proc = subprocess.Popen(
        [str(EXE), "mock-upstream", "--port", str(port), "--faults", str(faults)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            with contextlib.suppress(OSError):
                import socket

                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            if proc.poll() is not None:
                raise RuntimeError("the mock upstream exited")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


class Tally:
    """Counts in memory; the plain replies go to a file, so that the client's own bookkeeping
    does not grow this process's RSS (45,000 ids would be ~7 MB of it in the long run)."""

    def __init__(self, replies: Path | None = None) -> None:
        self.sent = 0
        self.replies = replies.open("a", encoding="ascii") if replies is not None else None
        self.stream_replies = 0
        self.disconnects = 0
        self.errors = 0
        self.rss_mark: int | None = None


async def _request(
    session: aiohttp.ClientSession, url: str, rng: random.Random, n: int, tally: Tally
) -> None:
    openai = rng.random() < 0.6
    stream = rng.random() < 0.5
    leave = rng.random() < 0.10
    text = f"{rng.choice(PROMPTS)} #{n}"
    path = CHAT if openai else MESSAGES
    body = chat_body(text, stream=stream) if openai else anthropic_body(text, stream=stream)
    headers = {"content-type": "application/json", "x-hybridllm-cost-center": COST_CENTER}
    if leave:
        tally.disconnects += 1
        if stream:
            async with session.post(url + path, data=body, headers=headers) as resp:
                await resp.content.readany()
                resp.close()  # drop the connection mid-stream
        else:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(rng.uniform(0.0005, 0.02)):
                    async with session.post(url + path, data=body, headers=headers) as resp:
                        await resp.read()
        return
    async with session.post(url + path, data=body, headers=headers) as resp:
        payload = await resp.read()
        if resp.status != 200:
            tally.errors += 1
            return
        rid = resp.headers["x-request-id"]
        if stream:
            shape = openai_stream(payload) if openai else anthropic_stream(payload)
            if shape.complete:
                tally.stream_replies += 1
            else:
                tally.errors += 1  # an in-band error after the first byte (a fault mid-stream)
            return
        orjson.loads(payload)
        if tally.replies is not None:
            tally.replies.write(f"{rid} {resp.headers['x-hybridllm-cost-usd']}\n")


async def _drive(url: str, total: int, tally: Tally, seed: int) -> None:
    counter = iter(range(total))

    async def worker(w: int) -> None:
        rng = random.Random(seed * 1000 + w)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90)) as session:
            for n in counter:
                tally.sent += 1
                if n == MARK:
                    gc.collect()
                    tally.rss_mark = rss_bytes()
                try:
                    await _request(session, url, rng, n, tally)
                except (aiohttp.ClientError, TimeoutError):
                    tally.errors += 1

    await asyncio.gather(*(worker(w) for w in range(WORKERS)))


def _idle_upstream(gw: GatewayThread) -> tuple[int, int]:
    """(idle pooled, in use) connections of the gateway's upstream session."""
    runtime = gw.gateway.runtime
    if runtime is None or runtime.session is None:
        return 0, 0
    connector = runtime.session.connector
    conns: dict[object, list[object]] = getattr(connector, "_conns", {})
    acquired: set[object] = getattr(connector, "_acquired", set())
    return sum(len(v) for v in conns.values()), len(acquired)


async def _quiet(gw: GatewayThread, tasks: int, sockets: int) -> tuple[int, int, int]:
    """Wait (bounded) for the gateway to go back to its baseline; the last readings."""
    readings = (0, 0, 0)
    for _ in range(100):
        idle, in_use = _idle_upstream(gw)
        readings = (gw.task_count(), socket_fds() - idle, in_use)
        if readings[0] <= tasks and readings[1] <= sockets and in_use == 0:
            break
        await asyncio.sleep(0.1)
    return readings


async def test_soak_mixed_load_leaves_nothing_behind(tmp_path: Path, mock_process: str) -> None:
    db = tmp_path / "ledger.db"
    config = tmp_path / "hybridllm.yaml"
    config.write_text(
        CONFIG.format(
            url=mock_process,
            ledger=db,
            cc=COST_CENTER,
            backup_key="sk-ant-" + "test-soak-backup-000000000",
        )
    )
    gw = GatewayThread(config, f"sqlite:///{db}")
    try:
        # Baseline: warmed up (pools, caches, metric label sets), then idle.
        await _drive(gw.url, 200, Tally(), seed=1)
        await asyncio.sleep(0.2)
        idle, _ = _idle_upstream(gw)
        base_tasks, base_sockets = gw.task_count(), socket_fds() - idle
        gw.flush()
        warm_rows = len(gw.rows())

        tally = Tally(tmp_path / "replies.txt")
        started = time.monotonic()
        await _drive(gw.url, TOTAL, tally, seed=2)
        elapsed = time.monotonic() - started
        assert tally.replies is not None
        tally.replies.close()
        gc.collect()
        rss_end = rss_bytes()
        tasks, sockets, in_use = await _quiet(gw, base_tasks, base_sockets)

        runtime = gw.gateway.runtime
        assert runtime is not None and runtime.budgets is not None
        budgets = runtime.budgets
        keys = [a.limit.key for a in budgets.applicable(COST_CENTER, None)]
        counters = [gw.call(budgets.state.counter(k)) for k in keys]
        rows = gw.rows()
    finally:
        gw.stop()

    plain_replies: dict[str, float] = {}  # request id -> x-hybridllm-cost-usd
    for line in (tmp_path / "replies.txt").read_text().splitlines():
        rid, cost = line.split()
        plain_replies[rid] = float(cost)
    by_request: dict[str, float] = {}
    for row in rows:
        by_request[row.request_id] = by_request.get(row.request_id, 0.0) + (row.cost_usd or 0.0)
    ledger_total = sum(by_request.values())
    plain_ledger = sum(by_request.get(rid, 0.0) for rid in plain_replies)
    plain_headers = sum(plain_replies.values())
    # The header carries 8 decimals: at most 5e-9 of rounding per reply.
    header_tolerance = 5e-9 * len(plain_replies) + 1e-9
    missing_plain = [rid for rid in plain_replies if rid not in by_request]
    reserved = max(c.reserved for c in counters)
    spent_gap = max(abs(c.spent - ledger_total) for c in counters)
    assert tally.rss_mark is not None
    growth = (rss_end - tally.rss_mark) / tally.rss_mark
    faults_seen = sum(1 for r in rows if r.status in ("error", "partial") and r.error_class)

    record(AREA, "requests", tally.sent, f"== {TOTAL}")
    record(AREA, "client disconnects (share)", round(tally.disconnects / TOTAL, 3), "~0.10", True)
    record(
        AREA,
        "failed attempts/streams in the ledger",
        faults_seen,
        "info (5% faults + leavers)",
        True,
    )
    record(AREA, "plain replies", len(plain_replies), "> 0", bool(plain_replies))
    record(AREA, "complete streams", tally.stream_replies, "> 0", tally.stream_replies > 0)
    record(AREA, "throughput req/s", round(TOTAL / elapsed, 1), "info", True)
    record(
        AREA,
        f"RSS growth from request {MARK:,}",
        f"{growth:+.2%}",
        f"< {RSS_LIMIT:.0%}",
        growth < RSS_LIMIT,
    )
    record(AREA, "RSS at end (MiB)", round(rss_end / 2**20, 1), "info", True)
    record(AREA, "asyncio tasks over baseline", tasks - base_tasks, "<= 0", tasks <= base_tasks)
    record(AREA, "sockets over baseline", sockets - base_sockets, "<= 0", sockets <= base_sockets)
    record(AREA, "upstream connections still in use", in_use, "== 0")
    record(AREA, "budget reservations outstanding (USD)", reserved, "< 1e-12", reserved < 1e-12)
    record(AREA, "|budget spend - ledger spend| (USD)", spent_gap, "< 1e-9", spent_gap < 1e-9)
    gap = abs(plain_ledger - plain_headers)
    record(
        AREA,
        "|ledger spend - sum of cost headers| (USD)",
        gap,
        f"<= {header_tolerance:.1e}",
        gap <= header_tolerance,
    )
    record(AREA, "plain replies without ledger rows", len(missing_plain), "== 0")
    record(AREA, "ledger rows", len(rows) - warm_rows, "info", True)

    assert tally.sent == TOTAL
    assert missing_plain == []
    assert gap <= header_tolerance, (plain_ledger, plain_headers)
    assert reserved < 1e-12  # float subtraction may leave 1e-18; a held reservation is >1e-6
    assert spent_gap < 1e-9
    assert in_use == 0
    assert tasks <= base_tasks, (tasks, base_tasks)
    assert sockets <= base_sockets, (sockets, base_sockets)
    assert growth < RSS_LIMIT, f"RSS grew {growth:.2%} from request {MARK}"
