"""``provider: llamacpp``: a GGUF model run in-process by llama-cpp-python (``hybridllm[local]``).

Not a wire format on the network but the same two-call contract: the aiohttp session is ignored.
The model's own chat template (from the GGUF) formats the prompt; streaming, usage, stop
sequences and JSON mode (``response_format`` ``json_object`` or ``json_schema``, enforced by a
grammar) are llama.cpp's. Generation runs on a worker thread per model instance (see
:mod:`~hybridllm.providers.local_worker`), never on the event loop.

Concurrency is ``max_concurrency`` generations at once (default 1); more requests queue. When the
wait for a slot would pass the rule's ``max_queue_wait``, the attempt fails with
:class:`LocalBusyError` (a fallback that is not a breaker failure) and dispatch moves on to the
next deployment of the chain. A private request, or one with nowhere to spill, waits instead.

Errors: a prompt longer than ``n_ctx`` is a :class:`~hybridllm.errors.ContextWindowError`; a
request the chat template refuses (say, roles that do not alternate) is a
:class:`~hybridllm.errors.BadRequestError`; a model that cannot be loaded (llama-cpp-python or
the GGUF missing) is a :class:`LocalModelUnavailableError`, which falls back.
"""

from __future__ import annotations

import atexit
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp

from hybridllm.dispatch.context import ATTEMPT
from hybridllm.errors import BadRequestError, ContextWindowError, ProviderError, ServerError
from hybridllm.providers.local_model import LOCAL_INSTALL, LocalSetupError
from hybridllm.providers.local_pool import QueueWaitExceeded
from hybridllm.providers.local_worker import GenerationStats, LocalModel, ModelSettings
from hybridllm.providers.openai import parse_chunk, parse_response
from hybridllm.types import ChatChunk, ChatRequest, ChatResponse, Usage, message_text

if TYPE_CHECKING:
    from pathlib import Path

    from hybridllm.config.models import Deployment

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "LlamaCppAdapter",
    "LocalBusyError",
    "LocalModelUnavailableError",
    "build_kwargs",
]

DEFAULT_MAX_TOKENS = 512  # when neither the request nor the deployment caps the output
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class LocalBusyError(ProviderError):
    """Every slot of a local model is busy and the queue wait would pass ``max_queue_wait``.

    No generation was attempted: dispatch spills the request to the next deployment, and the
    deployment's breaker does not count it (a busy model is a healthy one).
    """

    breaker_failure = False
    error_type = "local_model_busy"
    http_status = 503


class LocalModelUnavailableError(ProviderError):
    """The local model cannot run here: llama-cpp-python or the GGUF file is missing."""

    error_type = "local_model_unavailable"
    http_status = 503


def _messages(request: ChatRequest) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for message in request.messages:
        role = _ROLES.get(message.role, "user")  # tool results read as user turns
        out.append({"role": role, "content": message_text(message)})
    return out


def _response_format(request: ChatRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_schema" and fmt.json_schema:
        schema = fmt.json_schema.get("schema", fmt.json_schema)
        return {"type": "json_object", "schema": schema}
    return {"type": "json_object"}


def build_kwargs(request: ChatRequest, deployment: Deployment) -> dict[str, Any]:
    """``Llama.create_chat_completion`` arguments for a request (``stream`` is added later)."""
    cap = request.output_cap or deployment.max_output_tokens or DEFAULT_MAX_TOKENS
    if deployment.max_output_tokens:
        cap = min(cap, deployment.max_output_tokens)
    kwargs: dict[str, Any] = {
        "messages": _messages(request),
        "max_tokens": cap,
        "stop": request.stop_list(),
        "model": deployment.model,
    }
    if request.temperature is not None:
        kwargs["temperature"] = request.temperature
    if request.top_p is not None:
        kwargs["top_p"] = request.top_p
    if request.seed is not None:
        kwargs["seed"] = request.seed
    fmt = _response_format(request)
    if fmt is not None:
        kwargs["response_format"] = fmt
    return kwargs


def _error(exc: BaseException, deployment: Deployment) -> ProviderError:
    name = deployment.name
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, LocalSetupError | ImportError):
        hint = "" if isinstance(exc, LocalSetupError) else f" (install it: {LOCAL_INSTALL})"
        return LocalModelUnavailableError(f"{name}: {exc}{hint}", deployment=name)
    text = str(exc)
    if isinstance(exc, ValueError) and "context window" in text:
        return ContextWindowError(f"{name}: {text}", deployment=name, status=400)
    module = type(exc).__module__ or ""
    if module.startswith("jinja2") or isinstance(exc, ValueError | TypeError):
        return BadRequestError(f"{name}: the model refused the request: {text}", deployment=name)
    return ServerError(f"{name}: llama.cpp failed: {type(exc).__name__}: {text}", deployment=name)


