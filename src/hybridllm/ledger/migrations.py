"""The ledger's schema, as an ordered list of numbered, named migrations.

A migration is never edited once released: a change to the schema is a new entry at the end.
``schema_migrations`` records which versions ran, so running :meth:`LedgerStore.migrate` twice is
a no-op. ``MIGRATIONS`` is SQLite's SQL; ``POSTGRES_MIGRATIONS`` the same versions for Postgres.
Column names are the :class:`~hybridllm.ledger.row.LedgerRow` field names.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["MIGRATIONS", "POSTGRES_MIGRATIONS", "Migration"]


class Migration(NamedTuple):
    version: int
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "create_ledger",
        """
        CREATE TABLE ledger (
            request_id        TEXT    NOT NULL,
            attempt           INTEGER NOT NULL,
            ts                REAL    NOT NULL,
            route             TEXT    NOT NULL,
            deployment        TEXT    NOT NULL,
            provider          TEXT    NOT NULL,
            model             TEXT    NOT NULL,
            tier              INTEGER NOT NULL,
            locality          TEXT    NOT NULL,
            cost_center       TEXT,
            key_name          TEXT,
            prompt_tokens     INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            cached_tokens     INTEGER NOT NULL,
            cost_usd          REAL,
            baseline_cost_usd REAL,
            latency_ms        REAL    NOT NULL,
            ttft_ms           REAL,
            status            TEXT    NOT NULL,
            error_class       TEXT,
            fallback_from     TEXT,
            streamed          INTEGER NOT NULL,
            PRIMARY KEY (request_id, attempt)
        );
        """,
    ),
    Migration(
        2,
        "ledger_indexes",
        # Lookups by request_id use the primary key's index (request_id is its first column).
        """
        CREATE INDEX ledger_ts ON ledger (ts);
        CREATE INDEX ledger_cost_center_ts ON ledger (cost_center, ts);
        CREATE INDEX ledger_deployment_ts ON ledger (deployment, ts);
        """,
    ),
)


# The same versions and names for Postgres. Types are Postgres's own: BIGINT token counts,
# DOUBLE PRECISION (an exact round trip of a Python float), BOOLEAN for ``streamed``.
POSTGRES_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "create_ledger",
        """
        CREATE TABLE ledger (
            request_id        TEXT             NOT NULL,
            attempt           INTEGER          NOT NULL,
            ts                DOUBLE PRECISION NOT NULL,
            route             TEXT             NOT NULL,
            deployment        TEXT             NOT NULL,
            provider          TEXT             NOT NULL,
            model             TEXT             NOT NULL,
            tier              INTEGER          NOT NULL,
            locality          TEXT             NOT NULL,
            cost_center       TEXT,
            key_name          TEXT,
            prompt_tokens     BIGINT           NOT NULL,
            completion_tokens BIGINT           NOT NULL,
            cached_tokens     BIGINT           NOT NULL,
            cost_usd          DOUBLE PRECISION,
            baseline_cost_usd DOUBLE PRECISION,
            latency_ms        DOUBLE PRECISION NOT NULL,
            ttft_ms           DOUBLE PRECISION,
            status            TEXT             NOT NULL,
            error_class       TEXT,
            fallback_from     TEXT,
            streamed          BOOLEAN          NOT NULL,
            PRIMARY KEY (request_id, attempt)
        );
        """,
    ),
    Migration(
        2,
        "ledger_indexes",
        # ts: every report and retention pass is a ts range. (cost_center, ts) and
        # (deployment, ts): budgets and per-deployment views over a period.
        """
        CREATE INDEX ledger_ts ON ledger (ts);
        CREATE INDEX ledger_cost_center_ts ON ledger (cost_center, ts);
        CREATE INDEX ledger_deployment_ts ON ledger (deployment, ts);
        """,
    ),
)
