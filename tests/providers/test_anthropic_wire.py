from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from hybridllm.config.models import Deployment
from hybridllm.errors import RateLimitedError, ServerError
from hybridllm.providers.anthropic import StreamTranslator, _headers, build_body, parse_response
from hybridllm.types import ChatChunk, ChatRequest, decode_request

MakeDeployment = Callable[..., Deployment]


def req(**fields: Any) -> ChatRequest:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return decode_request(orjson.dumps(fields))


@pytest.fixture
def dep(make_deployment: MakeDeployment) -> Deployment:
    return make_deployment("anthropic")


def test_system_and_developer_messages_become_top_level_system(dep: Deployment) -> None:
    body = build_body(
        req(
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
                {"role": "user", "content": "hi"},
            ]
        ),
        dep,
        stream=False,
    )
    assert body["system"] == "Be brief.\n\nUse French."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert body["model"] == "anthropic-model"
    assert "stream" not in body


def test_consecutive_same_role_turns_are_merged(dep: Deployment) -> None:
    body = build_body(
        req(
            messages=[
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"},
                {"role": "assistant", "content": "c"},
                {"role": "assistant", "content": ""},
                {"role": "user", "content": "d"},
            ]
        ),
        dep,
        stream=False,
    )
    assert [(m["role"], [b["text"] for b in m["content"]]) for m in body["messages"]] == [
        ("user", ["a", "b"]),
        ("assistant", ["c"]),
        ("user", ["d"]),
    ]


def test_tool_calls_and_results_become_tool_use_and_one_user_turn_of_results(
    dep: Deployment,
) -> None:
    body = build_body(
        req(
            messages=[
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "t1",
                            "type": "function",
                            "function": {"name": "w", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "t2",
                            "type": "function",
                            "function": {"name": "w", "arguments": "not json"},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "t2", "content": "rain"},
                {"role": "user", "content": "thanks"},
            ]
        ),
        dep,
        stream=False,
    )
    assistant, results = body["messages"][1], body["messages"][2]
    assert assistant["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "t1", "name": "w", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "t2", "name": "w", "input": {}},
    ]
    assert results["role"] == "user"
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
        {"type": "tool_result", "tool_use_id": "t2", "content": "rain"},
        {"type": "text", "text": "thanks"},
    ]
    assert len(body["messages"]) == 3


def test_max_tokens_from_request_then_deployment_then_default(
    make_deployment: MakeDeployment,
) -> None:
    plain = make_deployment("anthropic")
    capped = make_deployment("anthropic", max_output_tokens=1000)
    assert (
        build_body(req(max_completion_tokens=50, max_tokens=60), capped, stream=False)["max_tokens"]
        == 50
    )
    assert build_body(req(max_tokens=60), capped, stream=False)["max_tokens"] == 60
    assert build_body(req(), capped, stream=False)["max_tokens"] == 1000
    assert build_body(req(), plain, stream=False)["max_tokens"] == 4096


def test_sampling_and_stop_sequences(dep: Deployment) -> None:
    body = build_body(req(temperature=1.7, stop="END", user="u1"), dep, stream=True)
    assert body["temperature"] == 1.0  # clamped to Anthropic's range
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u1"}
    assert body["stream"] is True
    assert build_body(req(top_p=0.9), dep, stream=False)["top_p"] == 0.9
    both = build_body(req(temperature=0.5, top_p=0.9), dep, stream=False)
    assert both["temperature"] == 0.5 and "top_p" not in both


def test_tools_become_input_schema(dep: Deployment) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "f",
                "description": "F",
                "parameters": {"type": "object", "properties": {"a": {"type": "string"}}},
            },
        },
        {"type": "function", "function": {"name": "g"}},
    ]
    body = build_body(req(tools=tools), dep, stream=False)
    assert body["tools"] == [
        {
            "name": "f",
            "description": "F",
            "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}},
        },
        {"name": "g", "description": "", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in body


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "f"}}, {"type": "tool", "name": "f"}),
    ],
)
def test_tool_choice_mapping(dep: Deployment, choice: Any, expected: dict[str, str]) -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert (
        build_body(req(tools=tools, tool_choice=choice), dep, stream=False)["tool_choice"]
        == expected
    )


