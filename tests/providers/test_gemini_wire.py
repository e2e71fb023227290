from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from hybridllm.config.models import Deployment
from hybridllm.errors import RateLimitedError
from hybridllm.providers.gemini import StreamTranslator, _headers, _url, build_body, parse_response
from hybridllm.types import ChatChunk, ChatRequest, decode_request

MakeDeployment = Callable[..., Deployment]
SKIP = "skip_thought_signature_validator"


def req(**fields: Any) -> ChatRequest:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return decode_request(orjson.dumps(fields))


@pytest.fixture
def dep(make_deployment: MakeDeployment) -> Deployment:
    return make_deployment(
        "gemini", base_url="http://127.0.0.1:9/g/v1beta", api_key="AIza-test-key-000000000000"
    )


def test_urls_never_carry_the_key_which_goes_in_a_header(dep: Deployment) -> None:
    assert (
        _url(dep, stream=False) == "http://127.0.0.1:9/g/v1beta/models/gemini-model:generateContent"
    )
    assert _url(dep, stream=True) == (
        "http://127.0.0.1:9/g/v1beta/models/gemini-model:streamGenerateContent?alt=sse"
    )
    assert "key=" not in _url(dep, stream=True)
    assert _headers(dep, stream=False)["x-goog-api-key"] == "AIza-test-key-000000000000"


def test_model_with_models_prefix_is_not_doubled(make_deployment: MakeDeployment) -> None:
    dep = make_deployment("gemini", model="models/gemini-2.5-flash")
    assert _url(dep, stream=False).endswith("/models/gemini-2.5-flash:generateContent")


def test_system_instruction_and_roles(dep: Deployment) -> None:
    body = build_body(
        req(
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"},
                {"role": "user", "content": "d"},
            ]
        ),
        dep,
    )
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "a"}]},
        {"role": "model", "parts": [{"text": "b"}]},
        {"role": "user", "parts": [{"text": "c"}, {"text": "d"}]},
    ]
    assert "generationConfig" not in body


def test_tool_round_trip_uses_function_call_and_response_parts(dep: Deployment) -> None:
    body = build_body(
        req(
            messages=[
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "time", "arguments": "{}"},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_a", "content": '{"temp": 21}'},
                {"role": "tool", "tool_call_id": "call_b", "content": "noon"},
            ]
        ),
        dep,
    )
    model, results = body["contents"][1], body["contents"][2]
    assert model == {
        "role": "model",
        "parts": [
            {
                "functionCall": {"name": "weather", "args": {"city": "Paris"}},
                "thoughtSignature": SKIP,
            },
            {"functionCall": {"name": "time", "args": {}}, "thoughtSignature": SKIP},
        ],
    }
    assert results == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "weather", "response": {"result": {"temp": 21}}}},
            {"functionResponse": {"name": "time", "response": {"result": "noon"}}},
        ],
    }


def test_reused_tool_call_ids_resolve_to_the_latest_earlier_call(dep: Deployment) -> None:
    def call(name: str) -> dict[str, Any]:
        return {"role": "assistant", "tool_calls": [{"id": "call_0", "function": {"name": name}}]}

    body = build_body(
        req(
            messages=[
                {"role": "user", "content": "x"},
                call("first"),
                {"role": "tool", "tool_call_id": "call_0", "content": "1"},
                call("second"),
                {"role": "tool", "tool_call_id": "call_0", "content": "2"},
            ]
        ),
        dep,
    )
    names = [
        p["functionResponse"]["name"]
        for c in body["contents"]
        for p in c["parts"]
        if "functionResponse" in p
    ]
    assert names == ["first", "second"]


def test_tools_become_function_declarations(dep: Deployment) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "additionalProperties": False,
    }
    tools = [
        {
            "type": "function",
            "function": {"name": "weather", "description": "W", "parameters": schema},
        },
        {"type": "function", "function": {"name": "ping"}},
    ]
    body = build_body(req(tools=tools), dep)
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {"name": "weather", "description": "W", "parametersJsonSchema": schema},
                {"name": "ping"},
            ]
        }
    ]
    assert "toolConfig" not in body


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "f"}},
            {"mode": "ANY", "allowedFunctionNames": ["f"]},
        ),
    ],
)
def test_tool_choice_becomes_function_calling_mode(
    dep: Deployment, choice: Any, expected: dict[str, Any]
) -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    body = build_body(req(tools=tools, tool_choice=choice), dep)
    assert body["toolConfig"] == {"functionCallingConfig": expected}


