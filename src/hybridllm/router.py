"""The library front: ``Router.from_config(path)``, ``decide``, and (with dispatch) completions."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec

from hybridllm.config.loader import LoadedConfig, load_config
from hybridllm.config.models import Config, Deployment
from hybridllm.errors import UsageError
from hybridllm.features.classifier import TaskClassifier
from hybridllm.features.extract import FeatureExtractor, Hints
from hybridllm.policy.decision import Decision
from hybridllm.policy.engine import Policy
from hybridllm.pricing import Rates, resolve_rates
from hybridllm.types import ChatChunk, ChatRequest, Message

if TYPE_CHECKING:
    from hybridllm.dispatch.result import Completion
    from hybridllm.runtime import Runtime

__all__ = ["Plan", "RequestLike", "Router", "to_request"]

RequestLike = ChatRequest | dict[str, Any] | str


class Plan(msgspec.Struct, frozen=True, gc=False):
    """A request ready to dispatch: the text the model sees (tier tag stripped) and the decision."""

    request: ChatRequest
    decision: Decision


def to_request(request: RequestLike) -> ChatRequest:
    if isinstance(request, ChatRequest):
        return request
    if isinstance(request, str):
        return ChatRequest(messages=[Message(role="user", content=request)])
    try:
        return msgspec.convert(request, ChatRequest)
    except msgspec.ValidationError as exc:
        raise UsageError(f"invalid request: {exc}") from None


class Router:
    """Routing without I/O. Build once per process; ``decide`` is safe to call from any thread."""

    def __init__(self, loaded: LoadedConfig, classifier: TaskClassifier | None = None) -> None:
        self.loaded = loaded
        self.config: Config = loaded.config
        self.rates: dict[str, Rates] = {
            name: resolve_rates(dep) for name, dep in self.config.deployments.items()
        }
        self.extractor = FeatureExtractor(self.config.classifier, classifier)
        self.policy = Policy(self.config, self.rates)
        self._runtimes: dict[asyncio.AbstractEventLoop, Runtime] = {}
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str] | None = None, *, classifier: TaskClassifier | None = None
    ) -> Router:
        return cls(load_config(path), classifier)

    def deployment(self, name: str) -> Deployment:
        return self.config.deployments[name]

    def plan(self, request: RequestLike, hints: Hints | None = None) -> Plan:
        chat = to_request(request)
        chat, tier = self.extractor.strip_tier_tag(chat)
        features = self.extractor.extract(chat, hints or Hints(), tier)
        return Plan(chat, self.policy.decide(features))

    def decide(self, request: RequestLike, hints: Hints | None = None) -> Decision:
        return self.plan(request, hints).decision

    @property
    def baseline(self) -> str | None:
        return self.config.baseline

    # -- answering (dispatch); the runtime is created on first use, per event loop -------------

    async def _runtime(self) -> Runtime:
        loop = asyncio.get_running_loop()
        runtime = self._runtimes.get(loop)
        if runtime is None:
            from hybridllm.runtime import Runtime

            runtime = await Runtime(self).start()
            self._runtimes[loop] = runtime
        return runtime

    async def acomplete(
        self, request: RequestLike, hints: Hints | None = None, *, request_id: str | None = None
    ) -> Completion:
        """Route and answer. Raises a :class:`hybridllm.errors.HybridLLMError` on failure."""
        runtime = await self._runtime()
        return await runtime.complete(request, hints, request_id=request_id)

    async def astream(
        self, request: RequestLike, hints: Hints | None = None, *, request_id: str | None = None
    ) -> AsyncIterator[ChatChunk]:
        """Route and stream OpenAI-style chunks. A failure after the first chunk raises."""
        runtime = await self._runtime()
        _meta, chunks = await runtime.stream(request, hints, request_id=request_id)
        async for chunk in chunks:
            yield chunk

    def complete(
        self, request: RequestLike, hints: Hints | None = None, *, request_id: str | None = None
    ) -> Completion:
        """The blocking form of :meth:`acomplete`, on a private event loop thread."""
        if self._thread_loop is None:
            self._thread_loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=self._thread_loop.run_forever, daemon=True, name="hybridllm"
            )
            thread.start()
        future = asyncio.run_coroutine_threadsafe(
            self.acomplete(request, hints, request_id=request_id), self._thread_loop
        )
        return future.result()

    async def aclose(self) -> None:
        """Close this loop's runtime: its HTTP session, and the ledger after a final flush."""
        runtime = self._runtimes.pop(asyncio.get_running_loop(), None)
        if runtime is not None:
            await runtime.close()

    def close(self) -> None:
        """Close the blocking form's runtime (rows are flushed)."""
        loop, self._thread_loop = self._thread_loop, None
        if loop is not None:
            asyncio.run_coroutine_threadsafe(self.aclose(), loop).result()
            loop.call_soon_threadsafe(loop.stop)
