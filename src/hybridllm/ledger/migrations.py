"""The ledger's schema, as an ordered list of numbered, named migrations.

A migration is never edited once released: a change to the schema is a new entry at the end.
``schema_migrations`` records which versions ran, so running :meth:`LedgerStore.migrate` twice is
a no-op. ``MIGRATIONS`` is SQLite's SQL; ``POSTGRES_MIGRATIONS`` the same versions for Postgres.
Column names are the :class:`~hybridllm.ledger.row.LedgerRow` field names.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = [
    "MIGRATIONS",
    "POSTGRES_MIGRATIONS",
    "REQUEST_COLUMNS",
    "Migration",
    "recompute_requests",
]


class Migration(NamedTuple):
    version: int
    name: str
    sql: str


# -- ledger_requests: one row per request, kept by triggers in the ledger write's transaction ---
#
# What ``report`` (and the dashboard) need per request, so that they read ~1 row per request
# instead of grouping every attempt: the period the attempts span, the *final row* (the attempt
# that answered, status ok or partial, with the highest attempt number; else the last attempt)
# with its grouping columns, the request's flags, and token/cost sums of its attempts.
# Maintained in the transaction that writes the rows (SQLite: by the store, one upsert per batch,
# see migration 5; Postgres: by a statement trigger, so any SQL client keeps it consistent there):
# an insert merges the new attempts in (a skipped duplicate changes nothing), a delete
# recomputes the request from its remaining rows (none left: the summary row goes). Ledger rows
# are never updated. The migration backfills the rows already stored. ``ledger_requests_multi``
# finds the requests with several attempts (their rows are read one by one), and
# ``ledger_cloud_spend`` answers the cloud-spend-this-week figure from the index alone.

REQUEST_COLUMNS = (
    "request_id",
    "first_ts",  # MIN(ts) of its attempts
    "last_ts",  # MAX(ts)
    "end_ms",  # MAX(ts * 1000 + latency_ms): end-to-end latency is end_ms - first_ts * 1000
    "attempts",
    "final_attempt",
    "final_ts",
    "route",
    "deployment",
    "tier",
    "locality",
    "cost_center",
    "key_name",
    "answered",  # 1 when a row is ok or partial
    "escalated",  # 1 when a row is escalated
    "fell_back",  # 1 when a row has attempt > 1 or a fallback_from
    "cost_unknown",  # 1 when a row's cost_usd is NULL
    "baseline_unknown",  # 1 when a row's baseline_cost_usd is NULL
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",  # sum of the known costs (0 when none)
    "baseline_cost_usd",  # sum of the known baseline costs
)
_RC = ", ".join(REQUEST_COLUMNS)
_ANSWERED = "CASE WHEN {t}status IN ('ok', 'partial') THEN 1 ELSE 0 END"


def recompute_requests(source: str, where: str) -> str:
    """SELECT the summary rows of the requests in ``source`` (a ledger or a transition table)
    that match ``where``."""
    return (
        f"SELECT a.request_id, a.first_ts, a.last_ts, a.end_ms, a.attempts,"
        " f.attempt AS final_attempt, f.ts AS final_ts,"
        " f.route, f.deployment, f.tier, f.locality, f.cost_center, f.key_name, a.answered,"
        " a.escalated, a.fell_back, a.cost_unknown, a.baseline_unknown, a.prompt_tokens,"
        " a.completion_tokens, a.cached_tokens, a.cost_usd, a.baseline_cost_usd FROM ("
        " SELECT request_id, MIN(ts) AS first_ts, MAX(ts) AS last_ts,"
        " MAX(ts * 1000.0 + latency_ms) AS end_ms, COUNT(*) AS attempts,"
        " COALESCE(MAX(CASE WHEN status IN ('ok', 'partial') THEN attempt END), MAX(attempt))"
        " AS final_attempt,"
        f" MAX({_ANSWERED.format(t='')}) AS answered,"
        " MAX(CASE WHEN status = 'escalated' THEN 1 ELSE 0 END) AS escalated,"
        " MAX(CASE WHEN attempt > 1 OR fallback_from IS NOT NULL THEN 1 ELSE 0 END)"
        " AS fell_back,"
        " MAX(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS cost_unknown,"
        " MAX(CASE WHEN baseline_cost_usd IS NULL THEN 1 ELSE 0 END) AS baseline_unknown,"
        " SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens,"
        " SUM(cached_tokens) AS cached_tokens, COALESCE(SUM(cost_usd), 0) AS cost_usd,"
        " COALESCE(SUM(baseline_cost_usd), 0) AS baseline_cost_usd"
        f" FROM {source} WHERE {where} GROUP BY request_id) a"
        f" JOIN {source} f ON f.request_id = a.request_id AND f.attempt = a.final_attempt"
    )


# An attempt merged into the request's summary row (``excluded``: the attempt's own summary).
_NEWER = (
    "(excluded.answered, excluded.final_attempt)"
    " > (ledger_requests.answered, ledger_requests.final_attempt)"
)
_MERGE = ", ".join(
    [
        "first_ts = MIN_(ledger_requests.first_ts, excluded.first_ts)",
        "last_ts = MAX_(ledger_requests.last_ts, excluded.last_ts)",
        "end_ms = MAX_(ledger_requests.end_ms, excluded.end_ms)",
        "attempts = ledger_requests.attempts + excluded.attempts",
        *(
            f"{c} = CASE WHEN {_NEWER} THEN excluded.{c} ELSE ledger_requests.{c} END"
            for c in (
                "final_attempt",
                "final_ts",
                "route",
                "deployment",
                "tier",
                "locality",
                "cost_center",
                "key_name",
            )
        ),
        *(
            f"{c} = MAX_(ledger_requests.{c}, excluded.{c})"
            for c in ("answered", "escalated", "fell_back", "cost_unknown", "baseline_unknown")
        ),
        *(
            f"{c} = ledger_requests.{c} + excluded.{c}"
            for c in (
                "prompt_tokens",
                "completion_tokens",
                "cached_tokens",
                "cost_usd",
                "baseline_cost_usd",
            )
        ),
    ]
)

_SQLITE_NEW = (
    "NEW.request_id, NEW.ts, NEW.ts, NEW.ts * 1000.0 + NEW.latency_ms, 1, NEW.attempt, NEW.ts,"
    " NEW.route, NEW.deployment, NEW.tier, NEW.locality, NEW.cost_center, NEW.key_name,"
    f" {_ANSWERED.format(t='NEW.')},"
    " CASE WHEN NEW.status = 'escalated' THEN 1 ELSE 0 END,"
    " CASE WHEN NEW.attempt > 1 OR NEW.fallback_from IS NOT NULL THEN 1 ELSE 0 END,"
    " CASE WHEN NEW.cost_usd IS NULL THEN 1 ELSE 0 END,"
    " CASE WHEN NEW.baseline_cost_usd IS NULL THEN 1 ELSE 0 END,"
    " NEW.prompt_tokens, NEW.completion_tokens, NEW.cached_tokens, COALESCE(NEW.cost_usd, 0),"
    " COALESCE(NEW.baseline_cost_usd, 0)"
)

_SQLITE_REQUESTS = f"""
CREATE TABLE ledger_requests (
    request_id        TEXT    NOT NULL,
    first_ts          REAL    NOT NULL,
    last_ts           REAL    NOT NULL,
    end_ms            REAL    NOT NULL,
    attempts          INTEGER NOT NULL,
    final_attempt     INTEGER NOT NULL,
    final_ts          REAL    NOT NULL,
    route             TEXT    NOT NULL,
    deployment        TEXT    NOT NULL,
    tier              INTEGER NOT NULL,
    locality          TEXT    NOT NULL,
    cost_center       TEXT,
    key_name          TEXT,
    answered          INTEGER NOT NULL,
    escalated         INTEGER NOT NULL,
    fell_back         INTEGER NOT NULL,
    cost_unknown      INTEGER NOT NULL,
    baseline_unknown  INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    cost_usd          REAL    NOT NULL,
    baseline_cost_usd REAL    NOT NULL,
    PRIMARY KEY (first_ts, request_id)  -- stored in time order: a period is one range read
) WITHOUT ROWID;
INSERT INTO ledger_requests ({_RC}) {recompute_requests("ledger", "1 = 1")};
CREATE UNIQUE INDEX ledger_requests_id ON ledger_requests (request_id);
CREATE INDEX ledger_requests_span ON ledger_requests ((last_ts - first_ts));
CREATE INDEX ledger_requests_multi ON ledger_requests (first_ts) WHERE attempts > 1;
CREATE INDEX ledger_cloud_spend ON ledger (locality, ts, cost_usd, request_id);
CREATE TRIGGER ledger_requests_on_insert AFTER INSERT ON ledger BEGIN
    INSERT INTO ledger_requests ({_RC}) VALUES ({_SQLITE_NEW})
    ON CONFLICT (request_id) DO UPDATE SET {_MERGE.replace("MIN_", "min").replace("MAX_", "max")};
