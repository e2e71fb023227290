"""Routing decisions for the cases a new user tries first, and the properties that must hold."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridllm.errors import RoutingError
from hybridllm.features.extract import Hints
from hybridllm.router import Router
from hybridllm.types import ChatRequest, ContentPart, Message


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Router:
    from tests.conftest import BASIC_CONFIG

    path = tmp_path_factory.mktemp("cfg") / "hybridllm.yaml"
    path.write_text(BASIC_CONFIG)
    return Router.from_config(path)


def test_email_address_makes_the_request_private_and_local_only(router: Router) -> None:
    d = router.decide("Write a python function to email bob.smith@example.com the report")
    assert d.route == "privacy_sensitive"
    assert d.private and "email" in d.pii
    assert d.chain == ("local-small",)
    assert any("private" in r for r in d.reasons)


def test_private_request_drops_cloud_even_when_a_later_rule_picks_cloud(router: Router) -> None:
    d = router.decide(
        "Refactor this python function; contact me at jane@corp.example", Hints(tier=3)
    )
    assert d.private
    assert all(router.deployment(n).is_local for n in d.chain)
    assert d.chain == ()  # tier 3 pinned, nothing local at tier 3: no deployment, never cloud
    assert any("cloud; the request is private" in why for _, why in d.dropped)


def test_private_hint_makes_a_clean_prompt_private(router: Router) -> None:
    d = router.decide("What is the capital of France?", Hints(private=True))
    assert d.private and d.private_because == ("hint",)
    assert all(router.deployment(n).is_local for n in d.chain)


def test_code_request_goes_to_the_code_route(router: Router) -> None:
    d = router.decide("Fix the bug in this python function:\n```\ndef f(x): return x +\n```")
    assert d.route == "code_generation"
    assert d.chain == ("sonnet", "deepseek")
    assert d.features.task_type == "code"


def test_batch_of_500_classification_items_goes_to_batch_route(router: Router) -> None:
    d = router.decide(
        "Classify the sentiment of each review.", Hints(batch_size=500, task="classification")
    )
    assert d.route == "batch_processing"
    assert d.deployment == "deepseek"


def test_15000_token_document_goes_to_long_context_and_skips_small_windows(router: Router) -> None:
    doc = "The quarterly results were discussed at length. " * 1000  # ~48 KB
    d = router.decide("Please read this and give me your view on it:\n" + doc)
    assert d.features.tokens > 8000
    assert d.route == "long_context"
    assert d.chain == ("sonnet",)


def test_context_window_filter_drops_deployments_that_are_too_small(router: Router) -> None:
    doc = "word " * 30_000  # ~50k tokens estimated: over local-small's 32k window
    d = router.decide("[local] Summarize this:\n" + doc)
    assert d.chain == ()
    assert any(name == "local-small" and "context window" in why for name, why in d.dropped)


def test_cloud_tag_pins_tier_3_and_is_stripped_from_the_prompt(router: Router) -> None:
    plan = router.plan("[cloud] What is the capital of France?")
    assert plan.decision.features.tier_pin == 3
    assert plan.decision.chain == ("sonnet",)
    assert plan.request.messages[-1].content == "What is the capital of France?"


def test_local_tag_in_a_multipart_message_is_stripped(router: Router) -> None:
    request = ChatRequest(
        messages=[Message(role="user", content=[ContentPart(type="text", text="[local] hi there")])]
    )
    plan = router.plan(request)
    assert plan.decision.chain == ("local-small",)
    content = plan.request.messages[0].content
    assert isinstance(content, list) and content[0].text == "hi there"


def test_plain_question_falls_to_the_default_route(router: Router) -> None:
    d = router.decide("What is the capital of France?")
    assert d.route == "default"
    assert d.chain == ("local-small", "deepseek", "sonnet")
    assert any("rule 'code_generation' skipped" in r for r in d.reasons)


def test_summarize_keyword_matches_the_simple_route_with_escalation(router: Router) -> None:
    d = router.decide("Summarize the meeting notes below.\n\nWe agreed to ship on Friday.")
    assert d.route == "simple"
    assert d.escalate is not None and d.escalate.min_chars == 30


def test_model_named_as_deployment_pins_it(router: Router) -> None:
    d = router.decide(ChatRequest(model="deepseek", messages=[Message(role="user", content="hi")]))
    assert d.chain == ("deepseek",)


def test_no_rule_and_no_default_is_a_clear_error(tmp_path: Path) -> None:
    from tests.conftest import BASIC_CONFIG

    text = BASIC_CONFIG.split("  - name: default")[0]
    path = tmp_path / "c.yaml"
    path.write_text(text)
    r = Router.from_config(path)
    with pytest.raises(RoutingError, match="no rule matched"):
        r.decide("What is the capital of France?")


def test_decision_json_has_the_documented_keys(router: Router) -> None:
    out = router.decide("hello").to_json()
    for key in ("route", "deployment", "chain", "private", "pii", "tier", "features", "reasons"):
        assert key in out


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)
_pii = st.sampled_from(
    ["", " mail a.b@example.org ", " card 4111 1111 1111 1111 ", " IBAN DE89370400440532013000 "]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    before=_text,
    pii=_pii,
    after=_text,
    tier=st.sampled_from([None, 1, 2, 3]),
    private=st.booleans(),
)
def test_private_request_chain_never_holds_a_cloud_deployment(
    router: Router, before: str, pii: str, after: str, tier: int | None, private: bool
) -> None:
    d = router.decide(before + pii + after, Hints(tier=tier, private=private or None))
    if pii.strip() or private:
        assert d.private
    if d.private:
        assert all(router.deployment(name).is_local for name in d.chain)
        assert all(loc == "local" for loc in d.localities)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_text, batch=st.one_of(st.none(), st.integers(1, 1000)))
def test_decision_is_deterministic_for_the_same_input(
    router: Router, text: str, batch: int | None
) -> None:
    hints = Hints(batch_size=batch)
    assert router.decide(text, hints) == router.decide(text, hints)


def test_difficulty_condition_routes_by_the_learned_score(tmp_path: Path) -> None:
    from hybridllm.learned.model import DifficultyModel

    model = DifficultyModel.load()
    easy = "What is 2+2?"
    hard = (
        "Prove that there are infinitely many primes p such that p+2 is also prime, or explain "
        "rigorously why the problem is open, with the strongest known partial results."
    )
    threshold = (model.score(easy) + model.score(hard)) / 2
    assert model.score(hard) > model.score(easy)
    config = f"""
