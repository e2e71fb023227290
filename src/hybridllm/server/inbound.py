"""What every model route does with a request before routing it.

- the body, read under ``server.max_body_bytes`` (413 from Content-Length, or while reading);
- the guard: fields a client could use to pick a provider URL or key are refused (400), and the
  ``hybridllm`` body field is taken out;
- the hints, from ``x-hybridllm-*`` headers and the ``hybridllm`` body field (the body wins), each
  value checked (400 naming the hint); an unknown ``x-hybridllm-*`` header is refused too, so a
  typo never passes silently.

No pydantic here: msgspec decodes, plain functions check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.requests import Request

from hybridllm.features.extract import Hints
from hybridllm.server.auth import Caller
from hybridllm.server.envelope import GatewayError
from hybridllm.types import ChatRequest

__all__ = [
    "FORBIDDEN_FIELDS",
    "HINT_HEADERS",
    "GuardedChat",
    "HintParser",
    "check_guard",
    "guard_body",
    "read_body",
]

# Fields that would let a client choose where a request goes or with which credentials.
FORBIDDEN_FIELDS = (
    "base_url",
    "api_base",
    "api_key",
    "api_version",
    "custom_llm_provider",
    "organization",
    "extra_headers",
    "aws_access_key_id",
    "aws_secret_access_key",
    "vertex_credentials",
    "azure_ad_token",
)

HINT_HEADERS = {
    "x-hybridllm-task": "task",
    "x-hybridllm-complexity": "complexity",
    "x-hybridllm-cost-center": "cost_center",
    "x-hybridllm-tier": "tier",
    "x-hybridllm-private": "private",
    "x-hybridllm-batch-size": "batch_size",
}
_BODY_NAMES = {
    "task": "task",
    "task_type": "task",
    "complexity": "complexity",
    "cost_center": "cost_center",
    "cost-center": "cost_center",
    "tier": "tier",
    "private": "private",
    "batch_size": "batch_size",
    "batch-size": "batch_size",
}
_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_COMPLEXITY = frozenset({"low", "medium", "high"})


# Only the fields the guard looks at; the rest of a body is skipped unparsed (Anthropic bodies).
# An OpenAI body is decoded once, into GuardedChat: the chat request with these fields beside it.
_GUARD_FIELDS = [
    (name, msgspec.Raw | msgspec.UnsetType, msgspec.UNSET)
    for name in ("hybridllm", *FORBIDDEN_FIELDS)
]
_Guard = msgspec.defstruct("_Guard", _GUARD_FIELDS)
GuardedChat = msgspec.defstruct("GuardedChat", _GUARD_FIELDS, bases=(ChatRequest,))

_guard_decoder = msgspec.json.Decoder(_Guard)
_hint_decoder = msgspec.json.Decoder(dict[str, Any])


def bad_body(exc: msgspec.MsgspecError) -> GatewayError:
    """A 400 for a body msgspec refused; the message keeps msgspec's ``$.path``."""
    text = str(exc)
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        return GatewayError(400, f"the request body is not valid JSON: {text}", code="invalid_json")
    return GatewayError(400, f"invalid request body: {text}", code="invalid_type")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or a 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise GatewayError(400, "invalid Content-Length header") from None
        if size > limit:
            raise _too_large(limit)
    parts: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        parts.append(chunk)
    body = b"".join(parts)
    if not body:
        raise GatewayError(
            400, "the request body is empty: send a JSON object", code="invalid_json"
        )
    return body


def _too_large(limit: int) -> GatewayError:
    return GatewayError(
        413,
        f"the request body is larger than the limit of {limit} bytes (server.max_body_bytes)",
        code="request_too_large",
    )


def guard_body(body: bytes) -> dict[str, Any] | None:
    """Refuse provider URL/key fields; return the ``hybridllm`` hint object, if any."""
    try:
        guard = _guard_decoder.decode(body)
    except msgspec.MsgspecError as exc:
        raise bad_body(exc) from None
    return check_guard(guard)


def check_guard(guard: Any) -> dict[str, Any] | None:
    """:func:`guard_body` on a decoded body that has the guard's fields (``GuardedChat``)."""
    for name in FORBIDDEN_FIELDS:
        if getattr(guard, name) is not msgspec.UNSET:
            raise GatewayError(
                400,
                f"the body field '{name}' is not allowed: clients cannot set a provider "
                "base URL, provider or key; the gateway's config decides where requests go",
                code="forbidden_field",
                param=name,
            )
    if guard.hybridllm is msgspec.UNSET:
        return None
    try:
        hints = _hint_decoder.decode(guard.hybridllm)
    except msgspec.MsgspecError:
        raise GatewayError(
            400,
            "the body field 'hybridllm' must be an object of hints, e.g. "
            '{"task": "code", "tier": 1}',
            param="hybridllm",
        ) from None
    return hints