END;
CREATE TRIGGER ledger_requests_on_delete AFTER DELETE ON ledger BEGIN
    DELETE FROM ledger_requests WHERE request_id = OLD.request_id;
    INSERT INTO ledger_requests ({_RC})
    {recompute_requests("ledger", "request_id = OLD.request_id")};
END;
"""

# SQLite has row triggers only: the insert trigger ran an upsert per row (~16 us of a ~30 us row
# write). Since version 5 the store merges a whole batch instead, with one set-based upsert in the
# batch's transaction (``SqliteStore.write_many``, ``MERGE_BATCH``): the summary rows of the
# batch's requests are recomputed from their ledger rows, so a duplicate row the insert skipped
# changes nothing. The delete trigger stays (retention deletes are rare and need it). Later, a
# batch whose rows were all new is merged row by row instead (``SQLITE_MERGE_ROW`` below).
_SQLITE_BATCHED = "DROP TRIGGER ledger_requests_on_insert;"

SQLITE_MERGE_BATCH = (
    f"INSERT INTO ledger_requests ({_RC}) "
    + recompute_requests("ledger", "request_id IN (SELECT value FROM json_each(?))")
    + " ON CONFLICT (request_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in REQUEST_COLUMNS[1:])
)


# The ledger columns the summary of one attempt reads (the insert trigger's ``NEW.<column>``), in
# the order of SQLITE_MERGE_ROW's numbered parameters.
MERGE_ROW_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(re.findall(r"NEW\.(\w+)", _SQLITE_NEW)))


def _numbered(expr: str) -> str:
    """``expr`` with each ``NEW.<column>`` replaced by its parameter number in MERGE_ROW_FIELDS."""
    return re.sub(r"NEW\.(\w+)", lambda m: f"?{MERGE_ROW_FIELDS.index(m.group(1)) + 1}", expr)


# One attempt merged into its request's summary row: the insert trigger of migration 3, as a
# statement the store runs per row (executemany) when it knows that every row of the batch was
# new. A merge is not idempotent, so a batch in which the insert skipped a duplicate (a spool
# replayed after a crash) takes SQLITE_MERGE_BATCH instead. No json_each, GROUP BY or join back
# to the ledger: ~1 us per row less than the recompute at batches of 16-64 rows, the same at 256.
SQLITE_MERGE_ROW = (
    f"INSERT INTO ledger_requests ({_RC}) VALUES ({_numbered(_SQLITE_NEW)})"
    f" ON CONFLICT (request_id) DO UPDATE SET "
    + _MERGE.replace("MIN_", "min").replace("MAX_", "max")
)

_POSTGRES_REQUESTS = f"""
CREATE TABLE ledger_requests (
    request_id        TEXT             NOT NULL PRIMARY KEY,
    first_ts          DOUBLE PRECISION NOT NULL,
    last_ts           DOUBLE PRECISION NOT NULL,
    end_ms            DOUBLE PRECISION NOT NULL,
    attempts          INTEGER          NOT NULL,
    final_attempt     INTEGER          NOT NULL,
    final_ts          DOUBLE PRECISION NOT NULL,
    route             TEXT             NOT NULL,
    deployment        TEXT             NOT NULL,
    tier              INTEGER          NOT NULL,
    locality          TEXT             NOT NULL,
    cost_center       TEXT,
    key_name          TEXT,
    answered          SMALLINT         NOT NULL,
    escalated         SMALLINT         NOT NULL,
    fell_back         SMALLINT         NOT NULL,
    cost_unknown      SMALLINT         NOT NULL,
    baseline_unknown  SMALLINT         NOT NULL,
    prompt_tokens     BIGINT           NOT NULL,
    completion_tokens BIGINT           NOT NULL,
    cached_tokens     BIGINT           NOT NULL,
    cost_usd          DOUBLE PRECISION NOT NULL,
    baseline_cost_usd DOUBLE PRECISION NOT NULL
);
INSERT INTO ledger_requests ({_RC}) {recompute_requests("ledger", "true")};
CREATE INDEX ledger_requests_first_ts ON ledger_requests (first_ts);
CREATE INDEX ledger_requests_span ON ledger_requests ((last_ts - first_ts));
CREATE INDEX ledger_requests_multi ON ledger_requests (first_ts) WHERE attempts > 1;
CREATE INDEX ledger_cloud_spend ON ledger (locality, ts) INCLUDE (cost_usd, request_id);
CREATE FUNCTION hybridllm_ledger_requests_insert() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO ledger_requests ({_RC}) {recompute_requests("new_rows", "true")}
    ON CONFLICT (request_id) DO UPDATE SET
    {_MERGE.replace("MIN_", "LEAST").replace("MAX_", "GREATEST")};
    RETURN NULL;
