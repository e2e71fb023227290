"""The spool: a row is crash-safe once submitted, committed in batches, replayed after a crash."""

from __future__ import annotations

import asyncio
import os
import signal
import textwrap
import time
from pathlib import Path

import pytest

from hybridllm.ledger import LedgerRow, LedgerWriter, SqliteStore, open_store
from hybridllm.ledger.open import open_spool
from hybridllm.ledger.spool import SEGMENT_BYTES, Spool, _encode, recover, spool_dir

from .helpers import build_row
from .test_crash import kill_after_durable

SPOOLED_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from hybridllm.ledger import LedgerWriter, open_store
    from hybridllm.ledger.open import open_spool
    from tests.ledger.helpers import build_row

    async def main() -> None:
        url = "sqlite:///" + sys.argv[1]
        # A minute between commits: every row the parent sees as durable is in the spool only.
        writer = LedgerWriter(lambda: open_store(url), flush_interval=60, spool=open_spool(url))
        writer.start()
        i = 0
        while True:
            i += 1
            seq = writer.submit(build_row(i))
            await writer.wait_durable(seq)
            print(f"durable {i}", flush=True)

    asyncio.run(main())
    """
)


def _segments(db: Path) -> list[Path]:
    return sorted(spool_dir(db).glob("*.seg"))


def _ids(db: Path) -> set[str]:
    store = SqliteStore(db)
    try:
        return {r.request_id for r in store.rows()}
    finally:
        store.close()


def _writer(db: Path, *, flush_interval: float, segment_bytes: int = SEGMENT_BYTES) -> LedgerWriter:
    url = f"sqlite:///{db}"
    spool = Spool(spool_dir(db), segment_bytes=segment_bytes)
    return LedgerWriter(lambda: open_store(url), spool=spool, flush_interval=flush_interval)


def test_only_a_file_sqlite_ledger_has_a_spool(tmp_path: Path) -> None:
    assert open_spool(f"sqlite:///{tmp_path}/l.db") is not None
    assert open_spool("sqlite://:memory:") is None
    assert open_spool("postgresql://localhost/test") is None


def test_a_spooled_row_is_durable_before_any_commit(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    writer = _writer(db, flush_interval=60)
    writer.start()
    try:
        seq = writer.submit(build_row(1))

        async def wait() -> None:
            await asyncio.wait_for(writer.wait_durable(seq), 1.0)

        asyncio.run(wait())  # returns without a commit: the flush interval is a minute
        assert writer.stats().committed == 0
        (segment,) = _segments(db)
        assert b'"request_id":"req-000001"' in segment.read_bytes()
    finally:
        writer.close()
    assert _ids(db) == {"req-000001"}
    assert _segments(db) == []  # closed with everything committed: nothing left to replay


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_every_spooled_row_reported_durable_survives_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    durable = kill_after_durable(SPOOLED_CHILD, db, tmp_path, 200)
    assert _segments(db), "the killed child's rows should be waiting in its spool"
    # Opening the ledger (any reader) replays what the dead process left, exactly once.
    ids = _ids(db)
    assert {build_row(i).request_id for i in range(1, durable + 1)} <= ids
    assert _segments(db) == []
    assert _ids(db) == ids


def test_segments_roll_over_and_go_once_their_rows_are_committed(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    writer = _writer(db, flush_interval=0.01, segment_bytes=2_000)
    writer.start()
    try:
        for i in range(200):  # ~500 bytes a row: a new segment every 4 rows
            writer.submit(build_row(i))
        writer.flush(5)
        deadline = time.monotonic() + 5  # segments are deleted just after the commit returns
        while len(_segments(db)) > 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(_segments(db)) == 1  # only the one being written
    finally:
        writer.close()
    assert len(_ids(db)) == 200


def test_recovery_skips_a_live_process_segment_and_a_torn_line(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    SqliteStore(db).close()
    store = open_store(f"sqlite:///{db}")
    store.close()
    live = Spool(spool_dir(db))
    live.open()  # this process holds its lock: it is "alive"
    live.append(1, build_row(1))
    dead = spool_dir(db) / "999999-dead-1.seg"
    good = build_row(2)
    dead.write_bytes(_encode(good) + b"\n" + b'{"request_id": "torn')
    written: list[LedgerRow] = []
    assert recover(spool_dir(db), written.extend) == 1
    assert written == [good]
    assert not dead.exists()
    assert len(_segments(db)) == 1  # the live one stays
    live.close(delete=True)
    assert _segments(db) == []


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="no posix_fallocate here")
def test_a_segment_is_allocated_up_front_so_a_row_never_grows_the_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", segment_bytes=64 * 1024)
    spool.open()
    (path,) = sorted(spool.directory.glob("*.seg"))
    allocated = path.stat().st_size
    assert allocated >= 64 * 1024
    for i in range(1, 21):
        spool.append(i, build_row(i))
    assert path.stat().st_size == allocated  # written in place, past them zeros
    rows: list[LedgerRow] = []
    spool.close(delete=False)  # not committed: the segment stays, cut to its rows
    assert 0 < path.stat().st_size < allocated
    assert not path.read_bytes().endswith(b"\0")
    assert recover(spool.directory, rows.extend) == 20
    assert rows == [build_row(i) for i in range(1, 21)]


def test_a_disk_too_full_to_allocate_a_segment_still_takes_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(fd: int, offset: int, size: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", refuse, raising=False)
    spool = Spool(tmp_path / "spool")
    spool.open()  # the gateway still starts; rows grow the file as they come
    spool.append(1, build_row(1))
    spool.close(delete=False)
    rows: list[LedgerRow] = []
    assert recover(spool.directory, rows.extend) == 1
    assert rows == [build_row(1)]


def test_a_dead_process_segment_with_zeros_past_its_rows_replays_every_row(
    tmp_path: Path,
) -> None:
    """A killed process leaves its segment as allocated: its rows, then zeros."""
    directory = tmp_path / "spool"
    directory.mkdir()
    rows = [build_row(i) for i in range(1, 4)]
    dead = directory / "999999-dead-1.seg"
    dead.write_bytes(b"".join(_encode(r) + b"\n" for r in rows) + b"\0" * 8192)
    written: list[LedgerRow] = []
    assert recover(directory, written.extend) == 3
    assert written == rows
    assert not dead.exists()


class _FailingSpool(Spool):
    def append(self, seq: int, row: LedgerRow) -> None:
        raise OSError(28, "No space left on device")


def test_a_failing_spool_falls_back_to_waiting_for_the_commit(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    url = f"sqlite:///{db}"
    writer = LedgerWriter(
        lambda: open_store(url), flush_interval=60, spool=_FailingSpool(spool_dir(db))
    )
    writer.start()
    try:
        seq = writer.submit(build_row(1))  # the spool fails: the request path does not

        async def wait() -> None:
            await asyncio.wait_for(writer.wait_durable(seq), 5.0)

        asyncio.run(wait())
        assert writer.stats().committed == 1  # durable through a commit instead
    finally:
        writer.close()
    assert _ids(db) == {"req-000001"}
