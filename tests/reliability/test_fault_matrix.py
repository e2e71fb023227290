"""Every upstream fault x {stream, not} x {fallback available, none} x {OpenAI, Anthropic front}.

Each cell runs on a fresh gateway (no breaker or Retry-After state carried between cells) and
asserts the cell's expected outcome: an answer from the expected deployment, or a clear error in
the caller's protocol (an HTTP error in its envelope, or after the first byte an in-band error
event and a clean close). Always: the reply ends within the deadline (plus slack, no tight
timing), a stream never repeats content and has at most one terminal event, and the request has
at most one answering ledger row.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from hybridllm.mock.replies import Prompt, plan_reply

from .figures import record
from .harness import (
    CHAT,
    MESSAGES,
    GatewayThread,
    StreamShape,
    ThreadedMock,
    anthropic_body,
    anthropic_stream,
    chat_body,
    openai_stream,
)

AREA = "fault-matrix"
DEADLINE = 4.0
SLACK = 8.0  # generous: the machine is shared; a hang is a wait of the client timeout (30 s)
MODELS = {"primary": "gpt-4o-mini", "backup": "claude-sonnet-4-5"}

CONFIG = """
deployments:
  primary:
    provider: openai
    model: gpt-4o-mini
    base_url: {primary_url}
    api_key: sk-test-matrix-primary-000000000
    tier: 2
    price: {{input: 0.15, output: 0.60}}
    timeout: {{first_token: 1, idle: 0.5, total: 2}}
  backup:
    provider: anthropic
    model: claude-sonnet-4-5
    base_url: {mock}/backup
    api_key: {backup_key}
    tier: 3
    price: {{input: 3.00, output: 15.00}}
    timeout: {{first_token: 1, idle: 0.5, total: 2}}
baseline: backup
routes:
  - name: default
    use: {chain}