END
$fn$;
CREATE FUNCTION hybridllm_ledger_requests_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    DELETE FROM ledger_requests WHERE request_id IN (SELECT request_id FROM old_rows);
    INSERT INTO ledger_requests ({_RC})
    {recompute_requests("ledger", "request_id IN (SELECT request_id FROM old_rows)")};
    RETURN NULL;
END
$fn$;
CREATE TRIGGER ledger_requests_on_insert AFTER INSERT ON ledger
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hybridllm_ledger_requests_insert();
CREATE TRIGGER ledger_requests_on_delete AFTER DELETE ON ledger
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hybridllm_ledger_requests_delete();
ANALYZE ledger_requests;
"""


# -- learning: outcomes (feedback) and each request's model features, for `hybridllm learn` -------
#
# ``feedback``: one row per score given to a request (a user through POST /v1/feedback or
# `hybridllm feedback`, or the sampled judge); score in [0, 1], 1 = a good answer. Several rows
# per request are kept (the newest of each source counts). ``request_features``: the difficulty
# model's features of a request (hand-made signals and hashed word n-gram buckets, never its
# text) with the tier and deployment that answered, written when ``learning.record`` is on.
# Retention: when the last ledger row of a request is deleted, its feedback and features go too.

_SQLITE_LEARNING = """
CREATE TABLE feedback (
    id         INTEGER PRIMARY KEY,
    request_id TEXT    NOT NULL,
    ts         REAL    NOT NULL,
    score      REAL    NOT NULL CHECK (score >= 0 AND score <= 1),
    source     TEXT    NOT NULL,
    comment    TEXT,
    key_name   TEXT
);
CREATE INDEX feedback_request ON feedback (request_id, ts);
CREATE TABLE request_features (
    request_id TEXT    NOT NULL PRIMARY KEY,
    ts         REAL    NOT NULL,
    tier       INTEGER NOT NULL,
    deployment TEXT    NOT NULL,
    features   TEXT    NOT NULL
);
CREATE INDEX request_features_ts ON request_features (ts);
CREATE TRIGGER learning_on_ledger_delete AFTER DELETE ON ledger
WHEN NOT EXISTS (SELECT 1 FROM ledger WHERE request_id = OLD.request_id) BEGIN
    DELETE FROM feedback WHERE request_id = OLD.request_id;
    DELETE FROM request_features WHERE request_id = OLD.request_id;
