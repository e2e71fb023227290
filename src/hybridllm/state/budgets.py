"""Budget counters shared by every replica, in Redis (``state: redis://...``).

:class:`RedisBudgetState` implements :class:`hybridllm.budgets.state.BudgetState` with the scripts
of :mod:`hybridllm.state.budget_scripts`: one round trip to reserve over all of a request's
budgets, one to settle or release. Holds expire after ``hold_ttl`` (a crashed replica's holds
stop counting); Redis is a cache of the ledger, which :meth:`reconcile` brings it back to.

Outage: ``try_reserve`` raises :class:`SharedStateUnavailableError` (fail closed, the default) or
lets the request through unchecked with a loud warning (fail open). Settles and releases never
fail a request: they are queued and replayed, once each, when Redis is back; then spend is
reconciled with the ledger.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable

from hybridllm.budgets.state import Counter, Limit
from hybridllm.errors import SharedStateUnavailableError
from hybridllm.state.budget_scripts import COUNTER, RECONCILE, RESERVE, SETTLE
from hybridllm.state.client import LINK_ERRORS, RedisLink

__all__ = ["NANO", "RedisBudgetState"]

log = logging.getLogger("hybridllm.state")
NANO = 1_000_000_000
KEY_TTL = 35 * 86_400  # seconds a counter outlives its last write (longer than any period)
UNCHECKED = "unchecked"  # the hold of a request let through while Redis was down (fail open)
MAX_PENDING = 100_000


def _nano(usd: float) -> int:
    return round(usd * NANO)


class RedisBudgetState:
    def __init__(self, link: RedisLink, *, hold_ttl: float) -> None:
        self.link = link
        self.hold_ttl = hold_ttl
        self.fail_open = link.options.budgets_on_outage == "fail_open"
        r = link.client
        self._reserve = r.register_script(RESERVE)
        self._settle = r.register_script(SETTLE)
        self._counter = r.register_script(COUNTER)
        self._reconcile = r.register_script(RECONCILE)
        self._pending: deque[tuple[str, list[str], float]] = deque()  # settles to replay
        self._warned = 0.0
        self.unchecked = 0  # requests let through unchecked (fail open)
        self.refused = 0  # requests refused because Redis was down (fail closed)
        self.ledger_spend: Callable[[], Awaitable[dict[str, float]]] | None = None
        link.on_recover.append(self.catch_up)

    def _keys(self, key: str) -> tuple[str, str]:
        p = self.link.prefix
        return f"{p}{{b}}:c:{key}", f"{p}{{b}}:x:{key}"

    def _unavailable(self, exc: BaseException | None) -> SharedStateUnavailableError:
        why = f" ({type(exc).__name__})" if exc is not None else ""
        return SharedStateUnavailableError(
            f"budget state unavailable: redis at {self.link.where} cannot be reached{why}; "
            "requests under a budget are refused until it returns "
            "(state_options.budgets_on_outage: fail_closed)"
        )

    def _outage(self, exc: BaseException | None) -> str:
        if not self.fail_open:
            self.refused += 1
            raise self._unavailable(exc)
        self.unchecked += 1
        now = time.monotonic()
        if now - self._warned > 10:
            self._warned = now
            log.warning(
                "BUDGETS ARE NOT ENFORCED: redis at %s is down and budgets_on_outage is "
                "fail_open; %d request(s) let through unchecked so far",
                self.link.where,
                self.unchecked,
            )
        return UNCHECKED

    async def try_reserve(
        self, limits: list[Limit], amount: float, *, force: bool = False
    ) -> str | None:
        if not self.link.up:
            return self._outage(None)  # no round trip while the sync loop says it is down
        hold = uuid.uuid4().hex
        keys: list[str] = []
        for limit in limits:
            keys.extend(self._keys(limit.key))
        args: list[str | int] = [
            hold,
            _nano(amount),
            round(self.hold_ttl * 1000),
            1 if force else 0,
            KEY_TTL,
            *(_nano(limit.limit_usd) for limit in limits),
        ]
        try:
            over = await self.link.call(self._reserve, keys=keys, args=args)
        except LINK_ERRORS as exc:
            return self._outage(exc)
        return hold if int(over) == 0 else None

    async def settle(self, hold: str, keys: list[str], reserved: float, actual: float) -> None:
        if hold == UNCHECKED:
            return  # the ledger has its row; reconcile() counts it once Redis is back
        if not self.link.up or not await self._apply(hold, keys, actual):
            if len(self._pending) >= MAX_PENDING:
                self._pending.popleft()  # the ledger still has it: reconcile() recovers it
            self._pending.append((hold, keys, actual))

    async def release(self, hold: str, keys: list[str], reserved: float) -> None:
        await self.settle(hold, keys, reserved, 0.0)

    async def _apply(self, hold: str, keys: list[str], actual: float) -> bool:
        redis_keys: list[str] = []
        for key in keys:
            redis_keys.extend(self._keys(key))
        redis_keys.append(f"{self.link.prefix}{{b}}:d:{hold}")
        args = [hold, _nano(actual), round(self.hold_ttl * 2000), KEY_TTL]
        try:
            await self.link.call(self._settle, keys=redis_keys, args=args)
        except LINK_ERRORS:
            return False
        return True

    async def counter(self, key: str) -> Counter:
        try:
            spent, reserved = await self.link.call(self._counter, keys=list(self._keys(key)))
        except LINK_ERRORS as exc:
            raise self._unavailable(exc) from None
        return Counter(int(spent) / NANO, int(reserved) / NANO)

    async def seed_spent(self, key: str, spent: float) -> None:
        await self.reconcile(key, spent)

    async def reconcile(self, key: str, ledger_spent: float) -> tuple[float, float]:
        """Bring ``spent`` up to what the ledger says, less live holds. Returns (before, after)."""
        before, after = await self.link.call(
            self._reconcile, keys=list(self._keys(key)), args=[_nano(ledger_spent), KEY_TTL]
        )
        if int(after) != int(before):
            log.warning(
                "budget %s: spend rebuilt from the ledger, $%.6f -> $%.6f",
                key,
                int(before) / NANO,
                int(after) / NANO,
            )
        return int(before) / NANO, int(after) / NANO

    async def claim_alert(self, key: str, at: float) -> bool:
        """True for the one replica that sends the alert of ``key`` at threshold ``at``."""
        name = f"{self.link.prefix}alert:{key}:{at:g}"
        try:
            return bool(await self.link.call(self.link.client.set, name, "1", nx=True, ex=KEY_TTL))
        except LINK_ERRORS:
            return True  # better a duplicate alert than none

    async def catch_up(self) -> None:
        """Redis is back: replay the settles it missed, then reconcile spend with the ledger."""
        replayed = 0
        while self._pending and self.link.up:
            hold, keys, actual = self._pending[0]
            if not await self._apply(hold, keys, actual):
                return
            self._pending.popleft()
            replayed += 1
        if replayed:
            log.warning("replayed %d budget settle(s) queued while redis was down", replayed)
        await self.rebuild()

    async def rebuild(self) -> None:
        if self.ledger_spend is None:
            return
        totals = await self.ledger_spend()
        for key, spent in totals.items():
            await self.reconcile(key, spent)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def close(self) -> None:
        return None  # the link is closed by its owner