def test_generation_config(make_deployment: MakeDeployment) -> None:
    dep = make_deployment("gemini", max_output_tokens=777)
    body = build_body(req(temperature=0.3, top_p=0.8, stop=["X", "Y"], seed=4), dep)
    assert body["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.8,
        "maxOutputTokens": 777,
        "stopSequences": ["X", "Y"],
        "seed": 4,
    }
    assert build_body(req(max_tokens=5), dep)["generationConfig"]["maxOutputTokens"] == 5


def test_json_mode_sets_mime_type_and_schema(dep: Deployment) -> None:
    body = build_body(req(response_format={"type": "json_object"}), dep)
    assert body["generationConfig"] == {"responseMimeType": "application/json"}
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = build_body(
        req(
            response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}
        ),
        dep,
    )
    assert body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


def test_images_become_inline_data_or_file_data(dep: Deployment) -> None:
    content = [
        {"type": "text", "text": "what?"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png?x=1"}},
    ]
    body = build_body(req(messages=[{"role": "user", "content": content}]), dep)
    assert body["contents"][0]["parts"][1:] == [
        {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
        {"fileData": {"fileUri": "https://example.com/a.png?x=1", "mimeType": "image/png"}},
    ]


def test_response_text_joined_without_thoughts_and_usage(dep: Deployment) -> None:
    data = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "thinking...", "thought": True},
                        {"text": "Hello "},
                        {"text": "world"},
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 100,
            "candidatesTokenCount": 5,
            "thoughtsTokenCount": 7,
            "cachedContentTokenCount": 60,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r1",
    }
    response = parse_response(data, dep)
    assert response.text == "Hello world"
    assert (response.id, response.model) == ("r1", "gemini-2.5-flash")
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (100, 12)
    assert response.usage.cached_tokens == 60


def test_response_function_calls_become_tool_calls_with_synthesised_ids(dep: Deployment) -> None:
    data = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
                        {"functionCall": {"name": "time", "args": {}}},
                    ],
                },
                "finishReason": "STOP",
            }
        ]
    }
    choice = parse_response(data, dep).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None
    assert [(c.function.name, orjson.loads(c.function.arguments)) for c in calls] == [
        ("weather", {"city": "Paris"}),
        ("time", {}),
    ]
    assert all(c.id.startswith("call_") for c in calls)
    assert len({c.id for c in calls}) == 2


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("OTHER", "stop"),
    ],
)
def test_finish_reason_mapping(dep: Deployment, reason: str, finish: str) -> None:
    data = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]}
    assert parse_response(data, dep).choices[0].finish_reason == finish


def test_blocked_prompt_is_a_content_filter_finish(dep: Deployment) -> None:
    response = parse_response({"promptFeedback": {"blockReason": "SAFETY"}}, dep)
    assert response.choices[0].finish_reason == "content_filter"
    assert response.text == ""


def run(translator: StreamTranslator, events: list[dict[str, Any]]) -> list[ChatChunk]:
    return [chunk for event in events for chunk in translator.feed(event)]


def event(
    parts: list[dict[str, Any]], finish: str | None = None, output: int = 1
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": output},
        "responseId": "r1",
        "modelVersion": "gemini-x",
    }


def test_stream_text_deltas_finish_and_last_usage(dep: Deployment) -> None:
    translator = StreamTranslator(dep)
    chunks = run(translator, [event([{"text": "Hel"}]), event([{"text": "lo"}], "STOP", output=2)])
    assert translator.finished
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello"
    assert chunks[-1].choices[0].finish_reason == "stop"
    usage = translator.usage_chunk()
    assert usage is not None and usage.choices == [] and usage.usage is not None
    assert (usage.usage.prompt_tokens, usage.usage.completion_tokens) == (9, 2)
    assert {c.id for c in chunks} == {"r1"}


def test_stream_function_call_is_one_tool_call_delta(dep: Deployment) -> None:
    translator = StreamTranslator(dep)
    chunks = run(
        translator,
        [
            event([{"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]),
            event([], "STOP"),
        ],
    )
    calls = chunks[0].choices[0].delta.tool_calls
    assert calls is not None and calls[0].index == 0 and calls[0].type == "function"
    assert calls[0].id is not None and calls[0].id.startswith("call_")
    assert calls[0].function is not None
    assert (calls[0].function.name, calls[0].function.arguments) == ("weather", '{"city":"Paris"}')
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_stream_without_finish_reason_is_not_finished(dep: Deployment) -> None:
    translator = StreamTranslator(dep)
    run(translator, [event([{"text": "Hel"}])])
    assert not translator.finished


def test_stream_error_payload_raises(dep: Deployment) -> None:
    with pytest.raises(RateLimitedError):
        StreamTranslator(dep).feed(
            {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}
        )
