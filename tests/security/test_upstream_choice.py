"""Clients cannot choose where a request goes or with which key, on any route; the gateway
connects to its configured deployments and nowhere else.

A decoy listener stands for "somewhere else": every hostile request names it (body fields,
headers, query string, the model). Afterwards the decoy has accepted no connection, the mock
upstream saw every upstream request at a configured deployment's path with that deployment's key
(never a key the client sent), and every TCP connection this process holds goes to a loopback
port we know.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from hybridllm.server.inbound import FORBIDDEN_FIELDS
from tests.reliability.figures import record
from tests.reliability.harness import CHAT, MESSAGES, GatewayThread, ThreadedMock, tcp_peers

from .conftest import sha

AREA = "security"
KEYS = {
    "primary": "sk-test-choice-primary-0000000000",
    "claude": "sk-ant-" + "test-choice-claude-00000",
}
CLIENT_UPSTREAM_KEY = "sk-client-chosen-upstream-key-9999999"
ROUTES = (CHAT, "/chat/completions", MESSAGES, "/v1/route")

CONFIG = """
deployments:
  primary:
    provider: openai
    model: gpt-4o-mini
    base_url: {mock}/primary/v1
    api_key: {primary}
    tier: 2
    price: {{input: 0.15, output: 0.60}}
  claude:
    provider: anthropic
    model: claude-sonnet-4-5
    base_url: {mock}/claude
    api_key: {claude}
    tier: 3
    price: {{input: 3.00, output: 15.00}}
baseline: claude
routes:
  - name: default
    use: [primary, claude]
ledger: "sqlite://:memory:"
"""


class Decoy:
    """A loopback listener that counts the connections it gets (it should get none)."""

    def __init__(self, threaded: ThreadedMock) -> None:
        self.threaded = threaded
        self.accepted = 0
        self.server: asyncio.Server = threaded.call(
            asyncio.start_server(self._on_connect, "127.0.0.1", 0)
        )
        self.port = int(self.server.sockets[0].getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        writer.close()

    def close(self) -> None:
        self.server.close()
        self.threaded.call(self.server.wait_closed())


def hostile_requests(decoy: str) -> list[tuple[str, dict[str, Any], dict[str, str], str]]:
    """(route, body, headers, query) tries at choosing the upstream or its key."""
    base_chat = {"model": "auto", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    tries: list[tuple[str, dict[str, Any], dict[str, str], str]] = []
    for route in ROUTES:
        for name in FORBIDDEN_FIELDS:
            value: Any = decoy if "key" not in name else CLIENT_UPSTREAM_KEY
            if name == "extra_headers":
                value = {"authorization": f"Bearer {CLIENT_UPSTREAM_KEY}", "host": decoy}
            tries.append((route, {**base_chat, name: value}, {}, ""))
        for body_extra in (
            {"hybridllm": {"base_url": decoy}},
            {"hybridllm": {"api_key": CLIENT_UPSTREAM_KEY}},
            {"model": f"{decoy}/v1"},
            {"model": "openai/gpt-4o-mini", "custom_llm_provider": "openai"},
            {"BASE_URL": decoy, "Api_Key": CLIENT_UPSTREAM_KEY, "baseURL": decoy},
            {"metadata": {"base_url": decoy, "api_key": CLIENT_UPSTREAM_KEY}},
            {"extra_body": {"base_url": decoy}},
            {"url": decoy, "endpoint": decoy, "api_url": decoy, "provider": "openai"},
            {"stream": True, "stream_options": {"include_usage": True, "base_url": decoy}},
        ):
            tries.append((route, {**base_chat, **body_extra}, {}, ""))
        for headers in (
            {"x-hybridllm-base-url": decoy},
            {"x-hybridllm-api-key": CLIENT_UPSTREAM_KEY},
            {"x-hybridllm-provider": "openai"},
            {"authorization": f"Bearer {CLIENT_UPSTREAM_KEY}"},
            {"x-api-key": CLIENT_UPSTREAM_KEY},
            {"api-key": CLIENT_UPSTREAM_KEY, "x-goog-api-key": CLIENT_UPSTREAM_KEY},
            {"x-forwarded-host": decoy.removeprefix("http://"), "forwarded": f"host={decoy}"},
            {"openai-organization": "org-evil", "anthropic-beta": "evil"},
        ):
            tries.append((route, base_chat, headers, ""))
        tries.append((route, base_chat, {}, f"?base_url={decoy}&api_key={CLIENT_UPSTREAM_KEY}"))
    return tries


async def test_no_route_lets_a_client_choose_the_upstream_or_its_key(
    tmp_path: Path, mock: ThreadedMock
) -> None:
    decoy = Decoy(mock)
    config = tmp_path / "hybridllm.yaml"
    config.write_text(CONFIG.format(mock=mock.url, **KEYS))
    gw = GatewayThread(config, f"sqlite:///{tmp_path / 'ledger.db'}")
    answered = refused = 0
    peers: set[tuple[str, int]] = set()
    own: set[int] = set()  # local ports of this process's connections (client, gateway, mock)
    bad_answers: list[str] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            for route, body, headers, query in hostile_requests(decoy.url):
                hdrs = {"content-type": "application/json", **headers}
                async with session.post(
                    gw.url + route + query, data=orjson.dumps(body), headers=hdrs
                ) as resp:
                    payload = await resp.read()
                    if resp.status == 200:
                        answered += 1
                        deployment = resp.headers.get("x-hybridllm-deployment", "")
                        if route != "/v1/route" and deployment not in KEYS:
                            bad_answers.append(f"{route} {body} -> {deployment}")
                    elif resp.status in (400, 404, 422):
                        refused += 1
                    else:
                        bad_answers.append(f"{route} {resp.status} {payload[:200]!r}")
                for _, local_port, ip, port, _ in tcp_peers():
                    if port:  # not a listening socket
                        peers.add((ip, port))
                        own.add(local_port)
    finally:
        gw.stop()
        decoy.close()

    records = mock.mock.records
    prefixes = {r.prefix for r in records}
    wrong_keys = [r for r in records if r.key_sha256 != sha(KEYS[r.prefix])]
    allowed_ports = {mock.mock.port, gw.port}
    strangers = sorted(
        p for p in peers if p[0] not in ("127.0.0.1", "::1") or p[1] not in allowed_ports | own
    )

    record(AREA, "hostile requests refused (400/404)", refused, "> 0", refused > 0)
    record(AREA, "hostile requests answered by a configured deployment", answered, "info", True)
    record(AREA, "replies from anywhere else", len(bad_answers), "== 0")
    record(AREA, "connections to the decoy upstream", decoy.accepted, "== 0")
    record(AREA, "upstream requests outside configured paths", len(prefixes - set(KEYS)), "== 0")
    record(AREA, "upstream requests with a client-chosen key", len(wrong_keys), "== 0")
    record(AREA, "TCP peers outside gateway/mock", len(strangers), "== 0")

    assert bad_answers == []
    assert decoy.accepted == 0
    assert records, "the answered requests reached the mock"
    assert prefixes <= set(KEYS)
    assert wrong_keys == []
    assert strangers == []
    assert refused >= len(FORBIDDEN_FIELDS) * len(ROUTES)
