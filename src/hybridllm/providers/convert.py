"""Small translation pieces the Anthropic and Gemini adapters share (pure functions, no I/O)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from hybridllm.types import ChatRequest, ContentPart, Message, message_text

__all__ = [
    "DataURL",
    "json_instruction",
    "load_arguments",
    "new_id",
    "now",
    "parse_data_url",
    "parts_of",
    "system_text",
    "tool_choice_name",
    "tool_names_by_id",
]


class DataURL:
    """``data:<mime>;base64,<data>``, split."""

    __slots__ = ("data", "mime")

    def __init__(self, mime: str, data: str) -> None:
        self.mime = mime
        self.data = data


def parse_data_url(url: str) -> DataURL | None:
    """The parts of a base64 data URL, or None for anything else (an http URL)."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep:
        return None
    params = header.split(";")
    if "base64" not in params[1:]:
        return None
    return DataURL(params[0] or "application/octet-stream", data)


def load_arguments(arguments: str) -> Any:
    """A tool call's JSON arguments as an object; malformed or empty text gives ``{}``."""
    if not arguments:
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def system_text(messages: list[Message]) -> str:
    """The text of every system and developer message, in order, blank-line separated."""
    texts = [message_text(m) for m in messages if m.role in ("system", "developer")]
    return "\n\n".join(t for t in texts if t)


def json_instruction(request: ChatRequest) -> str | None:
    """For wires without a JSON switch: the instruction that stands in for ``response_format``."""
    fmt = request.response_format
    if fmt is None or fmt.type not in ("json_object", "json_schema"):
        return None
    text = "Respond with a single valid JSON object only: no prose, no Markdown, no code fences."
    schema = (fmt.json_schema or {}).get("schema") if fmt.type == "json_schema" else None
    if schema:
        text += " The object must conform to this JSON Schema: " + orjson.dumps(schema).decode()
    return text


def tool_choice_name(choice: str | dict[str, Any] | None) -> str | None:
    """The function a named ``tool_choice`` forces, if it names one."""
    if isinstance(choice, dict):
        function = choice.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return str(function["name"])
        if isinstance(choice.get("name"), str):
            return str(choice["name"])
    return None


def tool_names_by_id(messages: list[Message]) -> dict[str, str]:
    """Every earlier assistant tool call id, mapped to its function name."""
    names: dict[str, str] = {}
    for m in messages:
        for call in m.tool_calls or ():
            names[call.id] = call.function.name
    return names


def parts_of(message: Message) -> list[ContentPart]:
    content = message.content
    if content is None:
        return []
    if isinstance(content, str):
        return [ContentPart(type="text", text=content)] if content else []
    return content


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())
