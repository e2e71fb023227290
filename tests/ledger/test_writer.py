from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from hybridllm.ledger import LedgerWriter, LedgerWriterClosedError, SqliteStore, open_store
from hybridllm.ledger.writer import WRITER_NICENESS

from .helpers import GatedStore, build_row, count_rows


def sqlite_factory(path: Path) -> LedgerWriter:
    return LedgerWriter(lambda: open_store(f"sqlite:///{path}"))


def test_rows_submitted_before_start_are_committed_in_batches_of_batch_size(
    db_path: Path,
) -> None:
    store = GatedStore(db_path)
    writer = LedgerWriter(lambda: store, batch_size=256)
    seqs = [writer.submit(build_row(i)) for i in range(1000)]
    assert seqs == list(range(1, 1001))
    writer.start()
    writer.flush(timeout=5)
    assert store.batch_sizes == [256, 256, 256, 232]
    stats = writer.stats()
    assert (stats.submitted, stats.committed, stats.batches, stats.pending) == (1000, 1000, 4, 0)
    writer.close()
    assert count_rows(db_path) == 1000


def test_many_rows_submitted_at_a_high_rate_take_few_commits(db_path: Path) -> None:
    writer = LedgerWriter(lambda: SqliteStore(db_path), batch_size=256, flush_interval=0.05)
    writer.start()
    try:
        for i in range(2000):
            writer.submit(build_row(i))
        writer.flush(timeout=5)
        stats = writer.stats()
        assert stats.committed == 2000
        assert stats.batches <= 100  # one commit per row would be 2000
    finally:
        writer.close()
    assert count_rows(db_path) == 2000


def test_rows_arriving_while_a_batch_commits_go_into_the_next_batch(db_path: Path) -> None:
    store = GatedStore(db_path)
    writer = LedgerWriter(lambda: store, flush_interval=0)
    writer.start()
    try:
        store.gate.clear()
        writer.submit(build_row(0))
        assert store.entered.wait(5)  # the first batch is being written
        for i in range(1, 101):
            writer.submit(build_row(i))
        store.gate.set()
        writer.flush(timeout=5)
        assert store.batch_sizes == [1, 100]
    finally:
        writer.close()


async def test_wait_durable_resolves_only_after_the_commit(db_path: Path) -> None:
    store = GatedStore(db_path)
    writer = LedgerWriter(lambda: store)
    await asyncio.to_thread(writer.start)
    try:
        store.gate.clear()
        seq = writer.submit(build_row(1))
        waiting = asyncio.ensure_future(writer.wait_durable(seq))
        assert await asyncio.to_thread(store.entered.wait, 5)
        await asyncio.sleep(0.05)
        assert not waiting.done()
        assert count_rows(db_path) == 0  # a second connection sees nothing yet
        store.gate.set()
        await asyncio.wait_for(waiting, 5)
        assert count_rows(db_path) == 1
    finally:
        store.gate.set()
        await asyncio.to_thread(writer.close)


async def test_wait_durable_commits_at_once_without_waiting_for_the_flush_interval(
    db_path: Path,
) -> None:
    writer = LedgerWriter(lambda: SqliteStore(db_path), flush_interval=30)
    await asyncio.to_thread(writer.start)
    try:
        started = time.monotonic()
        for i in range(20):
            await writer.wait_durable(writer.submit(build_row(i)))
        assert time.monotonic() - started < 5
        assert count_rows(db_path) == 20
    finally:
        await asyncio.to_thread(writer.close)


def test_rows_nobody_waits_for_are_committed_after_the_flush_interval(db_path: Path) -> None:
    writer = LedgerWriter(lambda: SqliteStore(db_path), flush_interval=0.02)
    writer.start()
    try:
        writer.submit(build_row(1))
        deadline = time.monotonic() + 5
        while count_rows(db_path) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert count_rows(db_path) == 1
    finally:
        writer.close()


def test_wait_durable_works_from_several_event_loops_in_other_threads(db_path: Path) -> None:
    writer = sqlite_factory(db_path)
    writer.start()
    errors: list[BaseException] = []

    def client(k: int) -> None:
        async def run() -> None:
            for i in range(20):
                await writer.wait_durable(writer.submit(build_row(k * 1000 + i)))

        try:
            asyncio.run(run())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    writer.close()
    assert errors == []
    assert count_rows(db_path) == 80


async def test_a_cancelled_wait_durable_leaves_the_writer_working(db_path: Path) -> None:
    store = GatedStore(db_path)
    writer = LedgerWriter(lambda: store)
    await asyncio.to_thread(writer.start)
    try:
        store.gate.clear()
        seq = writer.submit(build_row(1))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(writer.wait_durable(seq), 0.05)
        store.gate.set()
        await asyncio.wait_for(writer.wait_durable(seq), 5)
        await writer.wait_durable(seq)  # already committed: returns at once
    finally:
        store.gate.set()
        await asyncio.to_thread(writer.close)
    assert count_rows(db_path) == 1


