"""What the server needs from one wire format (OpenAI, Anthropic, Gemini), and shared pieces."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from hybridllm.mock.replies import Prompt, Reply

__all__ = ["StreamParts", "Wire", "WireError", "WireName", "text_of", "texts_in"]

WireName = Literal["openai", "anthropic", "gemini"]


class WireError(Exception):
    """An answer in the wire's error envelope: raised while parsing, or built from a rule."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass
class StreamParts:
    """A stream, pre-rendered: ``head`` events, one event per content chunk, then ``tail``."""

    head: list[bytes] = field(default_factory=list)
    content: list[bytes] = field(default_factory=list)
    tail: list[bytes] = field(default_factory=list)


class Wire(Protocol):
    name: WireName
    content_type: str
    malformed: bytes  # one stream event whose data is not valid JSON

    def api_key(self, headers: Mapping[str, str]) -> str | None: ...

    def parse(self, body: Any, headers: Mapping[str, str], model: str, stream: bool) -> Prompt:
        """Validate lightly and build the prompt; raise :class:`WireError` (400) if malformed.

        ``model``/``stream`` come from the URL (Gemini); the other wires read the body.
        """
        ...

    def error_body(self, err: WireError) -> bytes: ...

    def auth_error(self) -> WireError: ...

    def context_error(self, tokens: int, window: int) -> WireError: ...

    def complete(self, prompt: Prompt, reply: Reply, rid: str) -> bytes: ...

    def stream(self, prompt: Prompt, reply: Reply, rid: str, *, final: bool) -> StreamParts: ...


def text_of(content: Any) -> str:
    """Text of a content value: a string, or a list of parts/blocks with ``text`` keys."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def texts_in(value: Any) -> list[str]:
    """Every string leaf of a JSON value (used to count prompt bytes of structured parts)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for v in value for t in texts_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in texts_in(v)]
    return []
