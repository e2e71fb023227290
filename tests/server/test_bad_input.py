"""Bad input gets an error in the caller's envelope, with the right status, and no upstream call."""

from __future__ import annotations

import aiohttp
import pytest

from hybridllm.mock import MockUpstream

from .conftest import GatewayFactory, Running
from .helpers import CHAT, MESSAGES, anthropic, anthropic_error, call, chat, openai_error


@pytest.fixture(autouse=True)
def no_upstream_call(mock: MockUpstream) -> object:
    yield
    assert mock.records == []


async def test_malformed_json_is_a_400_in_the_openai_envelope(gateway: Running) -> None:
    reply = await call(gateway.url, CHAT, raw=b'{"model": "auto", "messages": [')
    assert reply.status == 400
    err = openai_error(reply)
    assert err["type"] == "invalid_request_error"
    assert "not valid JSON" in err["message"]
    assert reply.headers["x-request-id"]


async def test_malformed_json_is_a_400_in_the_anthropic_envelope(gateway: Running) -> None:
    reply = await call(gateway.url, MESSAGES, raw=b"{nope")
    assert reply.status == 400
    assert anthropic_error(reply)["type"] == "invalid_request_error"


async def test_wrong_type_names_the_path(gateway: Running) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": 42}]}
    reply = await call(gateway.url, CHAT, body)
    assert reply.status == 400
    assert "$.messages[0].content" in openai_error(reply)["message"]


async def test_wrong_type_in_an_anthropic_body_names_the_path(gateway: Running) -> None:
    reply = await call(gateway.url, MESSAGES, anthropic(max_tokens="many"))
    assert reply.status == 400
    assert "$.max_tokens" in anthropic_error(reply)["message"]


@pytest.mark.parametrize(
    "body",
    [{"model": "auto"}, {"model": "auto", "messages": []}, ["not", "an", "object"]],
    ids=["absent", "empty", "array-body"],
)
async def test_missing_messages_is_a_400(gateway: Running, body: object) -> None:
    reply = await call(gateway.url, CHAT, body)
    assert reply.status == 400
    err = openai_error(reply)
    assert "messages" in err["message"] or "object" in err["message"]


async def test_empty_body_is_a_400(gateway: Running) -> None:
    reply = await call(gateway.url, CHAT, raw=b"")
    assert reply.status == 400


async def test_bad_role_is_a_400(gateway: Running) -> None:
    body = {"model": "auto", "messages": [{"role": "wizard", "content": "hi"}]}
    reply = await call(gateway.url, CHAT, body)
    assert reply.status == 400
    assert "wizard" in openai_error(reply)["message"]


async def test_unknown_model_lists_the_valid_names(gateway: Running) -> None:
    reply = await call(gateway.url, CHAT, chat(model="gpt-5"))
    assert reply.status == 404
    err = openai_error(reply)
    assert err["code"] == "model_not_found"
    for name in ("auto", "local-a", "primary", "claude"):
        assert name in err["message"]


async def test_unknown_model_in_the_anthropic_envelope(gateway: Running) -> None:
    reply = await call(gateway.url, MESSAGES, anthropic(model="claude-opus-9"))
    assert reply.status == 404
    err = anthropic_error(reply)
    assert err["type"] == "not_found_error"
    assert "primary" in err["message"]


async def test_body_over_the_limit_is_a_413_from_content_length(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway("server: {max_body_bytes: 1000}\n")
    reply = await call(gw.url, CHAT, chat("x" * 2000))
    assert reply.status == 413
    assert openai_error(reply)["code"] == "request_too_large"
    reply = await call(gw.url, MESSAGES, anthropic("x" * 2000))
    assert reply.status == 413
    assert anthropic_error(reply)["type"] == "request_too_large"


async def test_body_over_the_limit_is_a_413_while_reading_a_chunked_body(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway("server: {max_body_bytes: 1000}\n")

    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"model": "auto", "messages": [{"role": "user", "content": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}]}'

    async with (
        aiohttp.ClientSession() as session,
        session.post(gw.url + CHAT, data=chunks()) as resp,
    ):
        assert resp.status == 413
        assert "max_body_bytes" in (await resp.json())["error"]["message"]


@pytest.mark.parametrize(
    "field", ["base_url", "api_base", "api_key", "custom_llm_provider", "api_version"]
)
async def test_a_client_cannot_set_a_provider_url_or_key_in_the_body(
    gateway: Running, field: str
) -> None:
    reply = await call(gateway.url, CHAT, chat(**{field: "http://evil.example/v1"}))
    assert reply.status == 400
    err = openai_error(reply)
    assert err["code"] == "forbidden_field" and field in err["message"]
    reply = await call(gateway.url, MESSAGES, anthropic(**{field: "sk-evil-000000000000000"}))
    assert reply.status == 400
    assert field in anthropic_error(reply)["message"]
    assert "sk-evil" not in reply.body.decode()


@pytest.mark.parametrize(
    "header", ["x-hybridllm-base-url", "x-hybridllm-api-key", "x-hybridllm-provider"]
)
async def test_a_client_cannot_set_a_provider_url_or_key_in_a_header(
    gateway: Running, header: str
) -> None:
    reply = await call(gateway.url, CHAT, chat(), headers={header: "http://evil.example"})
    assert reply.status == 400
    err = openai_error(reply)
    assert err["code"] == "forbidden_header" and header in err["message"]


@pytest.mark.parametrize(
    ("header", "value", "expected"),
    [
        ("x-hybridllm-complexity", "extreme", "low, medium, high"),
        ("x-hybridllm-tier", "9", "tier"),
        ("x-hybridllm-tier", "one", "integer"),
        ("x-hybridllm-private", "maybe", "true or false"),
        ("x-hybridllm-batch-size", "0", "1 to"),
        ("x-hybridllm-cost-center", "a b", "name"),
        ("x-hybridllm-task", "x" * 80, "name"),
        ("x-hybridllm-colour", "blue", "unknown header"),
    ],
)
async def test_a_bad_hint_header_is_a_400_naming_the_hint(
    gateway: Running, header: str, value: str, expected: str
) -> None:
    reply = await call(gateway.url, CHAT, chat(), headers={header: value})
    assert reply.status == 400
    message = openai_error(reply)["message"]
    assert header in message and expected in message


@pytest.mark.parametrize(
    ("hints", "expected"),
    [
        ({"tier": "high"}, "hybridllm.tier"),
        ({"complexity": 3}, "hybridllm.complexity"),
        ({"base_url": "http://evil"}, "hybridllm.base_url"),
        ("not-an-object", "must be an object"),
    ],
)
async def test_a_bad_hint_in_the_body_is_a_400_naming_the_hint(
    gateway: Running, hints: object, expected: str
) -> None:
    reply = await call(gateway.url, CHAT, chat(hybridllm=hints))
    assert reply.status == 400
    assert expected in openai_error(reply)["message"]
    reply = await call(gateway.url, MESSAGES, anthropic(hybridllm=hints))
    assert reply.status == 400
    assert expected in anthropic_error(reply)["message"]


async def test_unknown_route_and_wrong_method_answer_in_the_envelope(gateway: Running) -> None:
    reply = await call(gateway.url, "/v1/embeddings", {"input": "x"})
    assert reply.status == 404
    assert openai_error(reply)["code"] == "not_found"
    reply = await call(gateway.url, CHAT, method="GET")
    assert reply.status == 405
    openai_error(reply)
    reply = await call(gateway.url, MESSAGES, method="GET")
    assert reply.status == 405
    anthropic_error(reply)
