"""A small raw HTTP client for the tests that need exact bytes, headers and statuses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    def error_message(self) -> str:
        data = self.json()
        return str(data["error"]["message"])


async def call(
    base: str,
    path: str,
    body: object = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> Reply:
    data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
    hdrs = {"content-type": "application/json", **(headers or {})}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, base + path, data=data, headers=hdrs) as resp,
    ):
        payload = await resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, payload)


def chat(content: str = "hello", **extra: object) -> dict[str, object]:
    return {"model": "auto", "messages": [{"role": "user", "content": content}], **extra}


def anthropic(content: str = "hello", **extra: object) -> dict[str, object]:
    return {
        "model": "auto",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": content}],
        **extra,
    }


def openai_error(reply: Reply) -> dict[str, Any]:
    data = reply.json()
    assert set(data) == {"error"}, data
    assert {"message", "type", "code"} <= set(data["error"]), data
    return dict(data["error"])


def anthropic_error(reply: Reply) -> dict[str, Any]:
    data = reply.json()
    assert data["type"] == "error", data
    assert set(data["error"]) == {"type", "message"}, data
    return dict(data["error"])


def sse_events(body: bytes) -> list[tuple[str, str]]:
    """(event name, data) for every SSE event; the name is "message" when none is given."""
    out: list[tuple[str, str]] = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        out.append((name, "\n".join(data)))
    return out