deployments:
  small: {{provider: ollama, model: a, tier: 1}}
  big: {{provider: ollama, model: b, tier: 2}}
routes:
  - name: hard
    when: {{difficulty: ">{threshold}"}}
    use: [big]
  - name: default
    use: [small]
"""
    path = tmp_path / "c.yaml"
    path.write_text(config)
    router = Router.from_config(path)
    assert router.decide(hard).route == "hard"
    assert router.decide(easy).route == "default"


def test_repr_of_a_decision_never_shows_the_prompt_text(router: Router) -> None:
    # Decisions end up in logs and tracebacks; the prompt (and the PII in it) must not.
    d = router.decide(
        {
            "messages": [
                {"role": "system", "content": "SYSTEM-SECRET-WORDS"},
                {"role": "user", "content": "mail USER-SECRET-WORDS to jane@corp.example"},
            ]
        }
    )
    shown = repr(d) + repr(d.features)
    assert "SECRET" not in shown and "jane@" not in shown
    assert "tokens=" in repr(d.features) and "pii=frozenset({'email'})" in repr(d.features)
    assert d.features.user_text.startswith("mail USER-SECRET-WORDS")


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=_text,
    pii=st.sampled_from(["", " mail bob@example.com ", " call +1 415 555 0100 "]),
    tier=st.sampled_from([None, 1, 2, 3]),
    private=st.sampled_from([None, True]),
    tokens=st.sampled_from([None, 10, 3_000, 9_000, 40_000, 70_000, 2_000_000]),
    output_cap=st.sampled_from([None, 100, 31_000, 64_000]),
    model=st.sampled_from(["auto", "sonnet", "local-small"]),
)
def test_the_unfiltered_shortcut_decides_exactly_as_the_full_filter(
    router: Router,
    text: str,
    pii: str,
    tier: int | None,
    private: bool | None,
    tokens: int | None,
    output_cap: int | None,
    model: str,
) -> None:
    """Policy.decide answers the common case (no pin, not private, every window fits) from what
    each rule worked out once; the full filter must give the same decision, reasons included."""
    request = ChatRequest(
        model=model,
        messages=[Message(role="user", content=text + pii)],
        max_tokens=output_cap,
    )
    plan = router.plan(request, Hints(tier=tier, private=private, tokens=tokens))
    policy, features = router.policy, plan.decision.features
    reasons: list[str] = []
    rule = policy._match(features, reasons)
    full = policy._filtered(features, rule, reasons)
    assert plan.decision == full