@dataclass(slots=True)
class _Draft:
    task: str | None = None
    complexity: str | None = None
    cost_center: str | None = None
    tier: int | None = None
    private: bool | None = None
    batch_size: int | None = None


class HintParser:
    """Checks hint values against the config (a tier must exist) and builds :class:`Hints`."""

    def __init__(self, tiers: Iterable[int]) -> None:
        self.tiers = frozenset(tiers)

    def parse(
        self,
        headers: Iterable[tuple[bytes, bytes]],
        body_hints: dict[str, Any] | None,
        caller: Caller,
    ) -> Hints:
        """``headers``: the raw ASGI pairs (names in lower case, as servers pass them), so that
        only the ``x-hybridllm-*`` ones are decoded (decoding every header of every request cost
        ~0.6 us more)."""
        draft: _Draft | None = None
        for raw_name, raw_value in headers:
            if not raw_name.startswith(b"x-hybridllm-"):
                continue
            header, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            name = HINT_HEADERS.get(header)
            if name is None:
                raise _unknown_header(header)
            draft = draft or _Draft()
            self._set(draft, name, value, header)
        if body_hints:
            for key, value in body_hints.items():
                name = _BODY_NAMES.get(key)
                if name is None:
                    raise GatewayError(
                        400,
                        f"unknown hint 'hybridllm.{key}'; known hints: "
                        + ", ".join(sorted(set(_BODY_NAMES.values()))),
                        param=f"hybridllm.{key}",
                    )
                draft = draft or _Draft()
                self._set(draft, name, value, f"hybridllm.{key}")
        if draft is None:  # no hint at all: the common case
            if caller.key_name is None and caller.cost_center is None:
                return _NO_HINTS
            draft = _EMPTY  # only read from here on
        cost_center = caller.cost_center or draft.cost_center
        if draft == _EMPTY and caller.key_name is None and cost_center is None:
            return _NO_HINTS
        return Hints(
            task=draft.task,
            complexity=draft.complexity,
            cost_center=cost_center,
            tier=draft.tier,
            private=draft.private,
            batch_size=draft.batch_size,
            key_name=caller.key_name,
        )

    def _set(self, draft: _Draft, name: str, value: object, where: str) -> None:
        if value is None:
            return
        if name in ("task", "cost_center"):
            if not isinstance(value, str) or not _NAME.match(value):
                raise _bad_hint(where, "a name of 1-64 letters, digits, '_', '-', '.' or ':'")
            setattr(draft, name, value.lower() if name == "task" else value)
        elif name == "complexity":
            text = value.lower() if isinstance(value, str) else ""
            if text not in _COMPLEXITY:
                raise _bad_hint(where, "one of low, medium, high")
            draft.complexity = text
        elif name == "private":
            draft.private = _as_bool(value, where)
        elif name == "tier":
            tier = _as_int(value, where)
            if tier not in self.tiers:
                known = ", ".join(str(t) for t in sorted(self.tiers))
                raise _bad_hint(where, f"a tier some deployment has ({known})")
            draft.tier = tier
        else:
            size = _as_int(value, where)
            if not 1 <= size <= 1_000_000_000:
                raise _bad_hint(where, "an integer from 1 to 1000000000")
            draft.batch_size = size


_NO_HINTS = Hints()
_EMPTY = _Draft()


def _bad_hint(where: str, expected: str) -> GatewayError:
    return GatewayError(
        400, f"bad hint {where}: expected {expected}", code="invalid_hint", param=where
    )


def _unknown_header(header: str) -> GatewayError:
    if any(word in header for word in ("url", "base", "key", "provider", "token")):
        message = (
            f"the header '{header}' is not allowed: clients cannot set a provider base URL, "
            "provider or key; the gateway's config decides where requests go"
        )
        return GatewayError(400, message, code="forbidden_header", param=header)
    known = ", ".join(sorted(HINT_HEADERS))
    return GatewayError(
        400,
        f"unknown header '{header}'; known hint headers: {known}",
        code="invalid_hint",
        param=header,
    )


def _as_bool(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE:
        return True
    if isinstance(value, str) and value.lower() in _FALSE:
        return False
    raise _bad_hint(where, "true or false")


def _as_int(value: object, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value) < 12:
        return int(value)
    raise _bad_hint(where, "an integer")
