"""Programmable faults of the mock upstream, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
import pytest

from hybridllm.errors import ContextWindowError, error_for_status
from hybridllm.mock import FaultRule, MockUpstream

from .helpers import Api, gemini_user, user

BODY = {"messages": user("hi")}


async def call(api: Api, wire: str, stream: bool = False, **kw: object) -> object:
    if wire == "openai":
        return await api.openai({**BODY, "stream": stream}, **kw)  # type: ignore[arg-type]
    if wire == "anthropic":
        return await api.anthropic({**BODY, "stream": stream}, **kw)  # type: ignore[arg-type]
    return await api.gemini({"contents": gemini_user("hi")}, stream=stream, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "openai_type", "anthropic_type", "gemini_status"),
    [
        (429, "requests", "rate_limit_error", "RESOURCE_EXHAUSTED"),
        (500, "server_error", "api_error", "INTERNAL"),
        (503, "server_error", "api_error", "UNAVAILABLE"),
        (529, "server_error", "overloaded_error", "INTERNAL"),
    ],
)
async def test_status_rule_answers_in_each_wires_error_envelope(
    api: Api, status: int, openai_type: str, anthropic_type: str, gemini_status: str
) -> None:
    api.mock.set_faults("p", [{"status": status, "message": "boom", "retry_after": 2}])
    o = await api.openai(BODY)
    assert o.status == status
    assert o.json["error"]["type"] == openai_type
    assert o.json["error"]["message"] == "boom"
    assert o.headers["Retry-After"] == "2"
    a = await api.anthropic(BODY)
    assert (a.status, a.json["type"], a.json["error"]["type"]) == (status, "error", anthropic_type)
    g = await api.gemini({"contents": gemini_user("hi")})
    assert g.json["error"] == {"code": status, "message": "boom", "status": gemini_status}
    assert [r.status for r in api.mock.records] == [status] * 3


async def test_retry_after_ms_header_and_default_message(api: Api) -> None:
    api.mock.set_faults("p", [FaultRule(status=429, retry_after_ms=1500)])
    ans = await api.openai(BODY)
    assert ans.headers["retry-after-ms"] == "1500"
    assert "Retry-After" not in ans.headers
    assert ans.json["error"]["code"] == "rate_limit_exceeded"
    assert "rate limit" in ans.json["error"]["message"].lower()


async def test_faults_are_per_prefix(api: Api) -> None:
    api.mock.set_faults("p", [{"status": 500}])
    assert (await api.openai(BODY)).status == 500
    assert (await api.openai(BODY, prefix="other")).status == 200


async def test_count_applies_to_the_first_n_requests_only(api: Api) -> None:
    api.mock.set_faults("p", [{"status": 503, "count": 2}])
    statuses = [(await api.openai(BODY)).status for _ in range(4)]
    assert statuses == [503, 503, 200, 200]


async def test_every_applies_to_every_nth_request(api: Api) -> None:
    api.mock.set_faults("p", [{"status": 500, "every": 3}])
    statuses = [(await api.openai(BODY)).status for _ in range(6)]
    assert statuses == [200, 200, 500, 200, 200, 500]


async def test_rate_is_deterministic_per_seed_and_resets_with_the_rules(api: Api) -> None:
    async def run(seed: int) -> list[int]:
        api.mock.set_faults("p", [{"status": 500, "rate": 0.5, "seed": seed}])
        return [(await api.openai(BODY)).status for _ in range(12)]

    first, again, other = await run(0), await run(0), await run(7)
    assert first == again
    assert 0 < first.count(500) < 12
    assert first != other


async def test_first_applying_rule_wins_and_shaping_rules_shape_the_answer(api: Api) -> None:
    api.mock.set_faults(
        "p", [{"status": 429, "count": 1}, {"reply": "fixed text", "cached_tokens": 1}]
    )
    assert (await api.openai(BODY)).status == 429
    ans = await api.openai(BODY)
    assert ans.json["choices"][0]["message"]["content"] == "fixed text"
    assert ans.json["usage"]["prompt_tokens_details"]["cached_tokens"] == 1


async def test_cached_tokens_are_reported_in_each_wires_field(api: Api) -> None:
    long = user("x" * 400)
    api.mock.set_faults("p", [{"cached_tokens": 64}])
    o = (await api.openai({"messages": long})).json["usage"]
    assert o["prompt_tokens_details"]["cached_tokens"] == 64
    assert o["prompt_tokens"] == 100
    a = (await api.anthropic({"messages": long})).json["usage"]
    assert (a["cache_read_input_tokens"], a["input_tokens"]) == (64, 36)
    g = (await api.gemini({"contents": gemini_user("x" * 400)})).json["usageMetadata"]
    assert (g["cachedContentTokenCount"], g["promptTokenCount"]) == (64, 100)


async def test_delay_holds_the_answer_back(api: Api) -> None:
    api.mock.set_faults("p", [{"delay": 0.3}])
    start = time.monotonic()
    ans = await api.openai(BODY)
    assert ans.status == 200
    assert time.monotonic() - start >= 0.25


async def test_hang_never_answers_until_the_client_times_out(api: Api) -> None:
    api.mock.set_faults("p", [{"hang": True, "count": 1}])
    with pytest.raises(asyncio.TimeoutError):
        await api.openai(BODY, limit=0.3)
    assert api.mock.records[0].status == 0
    assert (await api.openai(BODY)).status == 200


async def test_stop_releases_a_hung_connection_promptly() -> None:
    mock = MockUpstream({"": [{"hang": True}]})
    await mock.start()
    async with aiohttp.ClientSession() as session:
        body = orjson.dumps({"model": "m", "messages": user("hi")})
        pending = asyncio.ensure_future(session.post(mock.url + "/v1/chat/completions", data=body))
        for _ in range(500):  # until the request has arrived
            if mock.records:
                break
            await asyncio.sleep(0.01)
        start = time.monotonic()
        await mock.stop()
        with pytest.raises(aiohttp.ClientError):
            await pending
        assert time.monotonic() - start < 5


async def read_until_stalled(
    api: Api, path: str, body: dict[str, object], headers: dict[str, str], marker: bytes, n: int
) -> bytes:
    """Read a stream until ``n`` content events arrived, then until 0.3 s pass with no data."""
    got = b""
    timeout = aiohttp.ClientTimeout(total=10)
    async with api.session.post(
        api.mock.url + path, json=body, headers=headers, timeout=timeout
    ) as r:
        while got.count(marker) < n:
            line = await r.content.readline()
            assert line, "stream ended early"
            got += line
        with pytest.raises(TimeoutError):
            while True:
                async with asyncio.timeout(0.3):
                    line = await r.content.readline()
                assert line, "stream closed instead of stalling"
                got += line
    return got


STREAMS = {
    "openai": (
        "/p/v1/chat/completions",
        {"model": "m", "messages": user("hi"), "stream": True},
        {},
    ),
    "anthropic": (
        "/p/v1/messages",
        {"model": "c", "max_tokens": 50, "messages": user("hi"), "stream": True},
        {"anthropic-version": "2023-06-01"},
    ),
    "gemini": (
        "/p/v1beta/models/g:streamGenerateContent?alt=sse",
        {"contents": gemini_user("hi")},
        {},
    ),
}
CONTENT_MARKER = {
    "openai": b'"delta":{"content":',
    "anthropic": b"event: content_block_delta",
    "gemini": b'"parts":[{"text":',
}
FINAL_MARKER = {"openai": b"[DONE]", "anthropic": b"message_stop", "gemini": b"finishReason"}


@pytest.mark.parametrize("wire", ["openai", "anthropic", "gemini"])
async def test_stall_after_stops_sending_but_keeps_the_connection_open(api: Api, wire: str) -> None:
    api.mock.set_faults("p", [{"stall_after": 5}])
    got = await read_until_stalled(api, *STREAMS[wire], CONTENT_MARKER[wire], 5)
    assert got.count(CONTENT_MARKER[wire]) == 5
    assert FINAL_MARKER[wire] not in got


@pytest.mark.parametrize("wire", ["openai", "anthropic", "gemini"])
async def test_close_after_drops_the_connection_mid_stream(api: Api, wire: str) -> None:
    api.mock.set_faults("p", [{"close_after": 3}])
    path, body, headers = STREAMS[wire]
    got = b""
    async with api.session.post(api.mock.url + path, json=body, headers=headers) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            async for line in resp.content:
                got += line
    assert got.count(CONTENT_MARKER[wire]) == 3
    assert FINAL_MARKER[wire] not in got


async def test_close_after_on_a_non_streaming_request_drops_it_unanswered(api: Api) -> None:
    api.mock.set_faults("p", [{"close_after": 0}])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.openai(BODY)
    assert api.mock.records[0].status == 0


async def test_malformed_after_sends_one_invalid_json_line(api: Api) -> None:
    api.mock.set_faults("p", [{"malformed_after": 2}])
    for wire in ("openai", "anthropic", "gemini"):
        ans = await call(api, wire, stream=True)
        datas = [d for _, d in ans.sse() if d != "[DONE]"]  # type: ignore[attr-defined]
        bad = []
        for i, d in enumerate(datas):
            try:
                orjson.loads(d)
            except orjson.JSONDecodeError:
                bad.append(i)
        assert len(bad) == 1, wire


async def test_no_final_event_omits_each_wires_terminator(api: Api) -> None:
    api.mock.set_faults("p", [{"no_final_event": True}])
    o = await api.openai({**BODY, "stream": True})
    assert o.status == 200
    assert "[DONE]" not in [d for _, d in o.sse()]
    a = await api.anthropic({**BODY, "stream": True})
    names = [n for n, _ in a.sse()]
    assert "message_stop" not in names
    assert names[-1] == "message_delta"
    g = await api.gemini({"contents": gemini_user("hi")}, stream=True)
    assert all("finishReason" not in c["candidates"][0] for c in g.sse_json())


async def test_no_usage_omits_usage_everywhere(api: Api) -> None:
    api.mock.set_faults("p", [{"no_usage": True}])
    assert "usage" not in (await api.openai(BODY)).json
    opts = {"stream": True, "stream_options": {"include_usage": True}}
    assert all("usage" not in c for c in (await api.openai({**BODY, **opts})).sse_json())
    assert "usage" not in (await api.anthropic(BODY)).json
    streamed = [orjson.loads(d) for _, d in (await api.anthropic({**BODY, "stream": True})).sse()]
    assert all("usage" not in d and "usage" not in d.get("message", {}) for d in streamed)
    assert "usageMetadata" not in (await api.gemini({"contents": gemini_user("hi")})).json


async def test_chunk_delay_spaces_out_stream_chunks(api: Api) -> None:
    api.mock.set_faults("p", [{"chunk_delay": 0.03}])
    start = time.monotonic()
    ans = await api.openai({**BODY, "stream": True})
    assert ans.status == 200
    assert time.monotonic() - start >= 11 * 0.03 * 0.8


async def test_expect_key_rejects_other_keys_with_401_in_each_envelope(api: Api) -> None:
    api.mock.set_faults("p", [{"expect_key": "right-key"}])
    o = await api.openai(BODY)
    assert (o.status, o.json["error"]["code"]) == (401, "invalid_api_key")
    a = await api.anthropic(BODY)
    assert (a.status, a.json["error"]["type"]) == (401, "authentication_error")
    g = await api.gemini({"contents": gemini_user("hi")})
    assert (g.status, g.json["error"]["status"]) == (401, "UNAUTHENTICATED")
    good = await api.openai(BODY, headers={"Authorization": "Bearer right-key"})
    assert good.status == 200
    url_key = await api.gemini(
        {"contents": gemini_user("hi")}, headers={"x-goog-api-key": "right-key"}
    )
    assert url_key.status == 200


async def test_context_window_rejects_long_prompts_with_each_wires_text(api: Api) -> None:
    api.mock.set_faults("p", [{"context_window": 10}])
    assert (await api.openai(BODY)).status == 200
    long = user("y" * 80)  # 20 tokens
    o = await api.openai({"messages": long})
    assert (o.status, o.json["error"]["code"]) == (400, "context_length_exceeded")
    a = await api.anthropic({"messages": long})
    assert a.status == 400 and "prompt is too long" in a.json["error"]["message"]
    g = await api.gemini({"contents": gemini_user("y" * 80)})
    assert g.status == 400
    assert "exceeds the maximum number of tokens" in g.json["error"]["message"]
    for ans, wire in ((o, "openai"), (a, "anthropic"), (g, "gemini")):
        err = error_for_status(400, orjson.dumps(ans.json).decode(), provider_type=wire)
        assert isinstance(err, ContextWindowError), wire


def test_fault_rule_rejects_unknown_fields_and_bad_values() -> None:
    with pytest.raises(ValueError, match="stauts"):
        FaultRule.from_dict({"stauts": 500})
    with pytest.raises(ValueError, match="rate"):
        FaultRule.from_dict({"rate": 2})
    assert FaultRule.from_dict({"status": 529, "every": 2}) == FaultRule(status=529, every=2)


def test_fault_rule_to_dict_keeps_zero_counts() -> None:
    rule = FaultRule(status=500, count=0, stall_after=0)
    assert rule.to_dict() == {"status": 500, "count": 0, "stall_after": 0, "seed": 0}
    assert FaultRule.from_dict(rule.to_dict()) == rule
