"""The llama.cpp adapter's request mapping and errors, without loading a model."""

from __future__ import annotations

import pytest

from hybridllm.config.models import Deployment
from hybridllm.errors import BadRequestError, ContextWindowError, ServerError
from hybridllm.providers import adapter_for
from hybridllm.providers.llamacpp import (
    DEFAULT_MAX_TOKENS,
    LlamaCppAdapter,
    LocalBusyError,
    LocalModelUnavailableError,
    _error,
    build_kwargs,
)
from hybridllm.providers.local_chat import plain_prompt
from hybridllm.providers.local_model import LocalSetupError, local_readiness
from hybridllm.providers.local_worker import ModelSettings
from hybridllm.types import ChatRequest, Message, ResponseFormat

# jinja2 (a llama-cpp-python dependency) may be absent here: an exception from its module will do.
TemplateError = type("TemplateError", (Exception,), {"__module__": "jinja2.exceptions"})
DEP = Deployment(name="local", provider="llamacpp", model="gemma-3-270m")


def _request(**fields: object) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content="hi")], **fields)


def test_the_llamacpp_provider_is_local_free_and_keyless() -> None:
    assert DEP.wire == "llamacpp" and DEP.is_local and DEP.key is None
    assert isinstance(adapter_for("llamacpp"), LlamaCppAdapter)


def test_the_output_cap_comes_from_the_request_then_the_deployment() -> None:
    assert build_kwargs(_request(), DEP)["max_tokens"] == DEFAULT_MAX_TOKENS
    assert build_kwargs(_request(max_tokens=7), DEP)["max_tokens"] == 7
    capped = DEP.model_copy(update={"max_output_tokens": 5})
    assert build_kwargs(_request(max_tokens=70), capped)["max_tokens"] == 5


def test_sampling_stop_and_roles_pass_through() -> None:
    request = ChatRequest(
        messages=[Message(role="developer", content="be brief"), Message(role="user", content="x")],
        temperature=0,
        top_p=0.5,
        seed=3,
        stop="END",
    )
    kwargs = build_kwargs(request, DEP)
    assert kwargs["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "x"},
    ]
    assert (kwargs["temperature"], kwargs["top_p"], kwargs["seed"]) == (0, 0.5, 3)
    assert kwargs["stop"] == ["END"]


def test_json_modes_become_a_grammar_request() -> None:
    plain = build_kwargs(_request(response_format=ResponseFormat(type="json_object")), DEP)
    assert plain["response_format"] == {"type": "json_object"}
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    fmt = ResponseFormat(type="json_schema", json_schema={"name": "x", "schema": schema})
    assert build_kwargs(_request(response_format=fmt), DEP)["response_format"] == {
        "type": "json_object",
        "schema": schema,
    }
    assert "response_format" not in build_kwargs(
        _request(response_format=ResponseFormat("text")), DEP
    )


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (ValueError("Requested tokens (900) exceed context window of 64"), ContextWindowError),
        (TemplateError("Conversation roles must alternate"), BadRequestError),
        (LocalSetupError("model_path /x is not a file"), LocalModelUnavailableError),
        (ImportError("No module named 'llama_cpp'"), LocalModelUnavailableError),
        (RuntimeError("llama_decode returned -1"), ServerError),
    ],
)
def test_llama_cpp_failures_map_onto_the_error_tree(exc: Exception, cls: type) -> None:
    err = _error(exc, DEP)
    assert isinstance(err, cls)
    assert err.deployment == "local"


def test_a_spill_is_a_fallback_but_not_a_breaker_failure() -> None:
    assert LocalBusyError.fallback and not LocalBusyError.breaker_failure
    assert LocalModelUnavailableError.fallback


def test_the_plain_format_is_a_question_answer_transcript() -> None:
    prompt = plain_prompt(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi?"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Bye?"},
        ]
    )
    assert prompt == "Be brief.\n\nQuestion: Hi?\nAnswer: Hello.\nQuestion: Bye?\nAnswer:"


def test_threads_default_to_leaving_a_core_to_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert ModelSettings.of("x", None, None, None, 1).n_threads == 7
    assert ModelSettings.of("x", None, None, None, 3).n_threads == 2
    assert ModelSettings.of("x", None, None, 4, 3).n_threads == 4
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert ModelSettings.of("x", None, None, None, 1).n_threads == 1


def test_a_missing_model_path_is_reported_by_check(tmp_path: object) -> None:
    dep = DEP.model_copy(update={"model_path": "/nonexistent/model.gguf"})
    assert "not found" in local_readiness(dep) or "missing" in local_readiness(dep)


def test_config_accepts_the_local_fields(tmp_path: object) -> None:
    dep = Deployment(
        provider="llamacpp",
        model="my-model",
        model_path="~/models/x.gguf",
        n_ctx=8192,
        n_threads=4,
        max_concurrency=2,
        chat_format="chatml",
        warm_up=True,
    )
    assert (dep.n_ctx, dep.max_concurrency, dep.warm_up) == (8192, 2, True)