def test_images_data_urls_become_base64_and_http_urls_url_sources(dep: Deployment) -> None:
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    body = build_body(req(messages=[{"role": "user", "content": content}]), dep, stream=False)
    assert body["messages"][0]["content"][1:] == [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_json_mode_adds_a_system_instruction(dep: Deployment) -> None:
    body = build_body(
        req(
            messages=[{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}],
            response_format={"type": "json_object"},
        ),
        dep,
        stream=False,
    )
    assert body["system"].startswith("S\n\n")
    assert "JSON object only" in body["system"]
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    with_schema = build_body(
        req(
            response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}
        ),
        dep,
        stream=False,
    )
    assert orjson.dumps(schema).decode() in with_schema["system"]


def test_headers_carry_key_and_version(dep: Deployment) -> None:
    headers = _headers(dep, stream=False)
    assert headers["x-api-key"] == "sk-test-unit-key-0123456789"
    assert headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in headers


def test_response_text_blocks_joined_and_usage_includes_cache(dep: Deployment) -> None:
    data = {
        "id": "msg_1",
        "model": "claude-x",
        "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "world"}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 20,
        },
    }
    response = parse_response(data, dep)
    assert response.text == "Hello world"
    assert (response.id, response.model) == ("msg_1", "claude-x")
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None
    assert response.usage.prompt_tokens == 130
    assert response.usage.completion_tokens == 5
    assert response.usage.cached_tokens == 100
    assert response.usage.cache_creation_tokens == 20


def test_response_tool_use_becomes_tool_calls(dep: Deployment) -> None:
    data = {
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    message = parse_response(data, dep).choices[0]
    assert message.finish_reason == "tool_calls"
    assert message.message.content is None
    assert message.message.tool_calls is not None
    call = message.message.tool_calls[0]
    assert (call.id, call.function.name, orjson.loads(call.function.arguments)) == (
        "toolu_1",
        "w",
        {"city": "Paris"},
    )


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_stop_reason_mapping(dep: Deployment, reason: str, finish: str) -> None:
    data = {"content": [{"type": "text", "text": "x"}], "stop_reason": reason}
    assert parse_response(data, dep).choices[0].finish_reason == finish


def run(translator: StreamTranslator, events: list[dict[str, Any]]) -> list[ChatChunk]:
    return [chunk for event in events for chunk in translator.feed(event)]


START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "model": "claude-x",
        "content": [],
        "usage": {"input_tokens": 7, "output_tokens": 1, "cache_read_input_tokens": 3},
    },
}


def test_stream_of_text_becomes_content_deltas_then_usage(dep: Deployment) -> None:
    translator = StreamTranslator(dep)
    chunks = run(
        translator,
        [
            START,
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            {"type": "ping"},
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hel"},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "lo"},
            },
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 2},
            },
            {"type": "message_stop"},
        ],
    )
    assert translator.done
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.cached_tokens) == (
        10,
        2,
        3,
    )
    assert {c.id for c in chunks} == {"msg_1"}


def test_stream_of_tool_use_becomes_tool_call_deltas(dep: Deployment) -> None:
    chunks = run(
        StreamTranslator(dep),
        [
            START,
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Let me check."},
            },
            {"type": "content_block_stop", "index": 0},
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}},
            },
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": ""},
            },
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
            },
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'},
            },
            {"type": "content_block_stop", "index": 1},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use"},
                "usage": {"output_tokens": 9},
            },
            {"type": "message_stop"},
        ],
    )
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    assert calls[0].id == "toolu_1" and calls[0].index == 0
    assert calls[0].function is not None and calls[0].function.name == "w"
    assert (
        "".join((tc.function and tc.function.arguments) or "" for tc in calls)
        == '{"city": "Paris"}'
    )
    assert {tc.index for tc in calls} == {0}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_stream_error_event_raises_the_mapped_error(dep: Deployment) -> None:
    translator = StreamTranslator(dep)
    translator.feed(START)
    with pytest.raises(ServerError) as info:
        translator.feed(
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        )
    assert info.value.status == 529
    with pytest.raises(RateLimitedError):
        translator.feed({"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}})


def test_stream_without_usage_has_no_usage_chunk(dep: Deployment) -> None:
    chunks = run(
        StreamTranslator(dep),
        [
            {"type": "message_start", "message": {"id": "m", "content": []}},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}},
            {"type": "message_stop"},
        ],
    )
    assert all(c.usage is None for c in chunks)


def test_unknown_stream_events_are_ignored(dep: Deployment) -> None:
    assert StreamTranslator(dep).feed({"type": "something_new", "x": 1}) == []
