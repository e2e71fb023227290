"""Compute a request's features once: tokens, PII, task type, complexity, tier pin and hints."""

from __future__ import annotations

import re

import msgspec

from hybridllm.config.models import ClassifierConfig
from hybridllm.features.classifier import KeywordClassifier, TaskClassifier, instruction_window
from hybridllm.features.pii import PiiScanner
from hybridllm.features.tokens import estimate_request_tokens
from hybridllm.types import ChatRequest, Message, message_text

__all__ = ["TIER_TAGS", "FeatureExtractor", "Features", "Hints"]

TIER_TAGS: dict[str, int] = {
    "local": 1,
    "tier1": 1,
    "heavy": 2,
    "tier2": 2,
    "cloud": 3,
    "tier3": 3,
}
_TEXTS = frozenset({"user_text", "last_user", "system_text"})
_TAG = re.compile(r"^\s*\[(local|tier1|heavy|tier2|cloud|tier3)\]\s*", re.IGNORECASE)


class Hints(msgspec.Struct, frozen=True, gc=False):
    """What the caller says about a request (CLI flags, ``x-hybridllm-*`` headers, body field)."""

    task: str | None = None
    complexity: str | None = None
    cost_center: str | None = None
    tier: int | None = None
    private: bool | None = None
    batch_size: int | None = None
    tokens: int | None = None
    key_name: str | None = None


class Features(msgspec.Struct, frozen=True, gc=False):
    tokens: int
    output_cap: int | None
    task_type: str | None
    complexity: str
    pii: frozenset[str]
    private_hint: bool
    tier_pin: int | None
    tier_source: str | None  # "tag" | "hint"
    batch_size: int
    cost_center: str | None
    key_name: str | None
    model_requested: str | None
    has_tools: bool
    has_images: bool
    matched_keywords: tuple[str, ...] = ()
    user_text: str = ""  # for keyword conditions; never serialised, never in repr()
    last_user: str = ""  # for the difficulty model; never serialised, never in repr()
    system_text: str = ""

    def __repr__(self) -> str:
        # The prompt's text stays out of logs and tracebacks.
        shown = (f"{k}={getattr(self, k)!r}" for k in self.__struct_fields__ if k not in _TEXTS)
        return f"Features({', '.join(shown)})"

    def public(self) -> dict[str, object]:
        """The features as plain data for ``--json`` and logs (no text, no PII values)."""
        return {
            "tokens": self.tokens,
            "output_cap": self.output_cap,
            "task_type": self.task_type,
            "complexity": self.complexity,
            "contains_pii": bool(self.pii),
            "pii": sorted(self.pii),
            "private_hint": self.private_hint,
            "tier_pin": self.tier_pin,
            "batch_size": self.batch_size,
            "cost_center": self.cost_center,
            "model_requested": self.model_requested,
            "has_tools": self.has_tools,
            "has_images": self.has_images,
            "matched_keywords": list(self.matched_keywords),
        }


class FeatureExtractor:
    def __init__(self, config: ClassifierConfig, classifier: TaskClassifier | None = None) -> None:
        self.classifier: TaskClassifier = classifier or KeywordClassifier(
            config.task_types, config.complexity, replace_defaults=config.replace_defaults
        )
        self.pii = PiiScanner(config.pii.detectors, config.pii.extra_patterns)

    def strip_tier_tag(self, request: ChatRequest) -> tuple[ChatRequest, int | None]:
        """Remove a leading ``[local]``/``[cloud]``... tag from the last user message."""
        for index in range(len(request.messages) - 1, -1, -1):
            message = request.messages[index]
            if message.role != "user":
                continue
            content = message.content
            text = content if isinstance(content, str) else None
            if isinstance(content, list) and content and content[0].type == "text":
                text = content[0].text
            match = _TAG.match(text) if text else None
            if match is None or text is None:
                return request, None
            tier = TIER_TAGS[match.group(1).lower()]
            stripped = text[match.end() :]
            new_content: str | list[object]
            if isinstance(content, str):
                new_content = stripped
            else:
                assert content is not None
                new_content = [msgspec.structs.replace(content[0], text=stripped), *content[1:]]
            messages = list(request.messages)
            messages[index] = msgspec.structs.replace(message, content=new_content)
            return msgspec.structs.replace(request, messages=messages), tier
        return request, None

    def extract(self, request: ChatRequest, hints: Hints, tier_from_tag: int | None) -> Features:
        system_parts: list[str] = []
        user_parts: list[str] = []
        last_user = ""
        has_images = False
        for message in request.messages:
            role = message.role
            if role in ("system", "developer"):
                system_parts.append(message_text(message))
            elif role == "user":
                last_user = message_text(message)
                user_parts.append(last_user)
                if not has_images:
                    has_images = _has_image(message)
        system = "\n".join(system_parts)
        user_text = "\n".join(user_parts)
        tokens = hints.tokens if hints.tokens is not None else estimate_request_tokens(request)
        classification = self.classifier.classify(instruction_window(system, last_user), tokens)
        pii = self.pii.kinds(f"{system}\n{user_text}" if system else user_text)
        if tier_from_tag is not None:
            tier, source = tier_from_tag, "tag"
        elif hints.tier is not None:
            tier, source = hints.tier, "hint"
        else:
            tier, source = None, None
        model = request.model if request.model not in ("", "auto") else None
        # Positional, in Features' field order (once per request, on the hot path).
        return Features(
            tokens,
            request.output_cap,
            hints.task or classification.task_type,
            hints.complexity or classification.complexity,
            pii,
            bool(hints.private),
            tier,
            source,
            hints.batch_size if hints.batch_size is not None else 1,
            hints.cost_center,
            hints.key_name,
            model,
            bool(request.tools),
            has_images,
            classification.matched,
            user_text,
            last_user,
            system,
        )


def _has_image(message: Message) -> bool:
    content = message.content
    return isinstance(content, list) and any(p.image_url is not None for p in content)
