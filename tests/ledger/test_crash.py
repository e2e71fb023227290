"""Durability across the life of a process: ``kill -9`` and a plain exit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from hybridllm.ledger import SqliteStore

from .helpers import build_row

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from hybridllm.ledger import LedgerWriter, open_store
    from tests.ledger.helpers import build_row

    async def main() -> None:
        writer = LedgerWriter(lambda: open_store("sqlite:///" + sys.argv[1]), flush_interval=0.01)
        writer.start()
        i = 0
        while True:
            i += 1
            seq = writer.submit(build_row(i))
            for attempt in range(2, 5):  # rows nobody waits for: commits in flight at the kill
                writer.submit(build_row(i, attempt=attempt))
            await writer.wait_durable(seq)
            print(f"durable {i}", flush=True)

    asyncio.run(main())
    """
)


EXIT_WITHOUT_CLOSE = textwrap.dedent(
    """
    import sys
    from hybridllm.ledger import LedgerWriter, open_store
    from tests.ledger.helpers import build_row

    writer = LedgerWriter(lambda: open_store("sqlite:///" + sys.argv[1]), flush_interval=60)
    writer.start()
    for i in range(500):
        writer.submit(build_row(i))
    """
)


def child_env() -> dict[str, str]:
    root = Path(__file__).resolve().parents[2]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}


def test_a_process_that_exits_without_closing_the_writer_still_commits_its_rows(
    tmp_path: Path,
) -> None:
    db = tmp_path / "ledger.db"
    done = subprocess.run(
        [sys.executable, "-c", EXIT_WITHOUT_CLOSE, str(db)],
        env=child_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    store = SqliteStore(db)
    try:
        assert store.count() == 500
    finally:
        store.close()


def kill_after_durable(script: str, db: Path, cwd: Path, count: int) -> int:
    """Run ``script`` (it prints ``durable N`` per row it saw durable) and ``kill -9`` it once it
    has reported ``count`` rows; the last N it reported."""
    durable = 0
    with subprocess.Popen(
        [sys.executable, "-c", script, str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=cwd,
    ) as proc:
        watchdog = threading.Timer(10, proc.kill)  # never hang the test run
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                match = re.fullmatch(r"durable (\d+)\n", line)
                assert match, line
                durable = int(match.group(1))
                if durable >= count:
                    os.kill(proc.pid, signal.SIGKILL)  # mid-flight: the child never stops writing
                    break
            proc.wait(5)
            stderr = proc.stderr.read() if proc.stderr else ""
        finally:
            watchdog.cancel()
    assert durable >= count, f"child stopped early: {stderr[-2000:]}"
    assert proc.returncode == -signal.SIGKILL
    return durable


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_every_row_reported_durable_survives_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "crash" / "ledger.db"
    durable = kill_after_durable(CHILD, db, tmp_path, 300)

    store = SqliteStore(db)
    try:
        assert store.integrity_check() == []
        stored = {(r.request_id, r.attempt) for r in store.rows()}
    finally:
        store.close()
    missing = [i for i in range(1, durable + 1) if (build_row(i).request_id, 1) not in stored]
    assert missing == []
