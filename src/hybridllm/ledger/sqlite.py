"""The SQLite ledger store: the default, one file, no server.

Durability: the database runs in WAL mode with ``synchronous=NORMAL``. A committed transaction
is in the WAL file (in the OS page cache at least) before ``COMMIT`` returns, so it survives the
process being killed (``kill -9``, the OOM killer, a crash of the gateway). It may not survive a
crash of the OS or a power cut: that would need ``synchronous=FULL`` (an fsync per commit), which
this store does not use. The WAL keeps the file consistent either way.

The gateway's writer also spools each row to a file beside the database before it is committed
(:mod:`hybridllm.ledger.spool`); opening a store on a file replays what a dead process left there,
so every reader sees every row a caller was answered with.
"""

from __future__ import annotations

import contextlib
import operator
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import msgspec

from hybridllm.errors import UsageError
from hybridllm.ledger.migrations import (
    MERGE_ROW_FIELDS,
    MIGRATIONS,
    SQLITE_MERGE_BATCH,
    SQLITE_MERGE_ROW,
    Migration,
)
from hybridllm.ledger.row import COLUMNS, LedgerRow
from hybridllm.ledger.spool import recover, spool_dir

__all__ = ["BUSY_TIMEOUT_MS", "SqliteStore"]

BUSY_TIMEOUT_MS = 5_000

# sqlite3 binds exact int, float, str and bytearray directly; any other value (None, bool) first
# goes through its adapter protocol: two failed attribute lookups, one of them formatting an
# AttributeError message, for each of the ~6 NULLs and the bool of every ledger row (~1% of the
# gateway's CPU per request). These adapters bind exactly what sqlite3 binds without them (None
# -> NULL, bool -> 0/1). The registry is process-wide: they only fill empty slots, so an adapter
# the embedding application registered, before or after this import, is the one that counts.
_ADAPTERS: tuple[tuple[type, Callable[[Any], Any]], ...] = (
    # {}.get(None) is None, bound as NULL; a C function, so the adapter costs one call
    (type(None), cast("Callable[[Any], Any]", {}.get)),
    (bool, int),
)
for _type, _adapter in _ADAPTERS:
    if (_type, sqlite3.PrepareProtocol) not in sqlite3.adapters:
        sqlite3.register_adapter(_type, _adapter)

_FETCH = 512

_COLUMN_LIST = ", ".join(COLUMNS)
_INSERT = (
    f"INSERT OR IGNORE INTO ledger ({_COLUMN_LIST}) "  # column names are constants
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)
_SELECT = f"SELECT {_COLUMN_LIST} FROM ledger"
_STREAMED = COLUMNS.index("streamed")
_encode_ids = msgspec.json.Encoder().encode


