"""Ollama management: health, warm-up and the model list. Chat itself is the OpenAI wire.

Ollama serves its OpenAI-compatible API under ``/v1`` and its own API at the root:

- ``GET {root}/api/tags``: the models pulled on the machine (health check and model listing);
- ``POST {root}/api/generate`` with a model and no prompt: loads the model into memory and keeps
  it there for ``keep_alive`` (``"30m"``, seconds, or ``-1`` for ever), so the first user does not
  wait for the load. Requests through ``/v1`` keep the server's own default (``OLLAMA_KEEP_ALIVE``).

``root`` is the deployment's base URL without its ``/v1`` suffix. ``limit``: seconds.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from hybridllm.errors import ProviderError, UpstreamConnectionError, UpstreamTimeoutError

if TYPE_CHECKING:
    from hybridllm.config.models import Deployment

__all__ = [
    "OllamaHealth",
    "health",
    "list_models",
    "list_models_blocking",
    "ollama_root",
    "warm_up",
]

DEFAULT_ROOT = "http://localhost:11434"


def ollama_root(base_url: str) -> str:
    """``http://host:11434/v1`` -> ``http://host:11434``."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def _names(data: Any) -> list[str]:
    models = data.get("models", []) if isinstance(data, dict) else []
    return [m["name"] for m in models if isinstance(m, dict) and isinstance(m.get("name"), str)]


def _has(models: list[str], model: str) -> bool:
    """Ollama names carry a tag: ``llama3.2`` means ``llama3.2:latest``."""
    wanted = model if ":" in model else f"{model}:latest"
    return model in models or wanted in models


@dataclass(frozen=True, slots=True)
class OllamaHealth:
    ok: bool  # the server answered /api/tags
    models: tuple[str, ...] = ()
    model_pulled: bool | None = None  # the deployment's model is among them (None: not asked)
    error: str | None = None
    latency_ms: float = 0.0

    @property
    def summary(self) -> str:
        """A short line for ``check``: ok, the model missing, or why the server is unreachable."""
        if not self.ok:
            return self.error or "unreachable"
        if self.model_pulled is False:
            return "ok, but the model is not pulled (ollama pull it)"
        return "ok"


async def list_models(
    session: aiohttp.ClientSession, root: str = DEFAULT_ROOT, *, limit: float = 3.0
) -> list[str]:
    """The model names Ollama has pulled. Raises a :class:`ProviderError` when unreachable."""
    url = f"{ollama_root(root)}/api/tags"
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=limit)) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise ProviderError(f"ollama at {root} answered {resp.status}", status=resp.status)
    except TimeoutError:
        raise UpstreamTimeoutError(f"ollama at {root}: no answer in {limit:g}s") from None
    except aiohttp.ClientError as exc:
        raise UpstreamConnectionError(f"ollama at {root}: {type(exc).__name__}") from None
    try:
        return _names(orjson.loads(body))
    except orjson.JSONDecodeError:
        raise ProviderError(f"ollama at {root}: /api/tags is not JSON") from None


def list_models_blocking(root: str = DEFAULT_ROOT, *, limit: float = 1.5) -> list[str]:
    """:func:`list_models` for synchronous callers (``hybridllm init``); [] when unreachable."""
    try:
        with urllib.request.urlopen(f"{ollama_root(root)}/api/tags", timeout=limit) as resp:
            return _names(orjson.loads(resp.read()))
    except (urllib.error.URLError, OSError, ValueError):
        return []


async def health(
    session: aiohttp.ClientSession, deployment: Deployment, *, limit: float = 3.0
) -> OllamaHealth:
    """Whether the server answers, and whether the deployment's model is pulled."""
    started = time.monotonic()
    try:
        models = await list_models(session, deployment.url, limit=limit)
    except ProviderError as exc:
        return OllamaHealth(False, error=exc.message)
    return OllamaHealth(
        True,
        tuple(models),
        _has(models, deployment.model),
        latency_ms=round((time.monotonic() - started) * 1000, 1),
    )


async def warm_up(
    session: aiohttp.ClientSession, deployment: Deployment, *, limit: float = 300.0
) -> float:
    """Load the deployment's model now (``keep_alive`` from the config); returns seconds taken."""
    body: dict[str, Any] = {"model": deployment.model}
    if deployment.keep_alive is not None:
        body["keep_alive"] = deployment.keep_alive
    url = f"{ollama_root(deployment.url)}/api/generate"
    started = time.monotonic()
    name = deployment.name
    try:
        async with session.post(
            url, data=orjson.dumps(body), timeout=aiohttp.ClientTimeout(total=limit)
        ) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise ProviderError(
                    f"{name}: ollama could not load {deployment.model}: {resp.status} {text[:200]}",
                    deployment=name,
                    status=resp.status,
                )
    except TimeoutError:
        raise UpstreamTimeoutError(
            f"{name}: ollama did not load {deployment.model} in {limit:g}s", deployment=name
        ) from None
    except aiohttp.ClientError as exc:
        raise UpstreamConnectionError(
            f"{name}: ollama unreachable ({type(exc).__name__})", deployment=name
        ) from None
    return time.monotonic() - started
