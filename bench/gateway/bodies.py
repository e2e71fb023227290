"""Canned upstream answers and the request bodies the load generators send.

Everything here is deterministic: the same bytes in every run, so runs compare.
"""

from __future__ import annotations

import json

REPLY_TEXT = (
    "Here is a concise answer to your question, with the key points explained clearly "
    "and a short example where it helps."
)
USAGE = {"prompt_tokens": 512, "completion_tokens": 24, "total_tokens": 536}


def response_json() -> bytes:
    body = {
        "id": "chatcmpl-bench0001",
        "object": "chat.completion",
        "created": 1750000000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": REPLY_TEXT, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {**USAGE, "prompt_tokens_details": {"cached_tokens": 0}},
        "system_fingerprint": "fp_bench",
    }
    return json.dumps(body, separators=(",", ":")).encode()


def response_sse() -> bytes:
    words = REPLY_TEXT.split(" ")
    events = []
    base = {
        "id": "chatcmpl-bench0001",
        "object": "chat.completion.chunk",
        "created": 1750000000,
        "model": "gpt-4o-mini",
    }
    first = {
        **base,
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        ],
    }
    events.append(first)
    for i, w in enumerate(words):
        piece = w if i == 0 else " " + w
        events.append(
            {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        )
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**base, "choices": [], "usage": USAGE})
    out = "".join("data: " + json.dumps(e, separators=(",", ":")) + "\n\n" for e in events)
    return (out + "data: [DONE]\n\n").encode()


_PARAGRAPH = (
    "Our team is preparing the quarterly planning document for the platform group. "
    "The sections cover service ownership, the on-call rotation, the migration of the "
    "billing pipeline to the new event bus, and the capacity forecast for the next two "
    "quarters. Please read the notes below and answer the question at the end with a "
    "short, structured reply that a busy reader can skim in under a minute. "
)


def request_body(size: int, *, stream: bool = False, model: str = "auto") -> bytes:
    """An OpenAI chat body of about ``size`` bytes: a system message and one user message of
    plain prose (no PII, no code keywords), so the router walks every rule to the default."""
    head = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant for an engineering team."},
            {"role": "user", "content": ""},
        ],
        "max_tokens": 256,
        "temperature": 0.2,
    }
    if stream:
        head["stream"] = True
    empty = len(json.dumps(head, separators=(",", ":")))
    question = "Question: what are the three most important risks in this plan?"
    room = max(0, size - empty - len(question) - 1)
    text = (_PARAGRAPH * (room // len(_PARAGRAPH) + 1))[:room] + " " + question
    head["messages"][1]["content"] = text
    return json.dumps(head, separators=(",", ":")).encode()
