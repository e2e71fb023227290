"""Budget counters shared by several gateway processes, in PostgreSQL (``state: postgresql://...``).

One row per counter (``spent``), one row per hold (``amount``, ``expires_at``). A reservation
locks the counters it touches (``SELECT ... FOR UPDATE`` in key order, so two reservations never
deadlock), then, in a new statement, sums their live holds, and inserts its own holds only if
every limit still has room: check-and-reserve in one transaction. Holds carry a time to live,
so the holds of a process that died expire instead of shrinking the budget for good.
"""

from __future__ import annotations

import uuid

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from hybridllm.budgets.state import Counter, Limit
from hybridllm.redact import redact

__all__ = ["PostgresBudgetState"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hybridllm_budget_counters (
    key TEXT PRIMARY KEY,
    spent DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS hybridllm_budget_holds (
    hold TEXT NOT NULL,
    key TEXT NOT NULL,
    amount DOUBLE PRECISION NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (hold, key)
);
CREATE INDEX IF NOT EXISTS hybridllm_budget_holds_key ON hybridllm_budget_holds (key, expires_at);
"""


class PostgresBudgetState:
    def __init__(self, url: str, *, hold_ttl: float = 900.0, max_size: int = 10) -> None:
        self.url = url
        self.hold_ttl = hold_ttl
        self.pool = AsyncConnectionPool(url, min_size=1, max_size=max_size, open=False)

    async def open(self) -> PostgresBudgetState:
        try:
            await self.pool.open(wait=True, timeout=10)
            async with self.pool.connection() as conn:
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('hybridllm_budget_schema'))"
                )
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    await conn.execute(statement)
        except Exception as exc:
            await self.pool.close()
            raise ConnectionError(redact(f"budget state at Postgres unavailable: {exc}")) from None
        return self

    async def close(self) -> None:
        await self.pool.close()

    async def _ensure(self, conn: AsyncConnection, keys: list[str]) -> None:
        await conn.execute(
            "INSERT INTO hybridllm_budget_counters (key) SELECT unnest(%s::text[]) "
            "ON CONFLICT (key) DO NOTHING",
            (sorted(keys),),
        )

    async def try_reserve(
        self, limits: list[Limit], amount: float, *, force: bool = False
    ) -> str | None:
        keys = sorted({limit.key for limit in limits})
        hold = uuid.uuid4().hex
        async with self.pool.connection() as conn, conn.transaction():
            await self._ensure(conn, keys)
            # Lock first, read after: under READ COMMITTED a later statement sees the holds that
            # the transactions we waited for committed (one statement's snapshot would not).
            await conn.execute(
                "SELECT key FROM hybridllm_budget_counters WHERE key = ANY(%s) "
                "ORDER BY key FOR UPDATE",
                (keys,),
            )
            cur = await conn.execute(
                "SELECT c.key, c.spent, COALESCE(SUM(h.amount), 0) "
                "FROM hybridllm_budget_counters c "
                "LEFT JOIN hybridllm_budget_holds h ON h.key = c.key AND h.expires_at > now() "
                "WHERE c.key = ANY(%s) GROUP BY c.key, c.spent",
                (keys,),
            )
            state = {key: (spent, held) for key, spent, held in await cur.fetchall()}
            if not force:
                for limit in limits:
                    spent, held = state[limit.key]
                    if spent + held + amount > limit.limit_usd + 1e-12:
                        return None
            await conn.execute(
                "INSERT INTO hybridllm_budget_holds (hold, key, amount, expires_at) "
                "SELECT %s, unnest(%s::text[]), %s, now() + make_interval(secs => %s)",
                (hold, keys, amount, self.hold_ttl),
            )
        return hold

    async def settle(self, hold: str, keys: list[str], reserved: float, actual: float) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM hybridllm_budget_holds WHERE hold = %s", (hold,))
            if actual:
                await conn.execute(
                    "UPDATE hybridllm_budget_counters SET spent = spent + %s WHERE key = ANY(%s)",
                    (actual, sorted(keys)),
                )

    async def release(self, hold: str, keys: list[str], reserved: float) -> None:
        await self.settle(hold, keys, reserved, 0.0)

    async def counter(self, key: str) -> Counter:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT COALESCE((SELECT spent FROM hybridllm_budget_counters WHERE key = %s), 0), "
                "COALESCE((SELECT SUM(amount) FROM hybridllm_budget_holds "
                "          WHERE key = %s AND expires_at > now()), 0)",
                (key, key),
            )
            row = await cur.fetchone()
        assert row is not None
        return Counter(float(row[0]), float(row[1]))

    async def seed_spent(self, key: str, spent: float) -> None:
        """Shared counters outlive processes: only fill a counter that does not exist yet."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO hybridllm_budget_counters (key, spent) VALUES (%s, %s) "
                "ON CONFLICT (key) DO NOTHING",
                (key, spent),
            )
