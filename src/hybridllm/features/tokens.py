"""A bytes-based token estimate: an upper bound for practical text, no tokenizer, no network.

BPE tokenizers of current models average about 4 bytes a token on English and code, and about
3 bytes (one CJK character) at worst on common scripts, so ``ceil(bytes / 3)`` overestimates for
nearly all real text. Each message adds a few tokens of framing, each image a fixed budget.
"""

from __future__ import annotations

from hybridllm.types import ChatRequest, Message

__all__ = ["BYTES_PER_TOKEN", "IMAGE_TOKENS", "estimate_request_tokens", "estimate_text_tokens"]

BYTES_PER_TOKEN = 3
MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 1_000


def estimate_text_tokens(text: str) -> int:
    # len(str) is O(1); for ASCII the byte count equals it, so only encode when needed.
    size = len(text) if text.isascii() else len(text.encode("utf-8"))
    return -(-size // BYTES_PER_TOKEN)


def _message_tokens(message: Message) -> int:
    total = MESSAGE_OVERHEAD
    content = message.content
    if isinstance(content, str):
        total += estimate_text_tokens(content)
    elif content:
        for part in content:
            if part.text:
                total += estimate_text_tokens(part.text)
            elif part.image_url is not None:
                total += IMAGE_TOKENS
    if message.tool_calls:
        for call in message.tool_calls:
            total += estimate_text_tokens(call.function.name + call.function.arguments) + 4
    return total


def estimate_request_tokens(request: ChatRequest) -> int:
    total = sum(_message_tokens(m) for m in request.messages)
    if request.tools:
        for tool in request.tools:
            fn = tool.function
            total += estimate_text_tokens(fn.name + (fn.description or "")) + 8
            if fn.parameters:
                total += estimate_text_tokens(str(fn.parameters))
    return total
