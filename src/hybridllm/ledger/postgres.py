"""The Postgres ledger store: for teams, several gateway replicas writing one ledger.

psycopg 3 over a small :class:`psycopg_pool.ConnectionPool`. Every method blocks, like the SQLite
store's: it is used from the :class:`~hybridllm.ledger.writer.LedgerWriter`'s thread or from CLI
code, never on the event loop.

- ``write_many`` is one transaction: ``executemany`` (pipelined) for the writer's small batches,
  ``COPY`` into a temporary table then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` for large
  ones (the benchmark's generator). Either way the first row with a key wins, as in SQLite.
- ``rows`` streams through a server-side (named) cursor: memory stays flat at any ledger size.
- Migrations are :data:`~hybridllm.ledger.migrations.POSTGRES_MIGRATIONS`, recorded in
  ``schema_migrations``, applied under a transaction-scoped advisory lock so two replicas starting
  at once do not both apply one.

The URL's password never appears in an error: messages name :func:`safe_url`, and the password is
registered with :func:`hybridllm.redact.register_secret` so log lines drop it too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg_pool import ConnectionPool

from hybridllm.errors import UsageError
from hybridllm.ledger.migrations import POSTGRES_MIGRATIONS, Migration
from hybridllm.ledger.row import COLUMNS, LedgerRow
from hybridllm.redact import redact, register_secret

__all__ = ["COPY_THRESHOLD", "PostgresStore", "conninfo_from_url", "safe_url"]

COPY_THRESHOLD = 1_000  # batches at least this large go through COPY
CONNECT_TIMEOUT_S = 5
_FETCH = 2_000
_LOCK_KEY = 0x4879_624C_4C4D  # "HybLLM": the advisory lock taken while migrating

_COLUMN_LIST = ", ".join(COLUMNS)
_INSERT = (
    f"INSERT INTO ledger ({_COLUMN_LIST}) VALUES ({', '.join('%s' for _ in COLUMNS)}) "
    "ON CONFLICT (request_id, attempt) DO NOTHING"
)
_SELECT = f"SELECT {_COLUMN_LIST} FROM ledger"
_STAGE = "hybridllm_ledger_in"
_KNOWN_STATUS = "('ok', 'error', 'escalated', 'partial')"


class PostgresStore:
    """A :class:`~hybridllm.ledger.store.LedgerStore` over one Postgres database.

    ``schema``: the schema the tables live in (it must exist); ``None`` keeps the server's
    ``search_path`` (``public`` by default); the URL may set it too
    (``?options=-csearch_path%3Dx``).
    """

    def __init__(
        self, url: str, *, schema: str | None = None, min_size: int = 1, max_size: int = 4
    ) -> None:
        self.url = safe_url(url)
        self.schema = schema
        conninfo = conninfo_from_url(url)
        kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S}
        if schema is not None:
            kwargs["options"] = f"-c search_path={_ident(schema)}"
        try:  # one direct connection first: its error says why (refused, no database, auth)
            psycopg.connect(conninfo, **kwargs).close()
        except psycopg.Error as exc:
            raise UsageError(
                f"cannot connect to the Postgres ledger {self.url}: {_reason(exc, url)}"
            ) from None
        self._pool: ConnectionPool | None = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            kwargs=kwargs,
            open=False,
            name="hybridllm-ledger",
            timeout=30.0,
            check=ConnectionPool.check_connection,
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_S * 2)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None:
            raise RuntimeError("the ledger store is closed")
        return self._pool

    # -- the LedgerStore protocol --------------------------------------------------------------

    def migrate(self) -> None:
        self.apply_migrations(POSTGRES_MIGRATIONS)

    def apply_migrations(self, migrations: Sequence[Migration]) -> list[int]:
        """Apply the ``migrations`` not yet recorded, in one transaction; the versions applied."""
        newest = max((m.version for m in migrations), default=0)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                "applied_at DOUBLE PRECISION NOT NULL)"
            )
            done = {int(v) for (v,) in conn.execute("SELECT version FROM schema_migrations")}
            if done and max(done) > newest:
                raise UsageError(
                    f"the ledger's schema is version {max(done)}, newer than this hybridllm knows "
                    f"({newest}); upgrade hybridllm"
                )
            applied: list[int] = []
            for migration in migrations:
                if migration.version in done:
                    continue
                # One script per migration (no parameters: the simple query protocol runs
                # several statements), so plpgsql bodies with semicolons stay whole.
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, time.time()),
                )
                applied.append(migration.version)
        return applied

    def write_many(self, rows: Sequence[LedgerRow]) -> None:
        if not rows:
            return
        with self.pool.connection() as conn, conn.transaction():
            if len(rows) >= COPY_THRESHOLD:
                _copy_in(conn, rows)
            else:
                with conn.cursor() as cur:
                    cur.executemany(_INSERT, [_params(row) for row in rows])

    def rows(self, since: float | None = None, until: float | None = None) -> Iterator[LedgerRow]:
        where: list[str] = []
        args: list[float] = []
        if since is not None:
            where.append("ts >= %s")
            args.append(since)
        if until is not None:
            where.append("ts < %s")
            args.append(until)
        query = _SELECT + (f" WHERE {' AND '.join(where)}" if where else "")
        query += " ORDER BY ts, request_id, attempt"
        with (
            self.pool.connection() as conn,
            conn.transaction(),
            conn.cursor(name="hybridllm_ledger_rows") as cur,
        ):
            cur.itersize = _FETCH
            cur.execute(query.encode(), args)
            for values in cur:
                yield LedgerRow(*values)

    def count(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM ledger").fetchone()
        return int(row[0]) if row else 0

    def integrity_check(self) -> list[str]:
        """Problems in the stored rows: a missing key, duplicate keys, negative or impossible
        values, unknown statuses or localities. Empty when the ledger is sound."""
        checks = (
            (
                "the primary key (request_id, attempt) is missing",
                "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_index i "
                "WHERE i.indrelid = 'ledger'::regclass AND i.indisprimary) THEN 0 ELSE 1 END",
            ),
            (
                "duplicate (request_id, attempt) keys",
                "SELECT count(*) FROM (SELECT 1 FROM ledger GROUP BY request_id, attempt "
                "HAVING count(*) > 1) d",
            ),
            (
                "rows with negative token counts",
                "SELECT count(*) FROM ledger WHERE prompt_tokens < 0 OR completion_tokens < 0 "
                "OR cached_tokens < 0",
            ),
            ("rows with an attempt below 1", "SELECT count(*) FROM ledger WHERE attempt < 1"),
            (
                "rows with a negative latency",
                "SELECT count(*) FROM ledger WHERE latency_ms < 0 OR ttft_ms < 0",
            ),
            (
                "rows with an unknown status",
                f"SELECT count(*) FROM ledger WHERE status NOT IN {_KNOWN_STATUS}",
            ),
        )
        problems: list[str] = []
        with self.pool.connection() as conn:
            for label, query in checks:
                row = conn.execute(query.encode()).fetchone()
                n = int(row[0]) if row else 0
                if n:
                    problems.append(label if label.startswith("the ") else f"{n} {label}")
        return problems

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    # -- retention -------------------------------------------------------------------------------

    def delete_before(self, cutoff_ts: float, limit: int) -> int:
        """Delete at most ``limit`` rows with ``ts < cutoff_ts``, oldest first, in one short
        transaction; how many were deleted."""
        with self.pool.connection() as conn:
            cur = conn.execute(
                "DELETE FROM ledger WHERE ctid = ANY(ARRAY("
                "SELECT ctid FROM ledger WHERE ts < %s ORDER BY ts LIMIT %s))",
                (cutoff_ts, limit),
            )
            return max(cur.rowcount, 0)

    def delete_older_than(self, cutoff_ts: float, batch_size: int = 5_000) -> int:
        """Delete every row with ``ts < cutoff_ts`` in batches of ``batch_size``; the count."""
        from hybridllm.ledger.retention import delete_older_than

        return delete_older_than(self, cutoff_ts, batch_size)


def _copy_in(conn: psycopg.Connection[Any], rows: Sequence[LedgerRow]) -> None:
    """COPY ``rows`` into a temporary table, then insert them, skipping keys already stored."""
    conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} "
        "(LIKE ledger INCLUDING DEFAULTS, ord BIGINT NOT NULL) ON COMMIT DELETE ROWS"
    )
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY {_STAGE} ({_COLUMN_LIST}, ord) FROM STDIN".encode()) as copy,
    ):
        for i, row in enumerate(rows):
            copy.write_row((*_params(row), i))
    conn.execute(
        f"INSERT INTO ledger ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {_STAGE} "
        "ORDER BY ord ON CONFLICT (request_id, attempt) DO NOTHING".encode()
    )


def _params(row: LedgerRow) -> tuple[Any, ...]:
    return tuple(getattr(row, name) for name in COLUMNS)


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise UsageError(f"bad Postgres schema name {name!r}: letters, digits and _ only")
    return name


def safe_url(url: str) -> str:
    """``url`` with its password (in the authority or ``?password=``) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            user, sep, _ = userinfo.partition(":")
            netloc = f"{user}{':***' if sep else ''}@{host}"
        query = urlencode(
            [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)],
            safe="*",
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return f"{url.partition('://')[0]}://..."


def conninfo_from_url(url: str) -> str:
    """The libpq URI for a ledger URL (``postgresql+psycopg://`` becomes ``postgresql://``).

    Registers the URL's password as a secret, so that :func:`hybridllm.redact.redact` drops it.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise UsageError(f"not a Postgres ledger URL: {safe_url(url)}")
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError as exc:
        raise UsageError(f"bad Postgres ledger URL {safe_url(url)}: {exc}") from None
    for secret in (password, dict(parse_qsl(parts.query)).get("password")):
        if secret:
            register_secret(secret)
            register_secret(quote(secret, safe=""))
    return "postgresql://" + rest


def _reason(exc: BaseException, url: str) -> str:
    """The error's message with any password of ``url`` taken out."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    try:
        parts = urlsplit(url)
        secrets = [parts.password, dict(parse_qsl(parts.query)).get("password")]
    except ValueError:
        secrets = []
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return redact(text)
