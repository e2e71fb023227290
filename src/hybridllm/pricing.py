"""What an attempt costs, per deployment, resolved once at load time.

Prices come from the ``genai-prices`` package by provider and model; a config ``price:`` overrides
them; local deployments cost 0 unless given ``cost_per_hour`` (amortised hardware, charged for the
time an attempt held the model). An unknown price gives an unknown cost (``None``), never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from hybridllm.config.models import Deployment
from hybridllm.providers.registry import PROVIDERS
from hybridllm.types import Usage

__all__ = ["LOCAL_TOKENS_PER_SECOND", "Rates", "resolve_rates"]

PER_MTOK = 1e-6
# Used only to estimate the duration of a local call when none was measured (simulate).
LOCAL_TOKENS_PER_SECOND = 30.0

Source = Literal["config", "genai-prices", "local", "unknown"]


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token; ``tiers`` re-price the whole request once the prompt passes ``start``."""

    source: Source
    input: float = 0.0
    output: float = 0.0
    cache_read: float | None = None
    cache_write: float | None = None
    batch_discount: float | None = None
    per_hour: float | None = None
    tiers: tuple[tuple[int, Rates], ...] = ()

    @property
    def known(self) -> bool:
        return self.source != "unknown"

    def per_mtok(self) -> tuple[float, float]:
        return self.input / PER_MTOK, self.output / PER_MTOK

    def cost(
        self, usage: Usage, *, duration_s: float | None = None, batch: bool = False
    ) -> float | None:
        if self.source == "unknown":
            return None
        if self.per_hour is not None:
            if duration_s is None:
                duration_s = usage.completion_tokens / LOCAL_TOKENS_PER_SECOND
            return duration_s * self.per_hour / 3600.0
        rates = self
        for start, tier in self.tiers:
            if usage.prompt_tokens > start:
                rates = tier
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        created = min(usage.cache_creation_tokens, usage.prompt_tokens - cached)
        plain = usage.prompt_tokens - cached - created
        total = (
            plain * rates.input
            + cached * (rates.cache_read if rates.cache_read is not None else rates.input)
            + created * (rates.cache_write if rates.cache_write is not None else rates.input)
            + usage.completion_tokens * rates.output
        )
        if batch and self.batch_discount is not None:
            total *= self.batch_discount
        return total

    def worst_case(self, prompt_tokens: int, output_tokens: int) -> float | None:
        """The most an attempt can cost: every prompt token uncached, the full output cap."""
        return self.cost(Usage(prompt_tokens=prompt_tokens, completion_tokens=output_tokens))


def resolve_rates(deployment: Deployment) -> Rates:
    if deployment.price is not None:
        p = deployment.price
        return Rates(
            "config",
            p.input * PER_MTOK,
            p.output * PER_MTOK,
            None if p.cache_read is None else p.cache_read * PER_MTOK,
            None if p.cache_write is None else p.cache_write * PER_MTOK,
            p.batch_discount,
        )
    if deployment.cost_per_hour is not None:
        return Rates("local", per_hour=deployment.cost_per_hour)
    if deployment.is_local:
        return Rates("local")
    return _from_genai_prices(deployment)


def _from_genai_prices(deployment: Deployment) -> Rates:
    from genai_prices import Usage as GUsage
    from genai_prices import calc_price

    provider = PROVIDERS[deployment.provider].prices_id
    found: Any = None
    for provider_id in (provider, None):
        try:
            found = calc_price(
                GUsage(input_tokens=1), model_ref=deployment.model, provider_id=provider_id
            )
            break
        except LookupError:
            continue
    if found is None:
        return Rates("unknown")
    mp = found.model_price
    fields = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
    values = [getattr(mp, name, None) for name in fields]
    starts = sorted(
        {t.start for v in values if v is not None and hasattr(v, "tiers") for t in v.tiers}
    )

    def at(value: Any, prompt: int) -> float | None:
        if value is None:
            return None
        if hasattr(value, "tiers"):
            price = value.base
            for tier in value.tiers:
                if prompt > tier.start:
                    price = tier.price
            return float(Decimal(price)) * PER_MTOK
        return float(Decimal(value)) * PER_MTOK

    def rates(prompt: int) -> Rates:
        inp, out, read, write = (at(v, prompt) for v in values)
        return Rates("genai-prices", inp or 0.0, out or 0.0, read, write)

    base = rates(0)
    tiers = tuple((start, rates(start + 1)) for start in starts)
    batch = 0.5 if deployment.provider in ("openai", "anthropic", "gemini") else None
    return Rates(
        "genai-prices",
        base.input,
        base.output,
        base.cache_read,
        base.cache_write,
        batch,
        None,
        tiers,
    )
