from __future__ import annotations

import email.utils
import subprocess
import sys
import time

import pytest

from hybridllm.config.models import Deployment
from hybridllm.errors import (
    AuthError,
    BadRequestError,
    ContextWindowError,
    RateLimitedError,
    ServerError,
)
from hybridllm.providers import AnthropicAdapter, GeminiAdapter, OpenAIAdapter, adapter_for
from hybridllm.providers.http import error_details, error_from_payload, retry_after_seconds

DEPLOYMENT = Deployment(name="dep", provider="anthropic", model="m")


def test_retry_after_in_seconds() -> None:
    assert retry_after_seconds({"retry-after": "2"}) == 2.0


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after_seconds({"retry-after": "2", "retry-after-ms": "1500"}) == 1.5


def test_retry_after_as_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    value = retry_after_seconds({"retry-after": when})
    assert value is not None
    assert 25 <= value <= 31


def test_retry_after_date_in_the_past_is_zero() -> None:
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


def test_retry_after_missing_or_garbage_is_none() -> None:
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "soon"}) is None


def test_openai_error_code_is_preferred_over_type() -> None:
    body = (
        b'{"error": {"message": "too long", "type": "invalid_request_error",'
        b' "code": "context_length_exceeded"}}'
    )
    assert error_details(body) == ("too long", "context_length_exceeded")


def test_openai_error_without_code_uses_type() -> None:
    body = b'{"error": {"message": "bad", "type": "invalid_request_error", "code": null}}'
    assert error_details(body) == ("bad", "invalid_request_error")


def test_anthropic_error_type() -> None:
    body = b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    assert error_details(body) == ("Overloaded", "overloaded_error")


def test_gemini_error_status() -> None:
    body = b'{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}'
    assert error_details(body) == ("quota", "RESOURCE_EXHAUSTED")


def test_bare_string_error_and_plain_text() -> None:
    assert error_details(b'{"error": "model not found"}') == ("model not found", None)
    assert error_details(b"<html>Bad Gateway</html>") == ("<html>Bad Gateway</html>", None)
    assert error_details(b"", "Service Unavailable") == ("Service Unavailable", None)


def test_long_error_message_is_clipped() -> None:
    message, _ = error_details(b"x" * 5000)
    assert len(message) < 600


def test_anthropic_overloaded_event_is_a_server_error_529() -> None:
    err = error_from_payload(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        DEPLOYMENT,
    )
    assert isinstance(err, ServerError)
    assert err.status == 529
    assert err.provider_type == "overloaded_error"
    assert err.deployment == "dep"


@pytest.mark.parametrize(
    ("payload", "cls"),
    [
        ({"error": {"type": "rate_limit_error", "message": "slow down"}}, RateLimitedError),
        ({"error": {"type": "authentication_error", "message": "no"}}, AuthError),
        ({"error": {"type": "invalid_request_error", "message": "bad"}}, BadRequestError),
        (
            {"error": {"code": 429, "message": "q", "status": "RESOURCE_EXHAUSTED"}},
            RateLimitedError,
        ),
        ({"error": {"status": "UNAVAILABLE", "message": "later"}}, ServerError),
        (
            {"error": {"message": "prompt is too long: 9 tokens > 5 maximum", "code": 400}},
            ContextWindowError,
        ),
        ({"error": "boom"}, ServerError),
    ],
)
def test_in_stream_error_payloads_map_onto_the_tree(payload: dict[str, object], cls: type) -> None:
    assert type(error_from_payload(payload, DEPLOYMENT)) is cls


def test_adapter_for_returns_one_cached_instance_per_wire() -> None:
    assert isinstance(adapter_for("openai"), OpenAIAdapter)
    assert isinstance(adapter_for("anthropic"), AnthropicAdapter)
    assert isinstance(adapter_for("gemini"), GeminiAdapter)
    assert adapter_for("openai") is adapter_for("openai")


def test_adapter_for_unknown_wire_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown wire format 'soap'"):
        adapter_for("soap")


def test_config_models_import_first_does_not_loop() -> None:
    code = (
        "import hybridllm.config.models, hybridllm.providers;"
        " hybridllm.providers.adapter_for('gemini')"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
