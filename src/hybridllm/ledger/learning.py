"""The learning tables of a ledger: ``feedback`` (outcomes) and ``request_features``.

Both live beside the ``ledger`` table (migration 4) and are reached through the store that owns
the connection: :func:`learning_store` wraps an open :class:`~hybridllm.ledger.SqliteStore` or
:class:`~hybridllm.ledger.postgres.PostgresStore`. Like the stores, every method blocks: call it
from a thread or CLI code, never on the event loop.

Scores are in [0, 1]: 1 is a good answer, 0 a useless one (:func:`check_score`).
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from hybridllm.ledger.sqlite import SqliteStore
from hybridllm.ledger.store import LedgerStore

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

__all__ = [
    "FeatureRow",
    "Feedback",
    "LearningStore",
    "RecordedRequest",
    "check_score",
    "learning_store",
]

Source = Literal["user", "judge"]
MAX_COMMENT = 2_000


def check_score(value: object) -> float:
    """``value`` as a score in [0, 1]; ValueError (with a message for the caller) otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("score must be a number between 0 and 1 (1 = a good answer)")
    score = float(value)
    if not math.isfinite(score) or not 0.0 <= score <= 1.0:
        raise ValueError(f"score must be between 0 and 1 (1 = a good answer), got {value}")
    return score


@dataclass(frozen=True, slots=True)
class Feedback:
    request_id: str
    score: float  # [0, 1], 1 = a good answer
    source: Source
    ts: float
    comment: str | None = None
    key_name: str | None = None


@dataclass(frozen=True, slots=True)
class FeatureRow:
    request_id: str
    ts: float
    tier: int  # of the deployment that answered
    deployment: str
    features: str  # RecordedFeatures.encode()


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request with recorded features, what dispatch did with it, and its feedback."""

    request_id: str
    ts: float
    tier: int
    deployment: str
    features: str
    escalated: bool  # a reply was judged too weak by its rule and retried on a stronger one
    feedback: tuple[Feedback, ...]  # oldest first


class LearningStore(Protocol):
    def request_key(self, request_id: str) -> tuple[bool, str | None]:
        """(whether the ledger has the request, the virtual key's name it was made with)."""

    def add_feedback(self, feedback: Feedback) -> None:
        """Store one score (committed when this returns)."""

    def write_features(self, rows: Sequence[FeatureRow]) -> None:
        """Store the rows in one transaction; a request already recorded is skipped."""

    def recorded(self) -> Iterator[RecordedRequest]:
        """Every request with recorded features, oldest first, with escalation and feedback."""


def learning_store(store: LedgerStore) -> LearningStore:
    """The learning tables behind ``store`` (migrated: ``open_store`` does it)."""
    if isinstance(store, SqliteStore):
        return _Sqlite(store)
    from hybridllm.ledger.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        return _Postgres(store.pool)
    raise TypeError(f"{type(store).__name__} has no learning tables")


_FEATURES_SELECT = (
    "SELECT f.request_id, f.ts, f.tier, f.deployment, f.features,"
    " COALESCE(r.escalated, 0) FROM request_features f"
    " LEFT JOIN ledger_requests r ON r.request_id = f.request_id"
    " ORDER BY f.ts, f.request_id"
)
_FEEDBACK_SELECT = (
    "SELECT request_id, score, source, ts, comment, key_name FROM feedback ORDER BY ts, id"
)


def _feedback_of(rows: Sequence[Sequence[Any]]) -> dict[str, list[Feedback]]:
    found: dict[str, list[Feedback]] = {}
    for rid, score, source, ts, comment, key_name in rows:
        found.setdefault(rid, []).append(
            Feedback(rid, float(score), source, float(ts), comment, key_name)
        )
    return found


def _join(
    features: Iterator[Sequence[Any]], feedback: dict[str, list[Feedback]]
) -> Iterator[RecordedRequest]:
    for rid, ts, tier, deployment, text, escalated in features:
        yield RecordedRequest(
            rid,
            float(ts),
            int(tier),
            deployment,
            text,
            bool(escalated),
            tuple(feedback.get(rid, ())),
        )


def _params(fb: Feedback) -> tuple[object, ...]:
    comment = fb.comment[:MAX_COMMENT] if fb.comment else None
    return (fb.request_id, fb.ts, check_score(fb.score), fb.source, comment, fb.key_name)


class _Sqlite:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def request_key(self, request_id: str) -> tuple[bool, str | None]:
        row = self._store.conn.execute(
            "SELECT key_name FROM ledger_requests WHERE request_id = ?", (request_id,)
        ).fetchone()
        return (False, None) if row is None else (True, row[0])

    def _write(self, sql: str, params: Sequence[Sequence[object]]) -> None:
        conn = self._store.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(sql, params)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the original error is the one to raise
                    conn.execute("ROLLBACK")
            raise

    def add_feedback(self, feedback: Feedback) -> None:
        self._write(
            "INSERT INTO feedback (request_id, ts, score, source, comment, key_name)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [_params(feedback)],
        )

    def write_features(self, rows: Sequence[FeatureRow]) -> None:
        if rows:
            self._write(
                "INSERT OR IGNORE INTO request_features"
                " (request_id, ts, tier, deployment, features) VALUES (?, ?, ?, ?, ?)",
                [(r.request_id, r.ts, r.tier, r.deployment, r.features) for r in rows],
            )

    def recorded(self) -> Iterator[RecordedRequest]:
        conn = self._store.conn
        feedback = _feedback_of(conn.execute(_FEEDBACK_SELECT).fetchall())
        yield from _join(iter(conn.execute(_FEATURES_SELECT)), feedback)


class _Postgres:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def request_key(self, request_id: str) -> tuple[bool, str | None]:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT key_name FROM ledger_requests WHERE request_id = %s", (request_id,)
            ).fetchone()
        return (False, None) if row is None else (True, row[0])

    def add_feedback(self, feedback: Feedback) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO feedback (request_id, ts, score, source, comment, key_name)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                _params(feedback),
            )

    def write_features(self, rows: Sequence[FeatureRow]) -> None:
        if not rows:
            return
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO request_features (request_id, ts, tier, deployment, features)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (request_id) DO NOTHING",
                [(r.request_id, r.ts, r.tier, r.deployment, r.features) for r in rows],
            )

    def recorded(self) -> Iterator[RecordedRequest]:
        with self._pool.connection() as conn:
            feedback = _feedback_of(conn.execute(_FEEDBACK_SELECT).fetchall())
            rows = conn.execute(_FEATURES_SELECT).fetchall()
        yield from _join(iter(rows), feedback)
