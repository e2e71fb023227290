"""Wire-neutral request view and the deterministic answer the mock gives to it.

Each wire module turns its request body into a :class:`Prompt`; :func:`plan_reply` turns a prompt
(and the matched fault rule, if any) into a :class:`Reply`, which the wire module then encodes.

The rules, so tests can predict every byte:

* text reply: ``"Mock answer from {model}: {first 120 chars of the last user text}"`` (the user
  text with runs of whitespace collapsed to one space), padded with :data:`FILLER` words until it
  has at least :data:`MIN_WORDS` words; a rule's ``reply`` replaces it verbatim (no padding);
* tools present and the last message is not a tool result: a call to the first tool, its
  arguments built from the required properties of its JSON schema with placeholder values;
* last message is a tool result: ``"Tool result received: {result text}"``;
* JSON mode: the text becomes ``{"answer": text}``;
* stop sequences cut the text before the earliest match, then ``max_tokens`` keeps that many words;
* prompt tokens = ceil(UTF-8 bytes of all request text / 4); completion tokens = words in the reply
  (for a tool call: the number of argument chunks).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from hybridllm.mock.faults import FaultRule

__all__ = [
    "FILLER",
    "MIN_WORDS",
    "Prompt",
    "Reply",
    "ToolCallPlan",
    "ToolSpec",
    "count_tokens",
    "placeholder_args",
    "plan_reply",
    "split_words",
]

MIN_WORDS = 12
FILLER = "This deterministic reply is padded with extra words so every stream has enough chunks."
ARG_CHUNK = 8  # characters per streamed tool-argument chunk

Finish = Literal["stop", "length", "tool", "stop_sequence"]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Prompt:
    """What the mock needs to know about a request, whatever its wire."""

    model: str
    stream: bool = False
    last_user_text: str = ""
    tool_result: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    json_mode: bool = False
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    text_bytes: int = 0
    include_usage: bool = False

    @property
    def prompt_tokens(self) -> int:
        return math.ceil(self.text_bytes / 4)


@dataclass(frozen=True)
class ToolCallPlan:
    name: str
    args: dict[str, Any]
    arguments: str  # the JSON text of ``args``
    chunks: tuple[str, ...]


@dataclass(frozen=True)
class Reply:
    text: str
    chunks: tuple[str, ...]  # one per word, spaces kept; "".join(chunks) == text
    tool: ToolCallPlan | None
    finish: Finish
    stop_sequence: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    usage: bool  # False: the rule says no_usage

    @property
    def content_chunks(self) -> tuple[str, ...]:
        """The pieces a stream sends, one content event each."""
        return self.tool.chunks if self.tool else self.chunks


def count_tokens(texts: list[str]) -> int:
    """Bytes of UTF-8 text over all pieces; divide by 4 (ceil) for tokens."""
    return sum(len(t.encode()) for t in texts)


def split_words(text: str) -> tuple[str, ...]:
    """Split into word chunks, each keeping its trailing whitespace."""
    return tuple(re.findall(r"\s*\S+\s*", text)) if text.strip() else ()


_PLACEHOLDERS: dict[str, Any] = {
    "string": "mock",
    "integer": 1,
    "number": 1,
    "boolean": True,
    "array": [],
    "object": {},
    "null": None,
}


def placeholder_args(schema: dict[str, Any]) -> dict[str, Any]:
    """An object with a placeholder value for each required property of a JSON schema."""
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    required = schema.get("required")
    out: dict[str, Any] = {}
    for name in required if isinstance(required, list) else []:
        if not isinstance(name, str):
            continue
        prop = props.get(name)
        kind = prop.get("type") if isinstance(prop, dict) else None
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        if isinstance(prop, dict) and isinstance(prop.get("enum"), list) and prop["enum"]:
            out[name] = prop["enum"][0]
        else:
            out[name] = _PLACEHOLDERS.get(kind if isinstance(kind, str) else "string", "mock")
    return out


def _base_text(prompt: Prompt, rule: FaultRule | None) -> str:
    if rule is not None and rule.reply is not None:
        return rule.reply
    if prompt.tool_result is not None:
        return f"Tool result received: {prompt.tool_result}"
    user = " ".join(prompt.last_user_text.split())[:120]
    text = f"Mock answer from {prompt.model}: {user}".rstrip()
    words = text.split()
    filler = FILLER.split()
    i = 0
    while len(words) < MIN_WORDS:
        words.append(filler[i % len(filler)])
        i += 1
    return " ".join(words)


def plan_reply(prompt: Prompt, rule: FaultRule | None = None) -> Reply:
    """The deterministic answer to ``prompt``, shaped by the matched rule's non-fault fields."""
    prompt_tokens = prompt.prompt_tokens
    cached = min(rule.cached_tokens or 0, prompt_tokens) if rule else 0
    usage = not (rule is not None and rule.no_usage)
    if prompt.tools and prompt.tool_result is None:
        tool = prompt.tools[0]
        args = placeholder_args(tool.parameters)
        arguments = orjson.dumps(args).decode()
        chunks = tuple(arguments[i : i + ARG_CHUNK] for i in range(0, len(arguments), ARG_CHUNK))
        plan = ToolCallPlan(tool.name, args, arguments, chunks)
        return Reply("", (), plan, "tool", None, prompt_tokens, len(chunks), cached, usage)
    text = _base_text(prompt, rule)
    if prompt.json_mode:
        text = orjson.dumps({"answer": text}).decode()
    finish: Finish = "stop"
    stop_hit: str | None = None
    cut = len(text)
    for seq in prompt.stop:
        pos = text.find(seq) if seq else -1
        if 0 <= pos < cut:
            cut, stop_hit = pos, seq
    if stop_hit is not None:
        text, finish = text[:cut], "stop_sequence"
    chunks = split_words(text)
    if prompt.max_tokens is not None and len(chunks) > prompt.max_tokens:
        chunks = chunks[: max(prompt.max_tokens, 0)]
        if chunks:
            chunks = (*chunks[:-1], chunks[-1].rstrip())
        text, finish, stop_hit = "".join(chunks), "length", None
    return Reply(text, chunks, None, finish, stop_hit, prompt_tokens, len(chunks), cached, usage)