dispatch: {{max_attempts: 3, backoff_base: 0.001, backoff_max: 0.01, deadline: {deadline}}}
ledger: "sqlite://:memory:"
"""

FAULTS = (
    "5xx",
    "429+retry-after",
    "connect-refused",
    "slow-headers",
    "stall-mid-stream",
    "malformed-chunk",
    "missing-usage",
    "auth-failure",
)

# (fault, stream) -> mock rules for "primary" (None: the fault is in primary's URL instead)
RULES: dict[tuple[str, bool], list[dict[str, Any]] | None] = {}
for _stream in (False, True):
    RULES["5xx", _stream] = [{"status": 500}]
    RULES["429+retry-after", _stream] = [{"status": 429, "retry_after": 1}]
    RULES["connect-refused", _stream] = None
    RULES["slow-headers", _stream] = [{"delay": 5}]
    RULES["missing-usage", _stream] = [{"no_usage": True}]
    RULES["auth-failure", _stream] = [{"expect_key": "sk-a-key-primary-was-not-given-000"}]
RULES["stall-mid-stream", True] = [{"stall_after": 2}]
RULES["stall-mid-stream", False] = [{"hang": True}]  # headers never come
RULES["malformed-chunk", True] = [{"malformed_after": 2}]
RULES["malformed-chunk", False] = None  # a 200 whose JSON body is cut short (broken upstream)

# Faults after the first byte of a stream: no fallback is possible, an in-band error is right.
MID_STREAM = {"stall-mid-stream", "malformed-chunk"}
# Faults that still answer from primary.
HARMLESS = {"missing-usage"}
# Status classes of the error when nothing is left.
ERROR_STATUS = {
    "5xx": {502, 503},
    "429+retry-after": {429},
    "connect-refused": {502, 503},
    "slow-headers": {503, 504},
    "stall-mid-stream": {503, 504},
    "malformed-chunk": {502, 503},
    "auth-failure": {502, 503},
}


@dataclass(frozen=True)
class Cell:
    fault: str
    stream: bool
    fallback: bool
    protocol: str

    @property
    def id(self) -> str:
        return (
            f"{self.fault}-{'stream' if self.stream else 'plain'}-"
            f"{'fallback' if self.fallback else 'alone'}-{self.protocol}"
        )

    def expected(self) -> str:
        """'primary' / 'backup' (an answer from it), 'in-band' or 'error'."""
        if self.fault in HARMLESS:
            return "primary"
        if self.stream and self.fault in MID_STREAM:
            return "in-band"
        return "backup" if self.fallback else "error"


CELLS = [
    Cell(f, s, fb, p)
    for f in FAULTS
    for s in (False, True)
    for fb in (True, False)
    for p in ("openai", "anthropic")
]


class BrokenUpstream:
    """Answers every request with a 200 whose JSON body stops half-way."""

    def __init__(self, threaded: ThreadedMock) -> None:
        self.threaded = threaded
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self.runner = web.AppRunner(app, access_log=None)
        self.threaded.call(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.threaded.call(site.start())
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def _answer(self, request: web.Request) -> web.Response:
        await request.read()
        body = b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"mess'
        return web.Response(body=body, content_type="application/json")

    def close(self) -> None:
        self.threaded.call(self.runner.cleanup())


@pytest.fixture(scope="module")
def broken(threaded_mock: ThreadedMock) -> Iterator[BrokenUpstream]:
    upstream = BrokenUpstream(threaded_mock)
    try:
        yield upstream
    finally:
        upstream.close()


def refused_url() -> str:
    with socket.socket() as s:  # bound, never listening: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def expected_text(deployment: str, text: str) -> str:
    return str(plan_reply(Prompt(model=MODELS[deployment], last_user_text=text)).text)


_outcomes: dict[str, str] = {}


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
async def test_fault_cell(
    cell: Cell, tmp_path: Path, mock: ThreadedMock, broken: BrokenUpstream
) -> None:
    rules = RULES[cell.fault, cell.stream]
    primary_url = f"{mock.url}/primary/v1"
    if cell.fault == "connect-refused":
        primary_url = refused_url()
    elif rules is None:
        primary_url = f"{broken.url}/v1"
    else:
        mock.set_faults("primary", rules)
    chain = "[primary, backup]" if cell.fallback else "[primary]"
    config = tmp_path / "hybridllm.yaml"
    db = tmp_path / "ledger.db"
    config.write_text(
        CONFIG.format(
            primary_url=primary_url,
            mock=mock.url,
            chain=chain,
            deadline=DEADLINE,
            backup_key="sk-ant-" + "test-matrix-backup-0000000",
        )
    )
    gw = GatewayThread(config, f"sqlite:///{db}")
    text = f"fault matrix cell {cell.id}"
    try:
        if cell.protocol == "openai":
            path, body = CHAT, chat_body(text, stream=cell.stream)
        else:
            path, body = MESSAGES, anthropic_body(text, stream=cell.stream)
        started = time.monotonic()
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.post(
                gw.url + path, data=body, headers={"content-type": "application/json"}
            ) as resp,
        ):
            payload = await resp.read()
            status = resp.status
            headers = {k.lower(): v for k, v in resp.headers.items()}
        elapsed = time.monotonic() - started
        rows = gw.rows()
    finally:
        gw.stop()

    rid = headers.get("x-request-id")
    answering = [r for r in rows if r.request_id == rid and r.status in ("ok", "partial")]
    outcome = _check(cell, status, headers, payload, text)
    _outcomes[cell.id] = outcome
    record(AREA, "cells asserted", len(_outcomes), f"== {len(CELLS)}")
    kinds = [o if o in ("in-band", "error") else "answer" for o in _outcomes.values()]
    summary = "/".join(str(kinds.count(k)) for k in ("answer", "in-band", "error"))
    record(AREA, "outcomes answer/in-band/error", summary, "as each cell expects", True)
    slowest = max(float(_slow.get("max", 0.0)), elapsed)
    _slow["max"] = slowest
    record(AREA, "slowest reply (s)", round(slowest, 2), f"< deadline {DEADLINE} + {SLACK}", True)
    hangs = _slow.get("hangs", 0.0) + (elapsed > DEADLINE + SLACK)
    _slow["hangs"] = hangs
    record(AREA, "replies past deadline + slack", int(hangs), "== 0")

    assert rid, "every reply carries x-request-id"
    assert outcome == cell.expected(), f"{cell.id}: got {outcome}, wanted {cell.expected()}"
    assert elapsed < DEADLINE + SLACK, f"{cell.id}: {elapsed:.1f}s"
    assert len(answering) <= 1, answering
    if outcome in ("primary", "backup"):
        assert len(answering) == 1 and answering[0].deployment == outcome


_slow: dict[str, float] = {}


def _check(cell: Cell, status: int, headers: dict[str, str], payload: bytes, text: str) -> str:
    """Validate the reply in the caller's protocol; what it was: a deployment, 'in-band', 'error'."""
    if status != 200:
        _check_error_envelope(cell, payload)
        assert status in ERROR_STATUS.get(cell.fault, {status}), (cell.id, status, payload)
        if cell.fault == "429+retry-after":
            assert int(headers["retry-after"]) >= 1
        return "error"
    deployment = headers["x-hybridllm-deployment"]
    expected = expected_text(deployment, text)
    if not cell.stream:
        data = orjson.loads(payload)
        if cell.protocol == "openai":
            got = data["choices"][0]["message"]["content"]
        else:
            assert data["type"] == "message"
            got = "".join(b["text"] for b in data["content"] if b["type"] == "text")
        assert got == expected, (cell.id, got)
        return deployment
    shape: StreamShape = (
        openai_stream(payload) if cell.protocol == "openai" else anthropic_stream(payload)
    )
    assert shape.unparsable == 0, payload
    assert shape.after_end == 0, payload  # nothing after [DONE] / message_stop
    assert shape.done_events <= 1, payload  # one [DONE] at most
    if cell.protocol == "anthropic":
        assert shape.starts == 1, payload
    # No content repeated: what arrived is the answering deployment's reply, or its beginning.
    assert expected.startswith(shape.text), (cell.id, shape.text)
    assert shape.text.count("Mock answer from") <= 1
    if shape.errors:
        assert len(shape.errors) == 1, payload
        message = shape.errors[0].get("message")
        assert isinstance(message, str) and message, payload
        if cell.protocol == "openai":
            assert shape.done_events == 1  # the error event, then [DONE]
        else:
            assert shape.done_events == 0  # an error event ends an Anthropic stream
        return "in-band"
    assert shape.done_events == 1 and shape.text == expected, payload
    return deployment


def _check_error_envelope(cell: Cell, payload: bytes) -> None:
    data = orjson.loads(payload)
    if cell.protocol == "openai":
        assert set(data) == {"error"}, data
        assert {"message", "type", "code"} <= set(data["error"]), data
        message = data["error"]["message"]
    else:
        assert data["type"] == "error", data
        assert set(data["error"]) == {"type", "message"}, data
        message = data["error"]["message"]
    assert isinstance(message, str) and message.strip(), data
