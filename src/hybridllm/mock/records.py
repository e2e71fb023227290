"""What the mock upstream remembers about each chat request it received."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from hybridllm.mock.wire import WireName

__all__ = ["RecordedRequest", "sha256_hex"]


def sha256_hex(key: str | None) -> str | None:
    return hashlib.sha256(key.encode()).hexdigest() if key is not None else None


@dataclass
class RecordedRequest:
    """One chat request. ``key_sha256`` is the hash of the key received, never the key.

    ``status`` is what the mock answered: 0 while still answering, or when it never answered
    (``hang``) or dropped the connection before any status line.
    """

    prefix: str
    wire: WireName
    path: str
    model: str
    stream: bool
    body: dict[str, Any] = field(repr=False)
    key_sha256: str | None
    key_in_url: bool
    ts: float
    status: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
