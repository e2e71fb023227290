"""How a llama.cpp model's prompt is formatted from chat messages.

In order: the deployment's ``chat_format:`` (any llama-cpp-python format name, such as ``gemma``
or ``chatml``, or ``plain``); else the chat template stored in the GGUF
(``tokenizer.chat_template``, which ``create_chat_completion`` applies by default); else ``plain``.

``plain`` is a Question/Answer transcript for base (pretrained, not instruction-tuned) models,
which ship without a template: they continue a transcript far better than they follow turn
markers they were never trained on. The bundled Gemma 3 270M is such a model.
"""

from __future__ import annotations

from typing import Any

from hybridllm.providers.local_model import LocalSetupError

__all__ = ["PLAIN", "apply_chat_format", "plain_prompt"]

PLAIN = "plain"
_PLAIN_STOP = ["\nQuestion:"]


def plain_prompt(messages: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for message in messages:
        role, content = message.get("role"), message.get("content") or ""
        if role == "system":
            parts.append(f"{content}\n\n")
        elif role == "assistant":
            parts.append(f"Answer: {content}\n")
        else:
            parts.append(f"Question: {content}\n")
    parts.append("Answer:")
    return "".join(parts)


def _plain_formatter(*, messages: list[dict[str, Any]], **_: Any) -> Any:
    from llama_cpp import llama_chat_format  # type: ignore[import-not-found,unused-ignore]

    return llama_chat_format.ChatFormatterResponse(
        prompt=plain_prompt(messages), stop=list(_PLAIN_STOP)
    )


def apply_chat_format(llama: Any, chat_format: str | None) -> str:
    """Set up ``llama`` (already loaded) to format prompts; returns the format's name."""
    from llama_cpp import llama_chat_format

    if chat_format is None:
        if "tokenizer.chat_template" in llama.metadata:
            return "gguf template"
        chat_format = PLAIN
    if chat_format == PLAIN:
        formatter: Any = _plain_formatter
        llama.chat_handler = llama_chat_format.chat_formatter_to_chat_completion_handler(formatter)
    else:
        try:
            llama_chat_format.get_chat_completion_handler(chat_format)
        except ValueError:
            raise LocalSetupError(f"unknown chat_format '{chat_format}'") from None
        llama.chat_format = chat_format
        llama.chat_handler = None
    return chat_format
