"""Ollama management: the model list, health and warm-up, against loopback servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from hybridllm.config.models import Deployment
from hybridllm.errors import UpstreamConnectionError
from hybridllm.mock import MockUpstream
from hybridllm.mock.server import OLLAMA_MODELS
from hybridllm.providers import ollama
from hybridllm.providers.local_start import warm_up_local


@pytest.fixture
async def mock() -> AsyncIterator[MockUpstream]:
    async with MockUpstream() as upstream:
        yield upstream


class GenerateServer:
    """A tiny stand-in for Ollama's ``POST /api/generate``, recording what it was asked."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _generate(self, request: web.Request) -> web.Response:
        self.bodies.append(orjson.loads(await request.read()))
        return web.json_response({"model": self.bodies[-1]["model"], "done": True})

    async def __aenter__(self) -> GenerateServer:
        app = web.Application()
        app.router.add_post("/api/generate", self._generate)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


def _dep(base_url: str, **fields: Any) -> Deployment:
    return Deployment(
        name="local", provider="ollama", model="llama3.2:3b", base_url=base_url, **fields
    )


@pytest.mark.parametrize(
    ("base", "root"),
    [
        ("http://localhost:11434/v1", "http://localhost:11434"),
        ("http://h:1/x/v1/", "http://h:1/x"),
        ("http://h:1", "http://h:1"),
    ],
)
def test_the_root_is_the_base_url_without_v1(base: str, root: str) -> None:
    assert ollama.ollama_root(base) == root


async def test_the_model_list_comes_from_api_tags(mock: MockUpstream) -> None:
    async with aiohttp.ClientSession() as session:
        models = await ollama.list_models(session, f"{mock.url}/o/v1")
    assert models == list(OLLAMA_MODELS)
    # The blocking form (for `hybridllm init`), off this loop: the mock serves on it.
    blocking = await asyncio.to_thread(ollama.list_models_blocking, f"{mock.url}/o")
    assert blocking == list(OLLAMA_MODELS)


async def test_health_says_whether_the_model_is_pulled(mock: MockUpstream) -> None:
    async with aiohttp.ClientSession() as session:
        there = await ollama.health(session, _dep(f"{mock.url}/o/v1"))
        missing = await ollama.health(
            session, _dep(f"{mock.url}/o/v1").model_copy(update={"model": "qwen3:8b"})
        )
    assert there.ok and there.model_pulled and there.summary == "ok"
    assert missing.ok and missing.model_pulled is False
    assert "not pulled" in missing.summary


async def test_an_unreachable_server_is_unhealthy_and_lists_nothing() -> None:
    closed = "http://127.0.0.1:9/v1"  # discard port: nothing listens
    async with aiohttp.ClientSession() as session:
        health = await ollama.health(session, _dep(closed), limit=1)
        with pytest.raises(UpstreamConnectionError):
            await ollama.list_models(session, closed, limit=1)
    assert not health.ok and health.error
    assert ollama.list_models_blocking(closed, limit=0.5) == []


async def test_warm_up_loads_the_model_with_its_keep_alive() -> None:
    async with GenerateServer() as server, aiohttp.ClientSession() as session:
        await ollama.warm_up(session, _dep(f"{server.url}/v1", keep_alive="30m"))
        await ollama.warm_up(session, _dep(f"{server.url}/v1"))
    assert server.bodies == [
        {"model": "llama3.2:3b", "keep_alive": "30m"},
        {"model": "llama3.2:3b"},
    ]


async def test_start_warms_only_the_deployments_that_ask_for_it() -> None:
    async with GenerateServer() as server, aiohttp.ClientSession() as session:
        deps = [
            _dep(f"{server.url}/v1", warm_up=True, keep_alive=-1),
            _dep(f"{server.url}/v1").model_copy(update={"name": "cold"}),
        ]
        results = await warm_up_local(deps, session)
    assert [(r.deployment, r.error) for r in results] == [("local", None)]
    assert server.bodies == [{"model": "llama3.2:3b", "keep_alive": -1}]


async def test_a_failed_warm_up_is_reported_not_raised() -> None:
    async with aiohttp.ClientSession() as session:
        [result] = await warm_up_local([_dep("http://127.0.0.1:9/v1", warm_up=True)], session)
    assert result.error and "unreachable" in result.error
