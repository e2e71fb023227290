"""One GGUF model held in-process: ``max_concurrency`` llama.cpp instances, each on its own thread.

A ``Llama`` object is not thread-safe, so every instance lives on a single-thread executor that
loads it (lazily, or at warm-up) and runs its generations. Generation never touches the event
loop: a stream is bridged to it chunk by chunk with ``call_soon_threadsafe``. Stopping is
cooperative: a stopping criterion, checked by llama.cpp after every sampled token, ends the
generation once the caller has gone (cancelled, timed out, closed the stream), and only then is
the instance's slot released.

Token counting wraps llama.cpp's ``generate``, so a stream gets exact usage (llama.cpp's streamed
chunks carry none); a non-streaming answer takes its usage from llama.cpp's response.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import os
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridllm.providers.local_chat import apply_chat_format
from hybridllm.providers.local_model import resolve_model_path
from hybridllm.providers.local_pool import SlotPool

__all__ = ["GenerationStats", "LocalModel", "ModelSettings"]

DEFAULT_N_CTX = 4096


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """What identifies a loaded model: two deployments with equal settings share the instances."""

    name: str  # the deployment
    model_path: str | None
    n_ctx: int
    n_threads: int
    max_concurrency: int
    chat_format: str | None = None

    @classmethod
    def of(
        cls,
        name: str,
        model_path: str | None,
        n_ctx: int | None,
        n_threads: int | None,
        max_concurrency: int,
        chat_format: str | None = None,
    ) -> ModelSettings:
        # Leave a core to the event loop: on a small, busy machine llama.cpp's threads spin on
        # each other (2 threads on 2 shared cores ran ~9x slower than 1 here).
        cores = os.cpu_count() or 1
        threads = n_threads or max(1, (cores - 1) // max_concurrency)
        return cls(name, model_path, n_ctx or DEFAULT_N_CTX, threads, max_concurrency, chat_format)


@dataclass(slots=True)
class GenerationStats:
    """Filled in by the worker thread; read after the generation has ended."""

    prompt_tokens: int = 0
    sampled: int = 0  # tokens llama.cpp generated, an end-of-generation token included
    last_token: int = -1
    cancelled: bool = False


class _Criterion:
    """A llama.cpp stopping criterion, checked after every sampled token: stop once told to."""

    def __init__(self, stop: threading.Event, stats: GenerationStats) -> None:
        self.stop = stop
        self.stats = stats

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        if self.stop.is_set():
            self.stats.cancelled = True
            return True
        return False


_log = logging.getLogger("hybridllm.llamacpp")
_log_callback: Any = None  # kept alive: llama.cpp holds a pointer to it


def _quiet_llama_cpp(llama_cpp: Any) -> None:
    """Send llama.cpp's own log lines (context sizes, cache notes) to logging, not to stderr."""
    global _log_callback
    if _log_callback is not None:
        return

    def forward(level: int, text: bytes, _user_data: Any) -> None:
        _log.debug("%s", text.decode("utf-8", "replace").rstrip())

    _log_callback = llama_cpp.llama_log_callback(forward)
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))


@functools.cache
def _llama_class() -> type[Any]:
    """A ``Llama`` that applies our per-generation criterion and counts tokens.

    ``create_chat_completion`` formats the prompt with the model's chat template and calls
    ``create_completion``, passing only the template's stopping criteria along; this subclass adds
    ours there (one generation at a time per instance, so an attribute is safe), and counts the
    tokens ``generate`` yields (llama.cpp's streamed chunks carry no usage).
    """
    import llama_cpp  # type: ignore[import-not-found,unused-ignore]

    _quiet_llama_cpp(llama_cpp)

    class _Llama(llama_cpp.Llama):  # type: ignore[misc,unused-ignore]
        criterion: _Criterion | None = None

        def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Any:
            """Counts the prompt (all of it, cached prefix included) and each token made."""
            stats = self.criterion.stats if self.criterion is not None else None
            if stats is not None:
                stats.prompt_tokens = len(tokens)
            for token in super().generate(tokens, *args, **kwargs):
                if stats is not None:
                    stats.sampled += 1
                    stats.last_token = int(token)
                yield token

        def create_completion(self, *args: Any, **kwargs: Any) -> Any:
            if self.criterion is not None:
                criteria = llama_cpp.StoppingCriteriaList([self.criterion])
                extra = kwargs.get("stopping_criteria")
                if extra is not None:
                    criteria.extend(extra)
                kwargs["stopping_criteria"] = criteria
            return super().create_completion(*args, **kwargs)

        def is_end_token(self, token: int) -> bool:
            try:
                return bool(llama_cpp.llama_token_is_eog(self._model.vocab, token))
            except AttributeError:  # a release without the vocab handle
                return bool(token == self.token_eos())

    return _Llama


