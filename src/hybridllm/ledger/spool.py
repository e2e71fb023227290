"""The spool: append-only files beside a SQLite ledger that make a row crash-safe at once.

A reply may leave the gateway only when its ledger row survives a crash of the gateway (SPEC,
Ledger). Committing a SQLite transaction per reply costs ~60-90 us of CPU; appending one line to a
file costs ~2 us, and is just as safe against ``kill -9``, the OOM killer or a crash of the
process: once ``write()`` returns, the bytes are in the OS page cache and the kernel writes them
out whatever happens to the process (a crash of the OS needs an fsync, which the SQLite store does
not do per commit either). So the writer appends each row to the spool as it is submitted, and
commits rows to SQLite in large batches in its thread; a batch's rows are then dropped from the
spool by deleting whole segment files.

A segment's space is allocated when it is created (``posix_fallocate``), and each row is written
at its offset (``pwrite``): a row then changes no file size and allocates no block, so the event
loop's append touches no file metadata. With appends that grew the file, the gateway's p99 at
half load rose by 10-20 ms at each checkpoint the writer forced under load (its ``fdatasync``),
on a host whose disk was slow that morning; not later (docs/performance.md, round 7). A segment
holds zeros past its last row until it is closed.

Layout, for the ledger ``/path/ledger.db``::

    /path/ledger.db.spool/<pid>-<random>-<n>.seg     one JSON row per line (then zeros)

Each process writes its own segments and holds an exclusive ``flock`` on each while it is open
(a segment is created under a temporary name, locked, then renamed, so no other process can see
it unlocked). A segment nobody holds a lock on belongs to a process that died before committing
it: :func:`recover` replays such segments into the store (``INSERT OR IGNORE`` on
``(request_id, attempt)``, so a row already committed is not written twice) and deletes them.
Every :class:`~hybridllm.ledger.sqlite.SqliteStore` opened on a file does that, so any reader of
the ledger (``report``, ``export``, a restarted gateway) sees every row a caller was answered with.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from hybridllm.ledger.row import LedgerRow

__all__ = ["SEGMENT_BYTES", "Spool", "recover", "spool_dir"]

log = logging.getLogger("hybridllm.ledger")

SEGMENT_BYTES = 4 * 1024 * 1024  # a new segment past this size: old ones can then be deleted
# Allocated beyond SEGMENT_BYTES, for the row that crosses it (a longer one grows the file).
_SLACK = 64 * 1024
_SUFFIX = ".seg"
_encode = msgspec.json.Encoder().encode
_decode_row = msgspec.json.Decoder(LedgerRow).decode


def spool_dir(db_path: str | os.PathLike[str]) -> Path:
    return Path(f"{os.fspath(db_path)}.spool")


@dataclass(slots=True)
class _Segment:
    path: Path
    fd: int
    size: int = 0
    last_seq: int = 0  # the highest seq written to it


class Spool:
    """One process's segments. Not thread-safe: the writer calls it under its own lock."""

    def __init__(self, directory: Path, *, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._segments: deque[_Segment] = deque()
        self._serial = 0
        self._token = os.urandom(4).hex()

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._segments.append(self._new_segment())

    def _new_segment(self) -> _Segment:
        self._serial += 1
        name = f"{os.getpid()}-{self._token}-{self._serial}"
        tmp = self.directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _allocate(fd, self.segment_bytes + _SLACK)
            final = self.directory / f"{name}{_SUFFIX}"
            os.rename(tmp, final)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return _Segment(final, fd)

    def append(self, seq: int, row: LedgerRow) -> None:
        """Write ``row`` (sequence ``seq``) to the current segment; raises ``OSError``."""
        segment = self._segments[-1]
        if segment.size >= self.segment_bytes:
            segment = self._new_segment()
            self._segments.append(segment)
        line = _encode(row) + b"\n"
        written = os.pwrite(segment.fd, line, segment.size)
        if written != len(line):
            # A full disk past the allocated space. The writer closes the spool, which cuts the
            # segment back to its whole rows (``segment.size`` has not moved).
            raise OSError(f"short write to the ledger spool ({written} of {len(line)} bytes)")
        segment.size += written
        segment.last_seq = seq

    def release(self, committed_seq: int) -> list[Path]:
        """Close the segments (except the current one) whose rows are all committed; their paths,
        to be deleted by the caller outside its lock."""
        done: list[Path] = []
        while len(self._segments) > 1 and self._segments[0].last_seq <= committed_seq:
            segment = self._segments.popleft()
            done.append(segment.path)
            self._close_fd(segment)
        return done

    def close(self, *, delete: bool) -> None:
        """Close every segment; delete them when every row in them is committed, else cut each
        to its rows (the zeros past them go)."""
        while self._segments:
            segment = self._segments.popleft()
            if delete:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(segment.path)
            else:
                with contextlib.suppress(OSError):
                    os.ftruncate(segment.fd, segment.size)
            self._close_fd(segment)

    @staticmethod
    def _close_fd(segment: _Segment) -> None:
        with contextlib.suppress(OSError):
            os.close(segment.fd)  # releases the flock


def recover(directory: Path, write_many: Callable[[Sequence[LedgerRow]], None]) -> int:
    """Replay the segments in ``directory`` that no live process holds, then delete them.

    Returns how many rows were replayed (rows already in the store are skipped by ``write_many``).
    A line that does not decode (a partial line from a full disk) is skipped with a warning.
    """
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return 0
    for path in entries:  # a process that died between creating a segment and naming it
        if path.name.endswith(".tmp"):
            _remove_if_unlocked(path)
    names = sorted(p for p in entries if p.name.endswith(_SUFFIX))
    replayed = 0
    for path in names:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # another process recovered it first
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its process is alive and writing it
                continue
            with os.fdopen(os.dup(fd), "rb") as fh:
                data = fh.read()
            rows, bad = _parse(data)
            if bad:
                log.warning("ledger spool %s: skipped %d unreadable line(s)", path.name, bad)
            for start in range(0, len(rows), 1000):
                write_many(rows[start : start + 1000])
            replayed += len(rows)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        finally:
            os.close(fd)
    if replayed:
        log.warning("ledger: recovered %d row(s) a stopped process had not committed", replayed)
    return replayed


def _allocate(fd: int, size: int) -> None:
    """Allocate ``size`` bytes of ``fd`` up front; where the filesystem or the platform cannot,
    the file grows row by row instead (the rows are the same)."""
    allocate = getattr(os, "posix_fallocate", None)  # not on macOS
    if allocate is None:
        return
    try:
        allocate(fd, 0, size)
    except OSError as exc:  # the rows still go to the file: a full disk fails them as before
        level = logging.WARNING if exc.errno == errno.ENOSPC else logging.DEBUG
        log.log(level, "ledger spool: space not allocated up front: %s", exc)


def _remove_if_unlocked(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # empty: rows are written only after the rename
    except BlockingIOError:
        pass  # being created right now
    finally:
        os.close(fd)


def _parse(data: bytes) -> tuple[list[LedgerRow], int]:
    rows: list[LedgerRow] = []
    bad = 0
    for line in data.rstrip(b"\0").split(b"\n"):  # zeros: allocated, never written
        if not line:
            continue
        try:
            rows.append(_decode_row(line))
        except msgspec.DecodeError:
            bad += 1
    return rows, bad