async def test_wait_durable_rejects_a_sequence_number_never_handed_out(db_path: Path) -> None:
    writer = sqlite_factory(db_path)
    with pytest.raises(ValueError, match="never returned"):
        await writer.wait_durable(1)
    writer.close()


def test_flush_raises_timeout_error_when_the_store_is_stuck(db_path: Path) -> None:
    store = GatedStore(db_path)
    writer = LedgerWriter(lambda: store)
    writer.start()
    try:
        store.gate.clear()
        writer.submit(build_row(1))
        with pytest.raises(TimeoutError):
            writer.flush(timeout=0.05)
    finally:
        store.gate.set()
        writer.close()
    assert count_rows(db_path) == 1


def test_close_commits_everything_and_closing_twice_is_fine(db_path: Path) -> None:
    writer = LedgerWriter(lambda: SqliteStore(db_path), flush_interval=30)
    writer.start()
    for i in range(300):
        writer.submit(build_row(i))
    writer.close()
    writer.close()
    assert count_rows(db_path) == 300
    with pytest.raises(LedgerWriterClosedError):
        writer.submit(build_row(1000))
    with pytest.raises(LedgerWriterClosedError):
        writer.start()


def test_rows_survive_a_store_that_fails_once_then_recovers(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = GatedStore(db_path, fail_times=1)
    writer = LedgerWriter(lambda: store, retry_initial=0.01, retry_max=0.02)
    writer.start()
    try:
        with caplog.at_level(logging.WARNING, logger="hybridllm.ledger"):
            for i in range(50):
                writer.submit(build_row(i, key_name="secret-team-key"))
            writer.flush(timeout=5)
        stats = writer.stats()
        assert (stats.submitted, stats.committed, stats.failed_batches) == (50, 50, 1)
    finally:
        writer.close()
    assert count_rows(db_path) == 50
    assert "disk is full" in caplog.text
    assert "recovered" in caplog.text
    assert "secret-team-key" not in caplog.text
    assert "req-" not in caplog.text


async def test_close_gives_up_on_a_store_that_never_recovers(db_path: Path) -> None:
    store = GatedStore(db_path, fail_times=10**9)
    writer = LedgerWriter(lambda: store, retry_initial=0.01, retry_max=0.02)
    await asyncio.to_thread(writer.start)
    seq = writer.submit(build_row(1))
    waiting = asyncio.ensure_future(writer.wait_durable(seq))
    flushing = asyncio.ensure_future(asyncio.to_thread(writer.flush, 5))
    await asyncio.sleep(0.05)
    await asyncio.to_thread(writer.close, 0.1)
    with pytest.raises(LedgerWriterClosedError):
        await asyncio.wait_for(waiting, 5)
    with pytest.raises(LedgerWriterClosedError):
        await asyncio.wait_for(flushing, 5)
    stats = writer.stats()
    assert stats.dropped == 1 and stats.committed == 0 and stats.failed_batches >= 1
    with pytest.raises(LedgerWriterClosedError):
        await writer.wait_durable(seq)


def test_start_raises_when_the_store_cannot_be_opened(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    writer = LedgerWriter(lambda: SqliteStore(blocker / "ledger.db"))
    with pytest.raises(OSError):
        writer.start()
    writer.close()


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        LedgerWriter(lambda: SqliteStore(":memory:"), batch_size=0)
    with pytest.raises(ValueError):
        LedgerWriter(lambda: SqliteStore(":memory:"), retry_initial=1, retry_max=0.5)


def test_the_wal_is_checkpointed_when_the_writer_is_idle_not_inside_commits(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    store = SqliteStore(db)
    try:
        store.migrate()
        store.write_many([build_row(0)])
        store.maintain(idle=True)
        before = db.stat().st_size
        store.write_many([build_row(i) for i in range(1, 3000)])
        assert db.stat().st_size == before  # commits leave the pages in the WAL
        store.maintain(idle=False)  # busy, and under the row threshold: no checkpoint yet
        assert db.stat().st_size == before
        store.maintain(idle=True)
        assert db.stat().st_size > before  # checkpointed into the database file
        assert store.count() == 3000
    finally:
        store.close()


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are a Linux feature")
def test_the_writer_thread_runs_at_a_lower_priority_than_the_request_path(db_path: Path) -> None:
    writer = sqlite_factory(db_path)
    writer.start()
    try:
        thread = next(t for t in threading.enumerate() if t.name == "hybridllm-ledger-writer")
        assert thread.native_id is not None
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        theirs = os.getpriority(os.PRIO_PROCESS, thread.native_id)
        assert theirs == min(19, mine + WRITER_NICENESS)
        assert theirs > mine or mine == 19  # 19 is the lowest priority there is
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # only it
        writer.submit(build_row(1))
        writer.flush(timeout=5)
    finally:
        writer.close()
    assert count_rows(db_path) == 1