class SqliteStore:
    """A :class:`~hybridllm.ledger.store.LedgerStore` over one SQLite file (or ``:memory:``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; every write says BEGIN/COMMIT itself.
        # check_same_thread=False: a writer may create the store in one thread and use it in
        # another; the store is still used by one thread at a time.
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            # No checkpoint inside a commit: under synchronous=NORMAL the checkpoint is the one
            # step that syncs to disk, and every reply waiting on that commit would wait for
            # it. The writer calls maintain() instead, when nobody waits (see there).
            self._conn.execute("PRAGMA wal_autocheckpoint = 0")
        except BaseException:
            self.close()
            raise
        self._rows_since_checkpoint = 0
        self._summary: bool | None = None  # does ledger_requests exist (known after 1st write)
        self._recover_spool()

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the ledger store is closed")
        return self._conn

    def migrate(self) -> None:
        apply_migrations(self.conn, MIGRATIONS)
        self._summary = None
        self._recover_spool()

    def _recover_spool(self) -> None:
        """Replay the spool segments of processes that died before committing them."""
        if self.path == ":memory:":
            return
        directory = spool_dir(self.path)
        if not directory.is_dir():
            return
        if not self._has_table("ledger"):  # not migrated yet: migrate() comes back here
            return
        recover(directory, self.write_many)

    def _has_table(self, name: str) -> bool:
        found = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return found is not None

    # A passive checkpoint when the writer is idle; a forced one past this many rows so that a
    # ledger under sustained load still keeps its WAL bounded (~ tens of MB).
    CHECKPOINT_BUSY_ROWS = 20_000

    def maintain(self, *, idle: bool) -> None:
        """Checkpoint the WAL into the database file, off the path of waiting replies."""
        if self._rows_since_checkpoint == 0:
            return
        if idle or self._rows_since_checkpoint >= self.CHECKPOINT_BUSY_ROWS:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self._rows_since_checkpoint = 0

    def _has_summary(self) -> bool:
        if self._summary is None:
            self._summary = self._has_table("ledger_requests")
        return self._summary

    def write_many(self, rows: Sequence[LedgerRow]) -> None:
        if not rows:
            return
        params = [_params(row) for row in rows]
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            before = conn.total_changes
            conn.executemany(_INSERT, params)
            if self._has_summary():  # a ledger from before migration 3 has none yet
                if conn.total_changes - before == len(rows):
                    # Every row was new: merge each into its request's summary row.
                    conn.executemany(SQLITE_MERGE_ROW, [_merge_params(row) for row in rows])
                else:  # a duplicate was skipped: recompute the batch's requests from the ledger
                    ids = _encode_ids(sorted({row.request_id for row in rows}))
                    conn.execute(SQLITE_MERGE_BATCH, (ids,))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        self._rows_since_checkpoint += len(rows)

    def rows(self, since: float | None = None, until: float | None = None) -> Iterator[LedgerRow]:
        where: list[str] = []
        args: list[float] = []
        if since is not None:
            where.append("ts >= ?")
            args.append(since)
        if until is not None:
            where.append("ts < ?")
            args.append(until)
        sql = _SELECT + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += " ORDER BY ts, request_id, attempt"
        cursor = self.conn.execute(sql, args)
        try:
            while batch := cursor.fetchmany(_FETCH):
                for values in batch:
                    yield _row(values)
        finally:
            cursor.close()

    def count(self) -> int:
        (n,) = self.conn.execute("SELECT COUNT(*) FROM ledger").fetchone()
        return int(n)

    def integrity_check(self) -> list[str]:
        found = [str(r[0]) for r in self.conn.execute("PRAGMA integrity_check")]
        return [] if found == ["ok"] else found

    def delete_before(self, cutoff_ts: float, limit: int) -> int:
        """Delete at most ``limit`` rows with ``ts < cutoff_ts``, oldest first, in one short
        transaction; how many were deleted. See :mod:`hybridllm.ledger.retention`."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            cursor = conn.execute(
                "DELETE FROM ledger WHERE rowid IN "
                "(SELECT rowid FROM ledger WHERE ts < ? ORDER BY ts LIMIT ?)",
                (cutoff_ts, limit),
            )
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return cursor.rowcount

    def delete_older_than(self, cutoff_ts: float, batch_size: int = 5_000) -> int:
        """Delete every row with ``ts < cutoff_ts`` in batches of ``batch_size``; the count."""
        from hybridllm.ledger.retention import delete_older_than

        return delete_older_than(self, cutoff_ts, batch_size)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def apply_migrations(conn: sqlite3.Connection, migrations: Iterable[Migration]) -> list[int]:
    """Apply the ``migrations`` not yet recorded in ``schema_migrations``, in one transaction.

    Returns the versions applied. The write lock is taken before reading what ran, so two processes
    migrating the same file at once do not both apply a migration.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    known = list(migrations)
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = {int(v) for (v,) in conn.execute("SELECT version FROM schema_migrations")}
        newest = max((m.version for m in known), default=0)
        if done and max(done) > newest:
            raise UsageError(
                f"the ledger's schema is version {max(done)}, newer than this hybridllm knows "
                f"({newest}); upgrade hybridllm"
            )
        applied: list[int] = []
        for migration in known:
            if migration.version in done:
                continue
            for statement in split_statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )
            applied.append(migration.version)
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return applied


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (semicolons inside literals are left alone)."""
    statements: list[str] = []
    buffer = ""
    for piece in sql.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if stripped := buffer.strip().rstrip(";").strip():
                statements.append(stripped)
            buffer = ""
    if buffer.strip(" \n\t;"):
        raise ValueError(f"incomplete SQL statement in migration: {buffer.strip()[:60]!r}")
    return statements


# One C call per row (``streamed`` is a bool: SQLite stores it as the integer 0 or 1).
_params: Callable[[LedgerRow], tuple[Any, ...]] = operator.attrgetter(*COLUMNS)
_merge_params: Callable[[LedgerRow], tuple[Any, ...]] = operator.attrgetter(*MERGE_ROW_FIELDS)


def _row(values: Sequence[Any]) -> LedgerRow:
    fields = list(values)
    fields[_STREAMED] = bool(fields[_STREAMED])
    return LedgerRow(*fields)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # the original error is the one to raise
            conn.execute("ROLLBACK")
