from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridllm.config.models import Deployment
from hybridllm.errors import ServerError
from hybridllm.providers.openai import (
    _headers,
    build_body,
    decode_response,
    parse_chunk,
    parse_response,
)
from hybridllm.types import decode_request

MakeDeployment = Callable[..., Deployment]

REQUEST = {
    "model": "auto",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ],
    "temperature": 0.2,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "tool_choice": "auto",
    "response_format": {"type": "json_object"},
    "hybridllm": {"task": "code"},
}


def test_body_passes_the_request_through_with_the_deployment_model(
    make_deployment: MakeDeployment,
) -> None:
    body = orjson.loads(
        build_body(decode_request(orjson.dumps(REQUEST)), make_deployment(), stream=False)
    )
    assert body["model"] == "openai-model"
    assert body["messages"] == REQUEST["messages"]
    assert body["tools"] == REQUEST["tools"]
    assert body["tool_choice"] == "auto"
    assert body["response_format"] == {"type": "json_object"}
    assert body["temperature"] == 0.2
    assert "stream" not in body and "stream_options" not in body
    assert "hybridllm" not in body


def test_complete_body_never_streams_even_if_the_request_asked(
    make_deployment: MakeDeployment,
) -> None:
    request = decode_request(orjson.dumps({**REQUEST, "stream": True}))
    body = orjson.loads(build_body(request, make_deployment(), stream=False))
    assert "stream" not in body


def test_stream_body_always_asks_for_usage(make_deployment: MakeDeployment) -> None:
    request = decode_request(orjson.dumps({**REQUEST, "stream_options": {"include_usage": False}}))
    body = orjson.loads(build_body(request, make_deployment(), stream=True))
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_bearer_header_only_when_a_key_is_set(make_deployment: MakeDeployment) -> None:
    with_key = _headers(make_deployment(headers={"X-Extra": "1"}), stream=False)
    assert with_key["Authorization"] == "Bearer sk-test-unit-key-0123456789"
    assert with_key["X-Extra"] == "1"
    assert "Authorization" not in _headers(
        make_deployment(provider="ollama", api_key=None), stream=True
    )


def test_response_text_finish_and_usage_with_cached_tokens(make_deployment: MakeDeployment) -> None:
    data = {
        "id": "chatcmpl-1",
        "created": 5,
        "model": "gpt-x",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 2,
            "total_tokens": 12,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
    }
    response = parse_response(data, make_deployment())
    assert response.text == "Hi"
    assert response.id == "chatcmpl-1"
    assert response.model == "gpt-x"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (10, 2)
    assert response.usage.cached_tokens == 4


def test_deepseek_cache_hit_tokens_count_as_cached(make_deployment: MakeDeployment) -> None:
    data = {
        "choices": [{"message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "prompt_cache_hit_tokens": 6},
    }
    usage = parse_response(data, make_deployment()).usage
    assert usage is not None and usage.cached_tokens == 6


def test_null_token_details_and_missing_usage(make_deployment: MakeDeployment) -> None:
    data = {
        "choices": [{"message": {"role": "assistant", "content": "x"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "prompt_tokens_details": None},
    }
    usage = parse_response(data, make_deployment()).usage
    assert usage is not None and usage.cached_tokens == 0
    assert parse_response({"choices": []}, make_deployment()).usage is None


def test_response_tool_calls_keep_ids_and_json_arguments(make_deployment: MakeDeployment) -> None:
    data = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"a":1}'},
                        },
                        {"type": "function", "function": {"name": "g", "arguments": {"b": 2}}},
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    message = parse_response(data, make_deployment()).choices[0].message
    assert message.content is None
    assert message.tool_calls is not None
    first, second = message.tool_calls
    assert (first.id, first.function.name, first.function.arguments) == ("call_1", "f", '{"a":1}')
    assert (second.function.name, second.function.arguments) == ("g", '{"b":2}')
    assert second.id  # synthesised when a server omits it


def test_chunk_with_tool_call_deltas(make_deployment: MakeDeployment) -> None:
    data = {
        "id": "c1",
        "model": "gpt-x",
        "created": 9,
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": ""},
                        }
                    ]
                },
                "finish_reason": None,
            }
        ],
    }
    chunk = parse_chunk(data, make_deployment())
    call = chunk.choices[0].delta.tool_calls
    assert call is not None
    assert (call[0].index, call[0].id, call[0].function and call[0].function.name) == (
        0,
        "call_1",
        "f",
    )
    assert chunk.usage is None


def test_usage_only_chunk(make_deployment: MakeDeployment) -> None:
    chunk = parse_chunk(
        {"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
        make_deployment(),
    )
    assert chunk.choices == []
    assert chunk.usage is not None and chunk.usage.total_tokens == 7


_maybe_int = st.one_of(st.none(), st.integers(0, 10**6), st.just(1.5))
_wire_usage = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "prompt_tokens": _maybe_int,
            "completion_tokens": _maybe_int,
            "total_tokens": _maybe_int,
            "prompt_tokens_details": st.one_of(
                st.none(), st.fixed_dictionaries({}, optional={"cached_tokens": _maybe_int})
            ),
            "prompt_cache_hit_tokens": _maybe_int,
        },
    ),
)
_wire_call = st.fixed_dictionaries(
    {
        "function": st.fixed_dictionaries(
            {"name": st.sampled_from(["f", "lookup"])},
            optional={"arguments": st.one_of(st.none(), st.just('{"a":1}'), st.just({"b": 2}))},
        )
    },
    optional={
        "id": st.one_of(st.none(), st.just(""), st.just("call_9")),
        "type": st.just("function"),
    },
)
_wire_message = st.fixed_dictionaries(
    {},
    optional={
        "role": st.one_of(st.none(), st.just(""), st.just("assistant")),
        "content": st.one_of(
            st.none(), st.text(max_size=20), st.just([{"type": "text", "text": "part"}])
        ),
        "tool_calls": st.one_of(st.none(), st.lists(_wire_call, max_size=2)),
        "refusal": st.none(),
    },
)
_wire_choice = st.fixed_dictionaries(
    {},
    optional={
        "message": st.one_of(st.none(), _wire_message),
        "index": st.one_of(st.none(), st.integers(0, 3)),
        "finish_reason": st.one_of(st.none(), st.sampled_from(["stop", "length", "tool_calls"])),
        "logprobs": st.none(),
    },
)
_wire_response = st.fixed_dictionaries(
    {"created": st.integers(1, 2**31)},
    optional={
        "id": st.one_of(st.none(), st.just(""), st.just("chatcmpl-1")),
        "model": st.one_of(st.none(), st.just(""), st.just("gpt-x")),
        "choices": st.one_of(st.none(), st.lists(_wire_choice, max_size=2)),
        "usage": _wire_usage,
        "system_fingerprint": st.just("fp_1"),
    },
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_wire_response)
def test_answer_decoded_from_bytes_equals_the_dict_parse(
    make_deployment: MakeDeployment, data: dict[str, Any]
) -> None:
    """decode_response reads the common shape straight from the bytes and hands the rest to
    parse_response: whatever the shape, the answer is the one parse_response gives."""
    deployment = make_deployment()
    assert decode_response(orjson.dumps(data), deployment) == parse_response(data, deployment)


def test_answer_that_is_not_json_is_the_upstreams_fault(make_deployment: MakeDeployment) -> None:
    with pytest.raises(ServerError):
        decode_response(b"<html>bad gateway</html>", make_deployment())