END;
"""

_POSTGRES_LEARNING = """
CREATE TABLE feedback (
    id         BIGINT           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id TEXT             NOT NULL,
    ts         DOUBLE PRECISION NOT NULL,
    score      DOUBLE PRECISION NOT NULL CHECK (score >= 0 AND score <= 1),
    source     TEXT             NOT NULL,
    comment    TEXT,
    key_name   TEXT
);
CREATE INDEX feedback_request ON feedback (request_id, ts);
CREATE TABLE request_features (
    request_id TEXT             NOT NULL PRIMARY KEY,
    ts         DOUBLE PRECISION NOT NULL,
    tier       INTEGER          NOT NULL,
    deployment TEXT             NOT NULL,
    features   TEXT             NOT NULL
);
CREATE INDEX request_features_ts ON request_features (ts);
CREATE FUNCTION hybridllm_learning_on_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    DELETE FROM feedback WHERE request_id IN (
        SELECT o.request_id FROM old_rows o
        WHERE NOT EXISTS (SELECT 1 FROM ledger l WHERE l.request_id = o.request_id));
    DELETE FROM request_features WHERE request_id IN (
        SELECT o.request_id FROM old_rows o
        WHERE NOT EXISTS (SELECT 1 FROM ledger l WHERE l.request_id = o.request_id));
    RETURN NULL;
END
$fn$;
CREATE TRIGGER learning_on_ledger_delete AFTER DELETE ON ledger
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hybridllm_learning_on_delete();
"""


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
    Migration(3, "ledger_requests", _SQLITE_REQUESTS),
    Migration(4, "learning", _SQLITE_LEARNING),
    Migration(5, "ledger_requests_batched", _SQLITE_BATCHED),
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
    # The function bodies hold semicolons: this migration runs as one script (no splitting).
    Migration(3, "ledger_requests", _POSTGRES_REQUESTS),
    Migration(4, "learning", _POSTGRES_LEARNING),
    # Postgres's insert trigger is a statement trigger: it already merges a whole batch at once.
    Migration(5, "ledger_requests_batched", "SELECT 1"),
)
