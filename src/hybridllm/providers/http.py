"""Sending one request to an upstream and mapping its failures onto :mod:`hybridllm.errors`.

Shared by the three wire adapters. Only the connect timeout is applied here; first-token, idle and
total timeouts are dispatch's job around the adapter's coroutine or iterator. Messages never carry
headers or URLs with keys (the Gemini key travels in a header, never in the URL).
"""

from __future__ import annotations

import email.utils
import functools
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from hybridllm.errors import (
    ProviderError,
    ServerError,
    UpstreamConnectionError,
    UpstreamTimeoutError,
    error_for_status,
)

if TYPE_CHECKING:
    from hybridllm.config.models import Deployment

__all__ = [
    "error_details",
    "error_from_payload",
    "fetch",
    "load_json",
    "post",
    "read_body",
    "retry_after_seconds",
]

_MAX_MESSAGE = 500

# Anthropic's error types (also sent in-stream), as the HTTP status they stand for.
_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
# Gemini's (google.rpc) status names.
_RPC_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms`` (milliseconds), else ``Retry-After`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def error_details(body: bytes, fallback: str = "") -> tuple[str, str | None]:
    """The provider's message and error type from an error body, whichever wire format it is.

    OpenAI ``{"error": {"message", "type", "code"}}`` (the code wins: it carries
    ``context_length_exceeded``), Anthropic ``{"type": "error", "error": {"type", "message"}}``,
    Gemini ``{"error": {"code", "message", "status"}}``; a bare ``{"error": "text"}`` or plain text.
    """
    try:
        data: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # Gemini sometimes wraps the error in a one-element array
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, str):
            return _clip(error), None
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or fallback
            kind = None
            for field in ("code", "status", "type"):
                value = error.get(field)
                if isinstance(value, str) and value:
                    kind = value
                    break
            return _clip(str(message)), kind
    text = body.decode("utf-8", "replace").strip()
    return _clip(text or fallback), None


def error_from_payload(payload: Mapping[str, Any], deployment: Deployment) -> ProviderError:
    """An error sent inside a 200 stream (Anthropic ``error`` event, OpenAI/Gemini ``error``)."""
    error = payload.get("error", payload)
    status = 500
    message = "error event in stream"
    kind: str | None = None
    if isinstance(error, dict):
        message = str(error.get("message") or message)
        code = error.get("code")
        for field in ("type", "status", "code"):
            value = error.get(field)
            if isinstance(value, str) and value:
                kind = value
                break
        if isinstance(code, int) and 400 <= code < 600:
            status = code
        elif kind in _TYPE_STATUS:
            status = _TYPE_STATUS[kind]
        elif kind in _RPC_STATUS:
            status = _RPC_STATUS[kind]
    elif isinstance(error, str):
        message = error
    return error_for_status(status, _clip(message), deployment=deployment.name, provider_type=kind)


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "..."


async def _raise_for_status(resp: aiohttp.ClientResponse, deployment: Deployment) -> None:
    try:
        body = await resp.read()
    except (aiohttp.ClientError, OSError):
        body = b""
    message, kind = error_details(body, resp.reason or "")
    raise error_for_status(
        resp.status,
        message,
        deployment=deployment.name,
        provider_type=kind,
        retry_after=retry_after_seconds(resp.headers),
    )


def _connection_error(exc: aiohttp.ClientError, deployment: Deployment) -> ProviderError:
    name = deployment.name
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return UpstreamTimeoutError(f"{name}: connect timed out", deployment=name)
    detail = str(exc) or type(exc).__name__
    return UpstreamConnectionError(f"{name}: connection failed: {detail}", deployment=name)


@functools.lru_cache(maxsize=64)
def _connect_timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(sock_connect=seconds)  # immutable: one per value, reused


async def _send(
    session: aiohttp.ClientSession,
    deployment: Deployment,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
) -> aiohttp.ClientResponse:
    """POST ``body``; the 2xx response (to be passed to :func:`_done`), or the mapped error."""
    try:
        resp = await session.post(
            url,
            data=body,
            headers=headers,
            timeout=_connect_timeout(deployment.timeout.connect),
        )
    except aiohttp.ClientError as exc:
        raise _connection_error(exc, deployment) from exc
    if not 200 <= resp.status < 300:
        try:
            await _raise_for_status(resp, deployment)
        finally:
            _done(resp)
    return resp


def _done(resp: aiohttp.ClientResponse) -> None:
    if resp.content.is_eof():
        resp.release()  # fully read: the connection goes back to the pool
    else:
        resp.close()  # stopped early: drop the connection rather than drain it


@asynccontextmanager
async def post(
    session: aiohttp.ClientSession,
    deployment: Deployment,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
) -> AsyncIterator[aiohttp.ClientResponse]:
    """POST ``body``; yield the 2xx response, released on exit; raise the mapped error otherwise."""
    resp = await _send(session, deployment, url, body, headers)
    try:
        yield resp
    finally:
        _done(resp)


async def fetch(
    session: aiohttp.ClientSession,
    deployment: Deployment,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
) -> bytes:
    """POST ``body`` and return the 2xx answer's body; raise the mapped error otherwise.

    :func:`post` for a non-streamed answer, without a context manager (this is the hot path of
    every non-streaming request)."""
    resp = await _send(session, deployment, url, body, headers)
    try:
        return await read_body(resp, deployment)
    finally:
        _done(resp)


async def read_body(resp: aiohttp.ClientResponse, deployment: Deployment) -> bytes:
    try:
        return await resp.read()
    except aiohttp.ClientError as exc:
        raise _connection_error(exc, deployment) from exc


def load_json(body: bytes, deployment: Deployment) -> Any:
    """Decode a non-streamed answer; a body that is not JSON is the upstream's fault."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ServerError(
            f"{deployment.name}: the answer is not valid JSON", deployment=deployment.name
        ) from None