class LlamaCppAdapter:
    """The in-process adapter; holds the loaded models (one :class:`LocalModel` per settings)."""

    wire = "llamacpp"

    def __init__(self) -> None:
        self._models: dict[ModelSettings, LocalModel] = {}
        self._lock = threading.Lock()
        atexit.register(self.close, wait=True)

    def model_for(self, deployment: Deployment) -> LocalModel:
        settings = ModelSettings.of(
            deployment.name,
            deployment.model_path,
            deployment.n_ctx,
            deployment.n_threads,
            deployment.max_concurrency,
            deployment.chat_format,
        )
        with self._lock:
            model = self._models.get(settings)
            if model is None:
                model = self._models[settings] = LocalModel(settings)
            return model

    async def warm_up(self, deployment: Deployment) -> Path:
        """Load the model now. Raises :class:`LocalModelUnavailableError` if it cannot run."""
        try:
            return await self.model_for(deployment).warm_up()
        except Exception as exc:
            raise _error(exc, deployment) from exc

    def close(self, *, wait: bool = False) -> None:
        """Drop every loaded model (their threads end once idle; ``wait``: free them now)."""
        with self._lock:
            models, self._models = list(self._models.values()), {}
        for model in models:
            model.close(wait=wait)

    async def _slot(self, model: LocalModel, deployment: Deployment) -> int:
        info = ATTEMPT.get()
        may_spill = (
            info is not None
            and not info.private
            and info.has_next
            and info.max_queue_wait is not None
        )
        max_wait = info.max_queue_wait if may_spill and info is not None else None
        try:
            return await model.pool.acquire(max_wait)
        except QueueWaitExceeded as exc:
            how = f"waited {exc.waited:.2f}s" if exc.waited else "the queue ahead would take longer"
            raise LocalBusyError(
                f"{deployment.name}: all {model.settings.max_concurrency} slot(s) busy, "
                f"{exc.queued} queued; {how} (max_queue_wait {max_wait}s): spilled",
                deployment=deployment.name,
            ) from None

    async def complete(
        self, session: aiohttp.ClientSession, deployment: Deployment, request: ChatRequest
    ) -> ChatResponse:
        kwargs = build_kwargs(request, deployment)
        model = self.model_for(deployment)
        slot = await self._slot(model, deployment)
        try:
            result, _stats = await model.complete(slot, kwargs)
        except Exception as exc:
            raise _error(exc, deployment) from exc
        return parse_response(result, deployment)

    async def stream(
        self, session: aiohttp.ClientSession, deployment: Deployment, request: ChatRequest
    ) -> AsyncIterator[ChatChunk]:
        kwargs = build_kwargs(request, deployment)
        model = self.model_for(deployment)
        slot = await self._slot(model, deployment)
        stats = GenerationStats()
        chunk_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        try:
            chunks = model.stream(slot, kwargs, stats)
            try:
                async for data in chunks:
                    chunk = parse_chunk(data, deployment)
                    yield ChatChunk(
                        id=chunk_id, model=chunk.model, choices=chunk.choices, created=created
                    )
            finally:
                await chunks.aclose()  # stops the generation when the caller goes away
        except Exception as exc:
            raise _error(exc, deployment) from exc
        usage = Usage(prompt_tokens=stats.prompt_tokens, completion_tokens=stats.sampled)
        yield ChatChunk(
            id=chunk_id, model=deployment.model, choices=[], usage=usage, created=created
        )
