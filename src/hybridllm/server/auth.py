"""Virtual keys: the config stores SHA-256 hex digests; a presented key is hashed and compared
in constant time against every configured digest (no early exit on a match).

``Authorization: Bearer <key>`` and ``x-api-key: <key>`` are both accepted (the OpenAI and the
Anthropic SDK send one each). With no keys configured, every request is let through anonymously.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

import msgspec

from hybridllm.config.models import ServerKey
from hybridllm.server.envelope import GatewayError

__all__ = ["Caller", "KeyRing", "presented_key"]


class Caller(msgspec.Struct, frozen=True, gc=False):
    """Who is calling: the key's name and the cost center it is bound to (None: anonymous)."""

    key_name: str | None = None
    cost_center: str | None = None


ANONYMOUS = Caller()


def presented_key(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization")
    if auth is not None:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


class KeyRing:
    def __init__(self, keys: Sequence[ServerKey]) -> None:
        self._entries = tuple(
            (bytes.fromhex(k.key_sha256), Caller(k.name, k.cost_center)) for k in keys
        )

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def authenticate(self, headers: Mapping[str, str]) -> Caller:
        """The caller behind the request's key; raises a 401 :class:`GatewayError` without one."""
        if not self._entries:
            return ANONYMOUS
        key = presented_key(headers)
        if key is None:
            raise GatewayError(
                401,
                "missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
                "authentication_error",
                "missing_api_key",
            )
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
        found: Caller | None = None
        for expected, caller in self._entries:
            if hmac.compare_digest(digest, expected) and found is None:
                found = caller
        if found is None:
            raise GatewayError(401, "invalid API key", "authentication_error", "invalid_api_key")
        return found
