"""``kill -9`` of a real ``hybridllm serve`` at random moments under load, SQLite ledger.

Short profile: 50 kills; long: 200. After every run: the database passes SQLite's integrity check,
every reply a client received (its ``x-request-id``) has its answering row, and no request id has
two answering rows.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import pytest

from hybridllm.ledger import SqliteStore

from .figures import long_or_short, record
from .harness import ServeProcess, ThreadedMock, free_port
from .load import Load

KILLS = long_or_short(200, 50)
AREA = "crash-sqlite"

CONFIG = """
deployments:
  primary:
    provider: openai
    model: gpt-4o-mini
    base_url: {url}/primary/v1
    api_key: sk-test-crash-primary-0000000000
    tier: 2
    price: {{input: 0.15, output: 0.60}}
    timeout: {{first_token: 10, idle: 10, total: 30}}
  backup:
    provider: anthropic
    model: claude-sonnet-4-5
    base_url: {url}/backup
    api_key: {backup_key}
    tier: 3
    price: {{input: 3.00, output: 15.00}}
    timeout: {{first_token: 10, idle: 10, total: 30}}
baseline: backup
routes:
  - name: default
    use: [primary, backup]
dispatch: {{max_attempts: 3, backoff_base: 0.001, backoff_max: 0.01, deadline: 60}}
ledger: {ledger}
"""


def write_config(tmp_path: Path, mock_url: str, ledger: str) -> Path:
    path = tmp_path / "hybridllm.yaml"
    path.write_text(
        CONFIG.format(
            url=mock_url, ledger=ledger, backup_key="sk-ant-" + "test-crash-backup-00000000"
        )
    )
    return path


def answering_rows(rows: Sequence[tuple[str, str]]) -> Counter[str]:
    """request id -> how many of its rows answered the caller (status ok or partial)."""
    return Counter(rid for rid, status in rows if status in ("ok", "partial"))


async def test_kill_9_under_load_loses_no_reply_and_duplicates_none(
    tmp_path: Path, mock: ThreadedMock
) -> None:
    # Streams take a while (kills land mid-stream); 3% of primary's answers fail over to backup.
    mock.set_faults("primary", [{"rate": 0.03, "seed": 7, "status": 503}, {"chunk_delay": 0.004}])
    mock.set_faults("backup", [{"chunk_delay": 0.004}])
    db = tmp_path / "ledger.db"
    config = write_config(tmp_path, mock.url, f"sqlite:///{db}")
    serve = ServeProcess(config, free_port(), tmp_path / "serve.log")
    rng = random.Random(20250601)
    started = time.monotonic()
    kills = 0
    async with aiohttp.ClientSession() as control, Load(serve.url, 6, seed=11) as load:
        try:
            for _ in range(KILLS):
                await serve.start(control)
                await asyncio.sleep(rng.uniform(0.05, 0.9))  # a random moment under load
                serve.kill()
                kills += 1
        finally:
            serve.kill()
        await load.stop()
    elapsed = time.monotonic() - started
    log_tail = (tmp_path / "serve.log").read_text(errors="replace")[-3000:]

    store = SqliteStore(db)
    try:
        problems = store.integrity_check()
        rows = [(r.request_id, r.status) for r in store.rows()]
    finally:
        store.close()
    received = load.stats.received
    ids = [r.request_id for r in received]
    stored = {rid for rid, _ in rows}
    answers = answering_rows(rows)
    missing = [rid for rid in ids if answers.get(rid, 0) != 1]
    duplicate_ids = len(ids) - len(set(ids))
    double_answers = sum(1 for n in answers.values() if n > 1)

    record(AREA, "kill -9 of hybridllm serve", kills, f"== {KILLS}")
    record(AREA, "replies received (complete)", len(received), "> 0", len(received) > 0)
    record(
        AREA,
        "replies: streamed share",
        round(sum(r.kind.endswith("stream") for r in received) / max(1, len(received)), 3),
        "info",
        True,
    )
    record(AREA, "requests failed (gateway down/killed)", load.stats.failed, "info", True)
    record(AREA, "integrity_check problems", len(problems), "== 0")
    record(AREA, "replies without their ledger row", len(missing), "== 0")
    record(AREA, "request ids reused across replies", duplicate_ids, "== 0")
    record(AREA, "request ids with >1 answering row", double_answers, "== 0")
    record(AREA, "ledger rows", len(rows), "info", True)
    record(AREA, "run seconds", round(elapsed, 1), "info", True)

    assert kills == KILLS
    assert problems == [], log_tail
    assert received, f"no reply got through: {log_tail}"
    assert missing == [], f"{len(missing)} replies have no answering row, e.g. {missing[:5]}"
    assert duplicate_ids == 0
    assert double_answers == 0
    assert set(ids) <= stored


@pytest.mark.parametrize("kind", ["openai-stream", "anthropic"])
async def test_a_reply_is_sent_only_after_its_row_is_durable(
    tmp_path: Path, mock: ThreadedMock, kind: str
) -> None:
    """The row is committed before the reply's last byte: kill right after a reply, row present."""
    db = tmp_path / "ledger.db"
    config = write_config(tmp_path, mock.url, f"sqlite:///{db}")
    serve = ServeProcess(config, free_port(), tmp_path / "serve.log")
    from .load import one_request

    async with aiohttp.ClientSession() as session:
        await serve.start(session)
        try:
            got = await one_request(session, serve.url, kind, "durable before reply")
        finally:
            serve.kill()
    assert got is not None
    store = SqliteStore(db)
    try:
        rows = [(r.request_id, r.status) for r in store.rows()]
    finally:
        store.close()
    assert answering_rows(rows)[got.request_id] == 1
