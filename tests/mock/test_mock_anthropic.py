"""The Anthropic Messages wire of the mock upstream."""

from __future__ import annotations

import math

import orjson

from .helpers import Api, user

SEARCH_TOOL = {
    "name": "search",
    "description": "Search the web",
    "input_schema": {
        "type": "object",
        "properties": {"query": {"type": "string"}, "exact": {"type": "boolean"}},
        "required": ["query"],
    },
}


async def test_plain_answer_is_a_message_with_one_text_block(api: Api) -> None:
    ans = await api.anthropic({"messages": user("Hi Claude"), "system": "Be kind."})
    assert ans.status == 200
    msg = ans.json
    assert msg["type"] == "message"
    assert msg["role"] == "assistant"
    assert msg["model"] == "claude-sonnet-4-6"
    assert msg["id"].startswith("msg_")
    assert msg["content"][0]["type"] == "text"
    assert msg["content"][0]["text"].startswith("Mock answer from claude-sonnet-4-6: Hi Claude ")
    assert msg["stop_reason"] == "end_turn"
    assert msg["stop_sequence"] is None
    expected_prompt = math.ceil(len(b"Be kind.Hi Claude") / 4)
    assert msg["usage"] == {
        "input_tokens": expected_prompt,
        "output_tokens": 12,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }


async def test_system_given_as_text_blocks_counts_towards_input(api: Api) -> None:
    system = [{"type": "text", "text": "Be kind."}]
    ans = await api.anthropic({"messages": user("Hi Claude"), "system": system})
    assert ans.json["usage"]["input_tokens"] == math.ceil(len(b"Be kind.Hi Claude") / 4)


async def test_stream_follows_the_messages_event_sequence(api: Api) -> None:
    ans = await api.anthropic({"messages": user("hi"), "stream": True})
    assert ans.status == 200
    events = ans.sse()
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[3:15] == ["content_block_delta"] * 12
    assert names[15:] == ["content_block_stop", "message_delta", "message_stop"]
    datas = [orjson.loads(d) for _, d in events]
    assert all(d["type"] == n for (n, _), d in zip(events, datas, strict=True))
    start = datas[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == 1
    text = "".join(d["delta"]["text"] for d in datas[3:15])
    assert text.startswith("Mock answer from claude-sonnet-4-6: hi ")
    assert all(d["delta"]["type"] == "text_delta" for d in datas[3:15])
    assert datas[16]["delta"]["stop_reason"] == "end_turn"
    assert datas[16]["usage"]["output_tokens"] == 12


async def test_tools_produce_a_tool_use_block(api: Api) -> None:
    ans = await api.anthropic({"messages": user("find cats"), "tools": [SEARCH_TOOL]})
    msg = ans.json
    assert msg["stop_reason"] == "tool_use"
    block = msg["content"][0]
    assert block["type"] == "tool_use"
    assert block["name"] == "search"
    assert block["input"] == {"query": "mock"}
    assert block["id"].startswith("toolu_")


async def test_streamed_tool_use_sends_input_json_deltas(api: Api) -> None:
    body = {"messages": user("find cats"), "tools": [SEARCH_TOOL], "stream": True}
    datas = [orjson.loads(d) for _, d in (await api.anthropic(body)).sse()]
    assert datas[1]["content_block"] == {
        "type": "tool_use",
        "id": "toolu_mock_1",
        "name": "search",
        "input": {},
    }
    deltas = [d["delta"] for d in datas if d["type"] == "content_block_delta"]
    assert {d["type"] for d in deltas} == {"input_json_delta"}
    assert orjson.loads("".join(d["partial_json"] for d in deltas)) == {"query": "mock"}
    message_delta = next(d for d in datas if d["type"] == "message_delta")
    assert message_delta["delta"]["stop_reason"] == "tool_use"


async def test_tool_result_block_is_acknowledged_in_text(api: Api) -> None:
    messages = [
        *user("find cats"),
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "search", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "3 cats found"}],
                }
            ],
        },
    ]
    ans = await api.anthropic({"messages": messages, "tools": [SEARCH_TOOL]})
    assert ans.json["content"][0]["text"].startswith("Tool result received: 3 cats found")
    assert ans.json["stop_reason"] == "end_turn"


async def test_max_tokens_truncates_with_stop_reason_max_tokens(api: Api) -> None:
    ans = await api.anthropic({"messages": user("hi"), "max_tokens": 4})
    assert ans.json["content"][0]["text"] == "Mock answer from claude-sonnet-4-6:"
    assert ans.json["stop_reason"] == "max_tokens"
    assert ans.json["usage"]["output_tokens"] == 4


async def test_stop_sequence_is_reported(api: Api) -> None:
    ans = await api.anthropic({"messages": user("hi"), "stop_sequences": ["answer"]})
    assert ans.json["content"][0]["text"] == "Mock "
    assert ans.json["stop_reason"] == "stop_sequence"
    assert ans.json["stop_sequence"] == "answer"


async def test_missing_anthropic_version_header_is_invalid_request(api: Api) -> None:
    body = {"model": "claude", "max_tokens": 10, "messages": user("hi")}
    ans = await api.post("/p/v1/messages", body, {"x-api-key": "k"})
    assert ans.status == 400
    assert ans.json["type"] == "error"
    assert ans.json["error"]["type"] == "invalid_request_error"
    assert "anthropic-version" in ans.json["error"]["message"]


async def test_missing_max_tokens_model_or_messages_is_invalid_request(api: Api) -> None:
    full = {"model": "claude", "max_tokens": 10, "messages": user("hi")}
    for field in ("max_tokens", "model", "messages"):
        body = {k: v for k, v in full.items() if k != field}
        ans = await api.post("/p/v1/messages", body, {"anthropic-version": "2023-06-01"})
        assert ans.status == 400, field
        assert ans.json["error"]["type"] == "invalid_request_error"
        assert field in ans.json["error"]["message"]
