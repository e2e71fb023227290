"""Warm-up at start: load every local model marked ``warm_up: true`` before traffic arrives.

Call :func:`warm_up_local` once when an engine starts (the gateway, the demo). A llama.cpp
deployment loads its GGUF into its worker threads; an Ollama deployment asks the server to load
the model with the deployment's ``keep_alive``. A failure is reported, never raised: the
deployment still loads lazily on first use, or fails over then.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp

from hybridllm.config.models import Deployment
from hybridllm.errors import ProviderError

__all__ = ["WarmUp", "warm_up_local"]

_log = logging.getLogger("hybridllm.local")


@dataclass(frozen=True, slots=True)
class WarmUp:
    deployment: str
    seconds: float
    error: str | None = None


async def _one(session: aiohttp.ClientSession, dep: Deployment) -> WarmUp:
    from hybridllm.providers import adapter_for, ollama
    from hybridllm.providers.llamacpp import LlamaCppAdapter

    started = time.monotonic()
    try:
        if dep.wire == "llamacpp":
            adapter = adapter_for("llamacpp")
            assert isinstance(adapter, LlamaCppAdapter)
            await adapter.warm_up(dep)
        else:
            await ollama.warm_up(session, dep)
    except ProviderError as exc:
        _log.warning("warm-up of %s failed: %s", dep.name, exc.message)
        return WarmUp(dep.name, time.monotonic() - started, exc.message)
    return WarmUp(dep.name, time.monotonic() - started)


async def warm_up_local(
    deployments: Iterable[Deployment], session: aiohttp.ClientSession
) -> list[WarmUp]:
    """Warm every deployment with ``warm_up: true`` (llamacpp or ollama), concurrently."""
    chosen = [
        d for d in deployments if d.warm_up and (d.wire == "llamacpp" or d.provider == "ollama")
    ]
    return list(await asyncio.gather(*(_one(session, d) for d in chosen)))
