"""The internal, OpenAI-shaped request and response types.

Every front (CLI, library, HTTP gateway) turns its input into a :class:`ChatRequest`; every
provider adapter turns a :class:`ChatRequest` into its wire format and its answer back into a
:class:`ChatResponse` (or a stream of :class:`ChatChunk`). The shapes follow the OpenAI chat
completions API so that an OpenAI body decodes straight into them with ``msgspec``.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "ChatChunk",
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "ChunkChoice",
    "ContentPart",
    "Delta",
    "FunctionCall",
    "FunctionCallDelta",
    "FunctionDef",
    "ImageURL",
    "Message",
    "ResponseFormat",
    "StreamOptions",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "decode_request",
    "encode",
    "message_text",
]


class _Base(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=False):
    """Base: drops None/default fields when encoded, ignores unknown fields when decoded."""


class ImageURL(_Base):
    url: str
    detail: str | None = None


class ContentPart(_Base):
    """One part of a multi-part message: ``{"type": "text", "text": ...}`` or an image."""

    type: str
    text: str | None = None
    image_url: ImageURL | None = None


class FunctionCall(_Base):
    name: str
    arguments: str = "{}"  # a JSON-encoded object, as OpenAI sends it


class ToolCall(_Base):
    id: str
    function: FunctionCall
    type: str = "function"


class Message(_Base):
    role: str  # system | developer | user | assistant | tool
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class FunctionDef(_Base):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(_Base):
    function: FunctionDef
    type: str = "function"


class ResponseFormat(_Base):
    type: str  # text | json_object | json_schema
    json_schema: dict[str, Any] | None = None


class StreamOptions(_Base):
    include_usage: bool = False


class ChatRequest(_Base):
    messages: list[Message]
    model: str = "auto"
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    user: str | None = None
    seed: int | None = None

    @property
    def output_cap(self) -> int | None:
        """The caller's cap on output tokens, whichever field carries it."""
        return self.max_completion_tokens or self.max_tokens

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class Usage(_Base):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens read from the provider's cache (subset of prompt)
    cache_creation_tokens: int = 0  # prompt tokens written to the provider's cache

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Choice(_Base):
    message: Message
    index: int = 0
    finish_reason: str | None = None  # stop | length | tool_calls | content_filter


class ChatResponse(_Base):
    id: str
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    created: int = 0

    @property
    def text(self) -> str:
        return message_text(self.choices[0].message) if self.choices else ""


class FunctionCallDelta(_Base):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(_Base):
    index: int
    id: str | None = None
    type: str | None = None
    function: FunctionCallDelta | None = None


class Delta(_Base):
    role: str | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(_Base):
    delta: Delta
    index: int = 0
    finish_reason: str | None = None


class ChatChunk(_Base):
    """One streamed piece, as OpenAI's ``chat.completion.chunk``. The last may carry usage only."""

    id: str
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    created: int = 0


_request_decoder = msgspec.json.Decoder(ChatRequest)
_encoder = msgspec.json.Encoder()


def decode_request(body: bytes | str) -> ChatRequest:
    """Decode an OpenAI chat completions body. Raises ``msgspec.ValidationError`` with a path."""
    return _request_decoder.decode(body)


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)


def message_text(message: Message) -> str:
    """The text of a message, parts joined by newlines; images and tool calls are left out."""
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part.text for part in content if part.text)
