"""Helpers for the mock upstream tests: a small loopback HTTP client and SSE parsing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from hybridllm.mock import MockUpstream

OPENAI = "/p/v1/chat/completions"
ANTHROPIC = "/p/v1/messages"
GEMINI = "/p/v1beta/models/gemini-2.0-flash:generateContent"
GEMINI_SSE = "/p/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-test"}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.raw)

    def sse(self) -> list[tuple[str | None, str]]:
        """The stream's events as (event name or None, data text), in order."""
        events: list[tuple[str | None, str]] = []
        text = self.raw.decode().replace("\r\n", "\n")
        for block in text.split("\n\n"):
            name: str | None = None
            data: list[str] = []
            for line in block.split("\n"):
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
            if data:
                events.append((name, "\n".join(data)))
        return events

    def sse_json(self) -> list[Any]:
        return [orjson.loads(d) for _, d in self.sse() if d != "[DONE]"]


class Api:
    """Posts to the mock over real loopback HTTP."""

    def __init__(self, mock: MockUpstream, session: aiohttp.ClientSession) -> None:
        self.mock = mock
        self.session = session

    async def post(
        self,
        path: str,
        body: Any,
        headers: dict[str, str] | None = None,
        limit: float = 10,
    ) -> Answer:
        async with self.session.post(
            self.mock.url + path,
            data=orjson.dumps(body),
            headers={"content-type": "application/json", **(headers or {})},
            timeout=aiohttp.ClientTimeout(total=limit),
        ) as resp:
            raw = await resp.read()
            return Answer(resp.status, dict(resp.headers), raw)

    async def get(self, path: str) -> Answer:
        async with self.session.get(self.mock.url + path) as resp:
            return Answer(resp.status, dict(resp.headers), await resp.read())

    async def openai(self, body: dict[str, Any], prefix: str = "p", **kw: Any) -> Answer:
        full = {"model": "gpt-4o-mini", **body}
        headers = {"Authorization": "Bearer sk-test", **kw.pop("headers", {})}
        return await self.post(f"/{prefix}/v1/chat/completions", full, headers, **kw)

    async def anthropic(self, body: dict[str, Any], prefix: str = "p", **kw: Any) -> Answer:
        full = {"model": "claude-sonnet-4-6", "max_tokens": 1024, **body}
        headers = {**ANTHROPIC_HEADERS, **kw.pop("headers", {})}
        return await self.post(f"/{prefix}/v1/messages", full, headers, **kw)

    async def gemini(
        self, body: dict[str, Any], prefix: str = "p", stream: bool = False, **kw: Any
    ) -> Answer:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        headers = {"x-goog-api-key": "g-test", **kw.pop("headers", {})}
        path = f"/{prefix}/v1beta/models/gemini-2.0-flash:{method}"
        return await self.post(path, body, headers, **kw)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def gemini_user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "parts": [{"text": text}]}]
