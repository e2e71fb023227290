"""``pg_ctl stop -m immediate`` under load with the Postgres ledger, on a private cluster.

Every cycle crashes the database mid-load and starts it again; every other cycle also kills the
gateway (``kill -9``) while the database is down, so rows still waiting in its writer die with it.
Afterwards: the ledger's integrity check and ``pg_amcheck`` pass, every reply a client received
has its answering row, and no request id has two.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from hybridllm.ledger.postgres import PostgresStore

from .figures import long_or_short, record
from .harness import ServeProcess, ThreadedMock, free_port
from .load import Load
from .pgcluster import PrivateCluster, find_bin
from .test_crash_sqlite import answering_rows, write_config

CYCLES = long_or_short(20, 4)
AREA = "crash-postgres"


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    bindir = find_bin()
    reason = None
    if bindir is None:
        reason = "no PostgreSQL server binaries (initdb, pg_ctl) are installed"
    elif os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            reason = "running as root without a 'postgres' user to run initdb as"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the Postgres crash test must run)")
        pytest.skip(reason)
    assert bindir is not None
    pg = PrivateCluster(bindir, free_port())
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.destroy()


async def test_postgres_immediate_stop_under_load_loses_no_reply(
    tmp_path: Path, mock: ThreadedMock, cluster: PrivateCluster
) -> None:
    mock.set_faults("primary", [{"chunk_delay": 0.004}])
    mock.set_faults("backup", [{"chunk_delay": 0.004}])
    config = write_config(tmp_path, mock.url, cluster.url)
    serve = ServeProcess(config, free_port(), tmp_path / "serve.log")
    rng = random.Random(4242)
    crashes = kills = 0
    started = time.monotonic()
    async with aiohttp.ClientSession() as control:
        await serve.start(control)
        async with Load(serve.url, 6, seed=3) as load:
            try:
                for cycle in range(CYCLES):
                    await asyncio.sleep(rng.uniform(0.3, 1.2))
                    cluster.crash()
                    crashes += 1
                    await asyncio.sleep(rng.uniform(0.1, 0.8))
                    if cycle % 2 == 1:
                        serve.kill()  # with rows of the outage still pending in its writer
                        kills += 1
                    cluster.start()
                    if cycle % 2 == 1:
                        await serve.start(control)
                await asyncio.sleep(1.0)  # replies waiting on the last outage come through
            finally:
                await load.stop()
                serve.terminate()
    elapsed = time.monotonic() - started
    log_tail = (tmp_path / "serve.log").read_text(errors="replace")[-3000:]

    store = PostgresStore(cluster.url)
    try:
        problems = store.integrity_check()
        rows = [(r.request_id, r.status) for r in store.rows()]
    finally:
        store.close()
    amcheck = cluster.amcheck()
    received = load.stats.received
    ids = [r.request_id for r in received]
    answers = answering_rows(rows)
    missing = [rid for rid in ids if answers.get(rid, 0) != 1]
    double_answers = sum(1 for n in answers.values() if n > 1)

    record(AREA, "pg_ctl stop -m immediate", crashes, f"== {CYCLES}")
    record(AREA, "kill -9 of the gateway while Postgres is down", kills, f"== {CYCLES // 2}")
    record(AREA, "replies received (complete)", len(received), "> 0", len(received) > 0)
    record(AREA, "integrity_check problems", len(problems), "== 0")
    record(AREA, "pg_amcheck failures", 0 if not amcheck else 1, "== 0")
    record(AREA, "replies without their ledger row", len(missing), "== 0")
    record(AREA, "request ids reused across replies", len(ids) - len(set(ids)), "== 0")
    record(AREA, "request ids with >1 answering row", double_answers, "== 0")
    record(AREA, "run seconds", round(elapsed, 1), "info", True)

    assert problems == [], log_tail
    assert amcheck == "", amcheck
    assert received, f"no reply got through: {log_tail}"
    assert missing == [], f"{len(missing)} replies have no answering row, e.g. {missing[:5]}"
    assert len(ids) == len(set(ids))
    assert double_answers == 0
