"""Real inference on the bundled small model: answers, streams, stops, JSON, errors, cancellation."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from hybridllm.config.models import Deployment
from hybridllm.errors import ContextWindowError
from hybridllm.providers import adapter_for
from hybridllm.providers.llamacpp import LlamaCppAdapter
from hybridllm.runtime import Runtime
from hybridllm.types import ChatRequest, Message, ResponseFormat

from .conftest import ledger_rows

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("local_tier")]

PROMPT = "What is the capital of France?"
LONGER = "What is the difference between a process and a thread?"


def _adapter() -> LlamaCppAdapter:
    adapter = adapter_for("llamacpp")
    assert isinstance(adapter, LlamaCppAdapter)
    return adapter


def _deployment(name: str, **fields: object) -> Deployment:
    return Deployment(name=name, provider="llamacpp", model="gemma-3-270m", **fields)


def _request(text: str = PROMPT, **fields: object) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], **fields)


async def test_a_chat_answer_comes_from_the_model_with_its_usage(local_runtime: Runtime) -> None:
    done = await local_runtime.complete(PROMPT)
    assert done.deployment == "local"
    assert done.response.text.strip()
    usage = done.response.usage
    assert usage is not None
    assert usage.prompt_tokens > 5
    assert 0 < usage.completion_tokens <= 24
    assert done.cost_usd == 0.0  # local, no cost_per_hour
    assert done.baseline_cost_usd is not None and done.baseline_cost_usd > 0
    [row] = ledger_rows(local_runtime)
    assert (row.deployment, row.status, row.locality) == ("local", "ok", "local")
    assert row.completion_tokens == usage.completion_tokens


async def test_a_stream_yields_text_then_exact_usage(local_runtime: Runtime) -> None:
    request = {"messages": [{"role": "user", "content": LONGER}], "temperature": 0, "seed": 7}
    meta, chunks = await local_runtime.stream(request)
    pieces: list[str] = []
    usages = []
    async for chunk in chunks:
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
        if chunk.usage is not None:
            usages.append(chunk.usage)
    assert meta.deployment == "local"
    assert "".join(pieces).strip()
    assert len([p for p in pieces if p]) >= 2  # more than one piece: really streamed
    [usage] = usages
    # The same request answered whole: llama.cpp's own usage equals the counted one.
    whole = await local_runtime.complete(request)
    assert whole.response.text == "".join(pieces)
    assert whole.response.usage == usage


async def test_a_stop_sequence_ends_the_answer_before_it() -> None:
    adapter, dep = _adapter(), _deployment("local", n_ctx=2048, max_output_tokens=24)
    async with aiohttp.ClientSession() as session:
        free = await adapter.complete(session, dep, _request(LONGER, temperature=0, seed=1))
        words = free.text.split()
        assert len(words) >= 3, free.text
        stop = words[2]
        request = _request(LONGER, temperature=0, seed=1, stop=[stop])
        cut = await adapter.complete(session, dep, request)
    assert stop not in cut.text
    assert free.text.startswith(cut.text)
    assert cut.choices[0].finish_reason == "stop"


async def test_json_mode_constrains_the_answer_to_json() -> None:
    adapter, dep = _adapter(), _deployment("local", n_ctx=2048, max_output_tokens=24)
    request = _request(
        "Describe Ana, 31, as JSON.", response_format=ResponseFormat(type="json_object")
    )
    async with aiohttp.ClientSession() as session:
        answer = await adapter.complete(session, dep, request)
    assert answer.text.lstrip().startswith("{")


async def test_a_prompt_longer_than_the_context_is_a_context_window_error() -> None:
    adapter, dep = _adapter(), _deployment("local-tiny-ctx", n_ctx=64)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ContextWindowError):
            await adapter.complete(session, dep, _request("word " * 200))


async def test_a_closed_stream_stops_the_generation_and_frees_the_model() -> None:
    adapter, dep = _adapter(), _deployment("local-cancel", n_ctx=2048)
    async with aiohttp.ClientSession() as session:
        await adapter.warm_up(dep)
        stream = adapter.stream(session, dep, _request("Write a long story.", max_tokens=400))
        seen = 0
        async for chunk in stream:
            seen += bool(chunk.choices and chunk.choices[0].delta.content)
            if seen == 2:
                break
        await stream.aclose()  # type: ignore[attr-defined]
        started = time.monotonic()
        answer = await adapter.complete(session, dep, _request(max_tokens=2))
        waited = time.monotonic() - started
    assert answer.choices
    assert waited < 3.0  # 400 tokens would take far longer: the first generation stopped


async def test_two_requests_at_once_the_second_spills_to_the_next_deployment(
    local_runtime: Runtime,
) -> None:
    first, second = await asyncio.gather(
        local_runtime.complete("Tell me about Paris."),
        local_runtime.complete("Tell me about Rome."),
    )
    served = sorted([first.deployment, second.deployment])
    assert served == ["cloud", "local"]
    spilled = first if first.deployment == "cloud" else second
    assert [r.deployment for r in spilled.rows] == ["local", "cloud"]
    busy = spilled.rows[0]
    assert (busy.status, busy.error_class) == ("error", "LocalBusyError")
    assert spilled.rows[1].fallback_from == "local"


async def test_a_private_request_waits_for_the_local_model_instead_of_spilling(
    local_runtime: Runtime, mock: object
) -> None:
    first, second = await asyncio.gather(
        local_runtime.complete("confidential: summarize our salaries."),
        local_runtime.complete("confidential: summarize our layoffs."),
    )
    assert first.decision.private and second.decision.private
    assert (first.deployment, second.deployment) == ("local", "local")
    assert all(r.error_class is None for r in first.rows + second.rows)
    assert not mock.records_for("local-b")  # type: ignore[attr-defined]


async def test_the_event_loop_keeps_ticking_while_the_model_generates(
    local_runtime: Runtime,
) -> None:
    await local_runtime.complete("Hi")  # loaded: what follows is generation only
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    try:
        await local_runtime.complete("Tell me about the history of Paris.")
    finally:
        done.set()
        await ticking
    assert len(gaps) >= 10  # generation took at least ~100 ms of ticks
    gaps.sort()
    # Generation holds neither the loop nor (for long) the GIL: ticks stay ~10 ms apart. The
    # bounds leave room for a busy CI machine (20-30 ms worst gaps seen at load average 5).
    assert gaps[len(gaps) // 2] < 0.02, f"median tick gap {gaps[len(gaps) // 2] * 1000:.0f} ms"
    assert gaps[-1] < 0.1, f"the loop stalled {gaps[-1] * 1000:.0f} ms"