class _Instance:
    def __init__(self, settings: ModelSettings, index: int) -> None:
        self.settings = settings
        self.executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"hybridllm-llamacpp-{settings.name}-{index}"
        )
        self.llama: Any = None
        self.path: Path | None = None
        self.chat_format = ""

    def load(self) -> Any:
        """Runs on the instance's thread."""
        if self.llama is None:
            s = self.settings
            self.path = resolve_model_path(s.model_path)
            llama = _llama_class()(
                model_path=str(self.path),
                n_ctx=s.n_ctx,
                n_threads=s.n_threads,
                n_threads_batch=s.n_threads,
                verbose=False,
            )
            self.chat_format = apply_chat_format(llama, s.chat_format)
            self.llama = llama
        return self.llama


class LocalModel:
    """The instances of one model and the queue in front of them."""

    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self.pool = SlotPool(settings.max_concurrency)
        self._instances = [_Instance(settings, i) for i in range(settings.max_concurrency)]

    @property
    def loaded(self) -> bool:
        return all(i.llama is not None for i in self._instances)

    @property
    def chat_format(self) -> str:
        """How prompts are formatted ("" until loaded): see :mod:`.local_chat`."""
        return self._instances[0].chat_format

    async def warm_up(self) -> Path:
        """Load every instance now (each on its own thread), so no request waits for it."""
        futures = [asyncio.wrap_future(i.executor.submit(i.load)) for i in self._instances]
        await asyncio.gather(*futures)
        path = self._instances[0].path
        assert path is not None
        return path

    def _run(self, slot: int, job: Callable[[Any], Any]) -> Future[Any]:
        """Run ``job(llama)`` on the slot's thread; the slot is released when it has ended."""
        instance = self._instances[slot]
        try:
            future = instance.executor.submit(lambda: job(instance.load()))
        except BaseException:
            self.pool.release(slot)
            raise
        future.add_done_callback(lambda _f: self.pool.release(slot))
        return future

    async def complete(self, slot: int, kwargs: dict[str, Any]) -> tuple[Any, GenerationStats]:
        """A whole answer (llama.cpp's response dict). The caller holds ``slot``; it is freed."""
        stop = threading.Event()
        stats = GenerationStats()

        def job(llama: Any) -> Any:
            llama.criterion = _Criterion(stop, stats)
            try:
                return llama.create_chat_completion(**kwargs, stream=False)
            finally:
                llama.criterion = None

        try:
            result = await asyncio.wrap_future(self._run(slot, job))
        finally:
            stop.set()  # cancelled: the thread stops at its next token
        return result, stats

    async def stream(
        self, slot: int, kwargs: dict[str, Any], stats: GenerationStats
    ) -> AsyncGenerator[dict[str, Any], None]:
        """llama.cpp's chunk dicts as they come. ``stats`` is complete when the iterator ends."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def put(kind: str, item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, item))
            except RuntimeError:  # the loop is gone: nobody is listening any more
                stop.set()

        def job(llama: Any) -> None:
            llama.criterion = _Criterion(stop, stats)
            try:
                chunks: Iterator[dict[str, Any]] = llama.create_chat_completion(
                    **kwargs, stream=True
                )
                for chunk in chunks:
                    if stop.is_set():
                        break
                    put("chunk", chunk)
                if stats.sampled and llama.is_end_token(stats.last_token):
                    stats.sampled -= 1  # the end-of-turn token is not part of the answer
                put("end", None)
            except BaseException as exc:
                put("error", exc)
            finally:
                llama.criterion = None

        self._run(slot, job)
        try:
            while True:
                kind, item = await queue.get()
                if kind == "chunk":
                    yield item
                elif kind == "error":
                    raise item
                else:
                    return
        finally:
            stop.set()

    def close(self, *, wait: bool = False) -> None:
        for instance in self._instances:
            instance.executor.shutdown(wait=wait, cancel_futures=True)
            llama, instance.llama = instance.llama, None
            if wait and llama is not None:
                # Free the model while llama.cpp's module is still intact (its __del__ at
                # interpreter shutdown runs too late and fails).
                llama.close()
