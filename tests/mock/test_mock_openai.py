"""The OpenAI chat completions wire of the mock upstream."""

from __future__ import annotations

import math

import orjson

from .helpers import Api, user

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}


async def test_plain_answer_echoes_model_and_user_text_padded_to_twelve_words(api: Api) -> None:
    ans = await api.openai({"messages": user("Hello   there")})
    assert ans.status == 200
    body = ans.json
    assert body["object"] == "chat.completion"
    assert body["model"] == "gpt-4o-mini"
    assert body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    text = choice["message"]["content"]
    assert text.startswith("Mock answer from gpt-4o-mini: Hello there ")
    assert len(text.split()) == 12
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"


async def test_usage_counts_prompt_bytes_over_four_and_reply_words(api: Api) -> None:
    messages = [{"role": "system", "content": "Be brief."}, *user("héllo")]
    ans = await api.openai({"messages": messages})
    usage = ans.json["usage"]
    expected_prompt = math.ceil((len(b"Be brief.") + len("héllo".encode())) / 4)
    assert usage["prompt_tokens"] == expected_prompt
    assert usage["completion_tokens"] == len(ans.json["choices"][0]["message"]["content"].split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0


async def test_long_user_text_is_cut_to_120_chars(api: Api) -> None:
    ans = await api.openai({"messages": user("x" * 300)})
    text = ans.json["choices"][0]["message"]["content"]
    assert "x" * 120 in text
    assert "x" * 121 not in text


async def test_stream_sends_role_then_one_chunk_per_word_then_finish_and_done(api: Api) -> None:
    ans = await api.openai({"messages": user("hi"), "stream": True})
    assert ans.status == 200
    assert ans.headers["Content-Type"].startswith("text/event-stream")
    events = ans.sse()
    assert events[-1] == (None, "[DONE]")
    chunks = ans.sse_json()
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    words = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]]
    assert len(words) == 12
    assert "".join(words).startswith("Mock answer from gpt-4o-mini: hi ")
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in chunks)


async def test_stream_sends_final_usage_chunk_only_with_include_usage(api: Api) -> None:
    body = {"messages": user("hi"), "stream": True, "stream_options": {"include_usage": True}}
    chunks = (await api.openai(body)).sse_json()
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == 12
    assert last["usage"]["prompt_tokens"] == 1
    assert all(c["usage"] is None for c in chunks[:-1])


async def test_tools_produce_a_call_to_the_first_tool_with_required_args(api: Api) -> None:
    ans = await api.openai({"messages": user("weather?"), "tools": [WEATHER_TOOL]})
    choice = ans.json["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["id"] == "call_mock_1"
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "mock", "days": 1}


async def test_tool_definitions_count_towards_prompt_tokens(api: Api) -> None:
    without = (await api.openai({"messages": user("weather?")})).json["usage"]
    with_tools = await api.openai({"messages": user("weather?"), "tools": [WEATHER_TOOL]})
    tool_bytes = len(orjson.dumps([WEATHER_TOOL]))
    expected = math.ceil((len(b"weather?") + tool_bytes) / 4)
    assert with_tools.json["usage"]["prompt_tokens"] == expected > without["prompt_tokens"]


async def test_streamed_tool_call_arrives_as_deltas_that_join_to_the_arguments(api: Api) -> None:
    body = {"messages": user("weather?"), "tools": [WEATHER_TOOL], "stream": True}
    chunks = (await api.openai(body)).sse_json()
    first = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["id"] == "call_mock_1"
    assert first["function"]["name"] == "get_weather"
    pieces = [
        c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for c in chunks[1:-1]
    ]
    assert len(pieces) > 1
    assert orjson.loads("".join(pieces)) == {"city": "mock", "days": 1}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_tool_result_as_last_message_is_acknowledged_in_text(api: Api) -> None:
    call = {"id": "call_mock_1", "type": "function", "function": {"name": "get_weather"}}
    messages = [
        *user("weather?"),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_mock_1", "content": "sunny, 21C"},
    ]
    ans = await api.openai({"messages": messages, "tools": [WEATHER_TOOL]})
    choice = ans.json["choices"][0]
    assert choice["message"]["content"].startswith("Tool result received: sunny, 21C")
    assert choice["finish_reason"] == "stop"


async def test_json_mode_replies_with_a_json_object(api: Api) -> None:
    for fmt in ({"type": "json_object"}, {"type": "json_schema", "json_schema": {"name": "x"}}):
        ans = await api.openai({"messages": user("hi"), "response_format": fmt})
        parsed = orjson.loads(ans.json["choices"][0]["message"]["content"])
        assert parsed["answer"].startswith("Mock answer from gpt-4o-mini: hi")


async def test_max_tokens_truncates_and_finishes_with_length(api: Api) -> None:
    ans = await api.openai({"messages": user("hi"), "max_tokens": 3})
    choice = ans.json["choices"][0]
    assert choice["message"]["content"] == "Mock answer from"
    assert choice["finish_reason"] == "length"
    assert ans.json["usage"]["completion_tokens"] == 3
    streamed = await api.openai(
        {"messages": user("hi"), "max_completion_tokens": 2, "stream": True}
    )
    chunks = streamed.sse_json()
    assert [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]] == ["Mock ", "answer"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


async def test_stop_sequence_cuts_the_reply_before_it(api: Api) -> None:
    ans = await api.openai({"messages": user("hi"), "stop": ["from"]})
    choice = ans.json["choices"][0]
    assert choice["message"]["content"] == "Mock answer "
    assert choice["finish_reason"] == "stop"


async def test_missing_model_or_messages_is_a_400_in_openai_envelope(api: Api) -> None:
    no_model = await api.post("/p/v1/chat/completions", {"messages": user("hi")})
    assert no_model.status == 400
    assert no_model.json["error"]["type"] == "invalid_request_error"
    no_messages = await api.openai({})
    assert no_messages.status == 400
    assert no_messages.json["error"]["code"] == "missing_required_parameter"
    not_json = await api.post("/p/v1/chat/completions", "just a string")
    assert not_json.status == 400


async def test_path_prefix_may_be_empty_or_several_segments(api: Api) -> None:
    assert (
        await api.post("/v1/chat/completions", {"model": "m", "messages": user("a")})
    ).status == 200
    deep = await api.openai({"messages": user("a")}, prefix="a/b")
    assert deep.status == 200
    assert [r.prefix for r in api.mock.records] == ["", "a/b"]
