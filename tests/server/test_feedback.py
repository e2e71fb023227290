"""POST /v1/feedback, and what a gateway with ``learning:`` records for ``hybridllm learn``."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from hybridllm.learned.judge import JUDGE_COST_CENTER
from hybridllm.learned.record import RecordedFeatures
from hybridllm.ledger import open_store
from hybridllm.ledger.learning import RecordedRequest, learning_store
from hybridllm.mock import MockUpstream

from .conftest import KEYS_CONFIG, OPS_KEY, TEAM_KEY, GatewayFactory, Running
from .helpers import CHAT, call, chat

FEEDBACK = "/v1/feedback"
RECORD = "\nlearning: {record: true}\n"
JUDGE = "\nlearning: {record: true, judge: {deployment: primary, strong: claude, sample: 1.0}}\n"


def recorded(gw: Running) -> list[RecordedRequest]:
    runtime = gw.gateway.runtime
    assert runtime is not None and runtime.learning is not None
    assert runtime.learning.recorder is not None
    assert runtime.learning.recorder.flush(5)
    store = open_store(gw.ledger_url)
    try:
        return list(learning_store(store).recorded())
    finally:
        store.close()


async def test_feedback_on_an_answer_is_stored_with_its_comment(gateway: Running) -> None:
    answer = await call(gateway.url, CHAT, chat("hello"))
    rid = answer.headers["x-request-id"]
    reply = await call(gateway.url, FEEDBACK, {"request_id": rid, "score": 0.2, "comment": "meh"})
    assert reply.status == 200, reply.body
    assert reply.json() == {"object": "feedback", "request_id": rid, "score": 0.2, "source": "user"}
    store = open_store(gateway.ledger_url)
    try:
        rows = store.conn.execute(  # type: ignore[attr-defined]
            "SELECT request_id, score, source, comment FROM feedback"
        ).fetchall()
    finally:
        store.close()
    assert rows == [(rid, 0.2, "user", "meh")]


async def test_feedback_for_an_unknown_request_is_404_in_the_openai_envelope(
    gateway: Running,
) -> None:
    reply = await call(gateway.url, FEEDBACK, {"request_id": "no-such-request", "score": 1})
    assert reply.status == 404
    error = reply.json()["error"]
    assert error["code"] == "request_not_found" and error["param"] == "request_id"
    assert "no-such-request" in error["message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"request_id": "abc", "score": 2}', "between 0 and 1"),
        (b'{"request_id": "abc", "score": -0.5}', "between 0 and 1"),
        (b'{"request_id": "abc", "score": "good"}', "score"),
        (b'{"request_id": "abc", "score": true}', "score"),
        (b'{"score": 0.5}', "request_id"),
        (b'{"request_id": "abc"}', "score"),
        (b'{"request_id": "a b", "score": 0.5}', "request_id"),
        (b'{"request_id": "abc", "score": 0.5, "source": "judge"}', "source"),
        (b'{"request_id": "abc", "score": 0.5, "comment": "' + b"x" * 2001 + b'"}', "comment"),
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
    ],
)
async def test_a_bad_feedback_body_is_a_400_that_says_what_is_wrong(
    gateway: Running, body: bytes, words: str
) -> None:
    reply = await call(gateway.url, FEEDBACK, raw=body)
    assert reply.status == 400, reply.body
    assert words in reply.error_message()


async def test_feedback_takes_the_same_keys_and_a_key_scores_only_its_own_requests(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway(KEYS_CONFIG)
    answer = await call(gw.url, CHAT, chat(), headers={"authorization": f"Bearer {TEAM_KEY}"})
    rid = answer.headers["x-request-id"]
    body = {"request_id": rid, "score": 1.0}
    assert (await call(gw.url, FEEDBACK, body)).status == 401
    other = await call(gw.url, FEEDBACK, body, headers={"x-api-key": OPS_KEY})
    assert other.status == 404  # another key's request is not found: no probing
    own = await call(gw.url, FEEDBACK, body, headers={"x-api-key": TEAM_KEY})
    assert own.status == 200


async def test_openapi_lists_the_feedback_route(gateway: Running) -> None:
    doc = (await call(gateway.url, "/openapi.json", method="GET")).json()
    post = doc["paths"]["/v1/feedback"]["post"]
    assert set(post["responses"]) == {"200", "400", "401", "404", "413"}
    schema = doc["components"]["schemas"]["FeedbackRequest"]
    assert schema["properties"]["score"] == {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": "1 = a good answer, 0 = a useless one.",
    }


async def test_without_learning_nothing_watches_the_requests(gateway: Running) -> None:
    assert gateway.gateway.runtime is not None
    assert gateway.gateway.runtime.learning is None


async def test_recording_keeps_features_tier_and_deployment_never_the_prompt(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway(RECORD)
    plain = await call(gw.url, CHAT, chat("Plan a zanzibar holiday for my family"))
    streamed = await call(gw.url, CHAT, chat("Plan a zanzibar trip", stream=True))
    assert plain.status == streamed.status == 200
    got = {r.request_id: r for r in recorded(gw)}
    assert set(got) == {plain.headers["x-request-id"], streamed.headers["x-request-id"]}
    for r in got.values():
        assert (r.tier, r.deployment, r.escalated) == (2, "primary", False)
        assert "zanzibar" not in r.features
        assert RecordedFeatures.decode(r.features).ngrams
    store = open_store(gw.ledger_url)
    try:
        text = orjson.dumps(store.conn.execute("SELECT * FROM request_features").fetchall())  # type: ignore[attr-defined]
    finally:
        store.close()
    assert b"zanzibar" not in text.lower()


async def test_a_private_request_is_recorded_without_word_buckets(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway(RECORD)
    reply = await call(gw.url, CHAT, chat("mail the plan to jane.doe@example.com"))
    assert reply.headers["x-hybridllm-route"] == "private"
    (r,) = recorded(gw)
    assert RecordedFeatures.decode(r.features).ngrams == ()


async def test_the_judge_scores_a_sampled_cheap_answer_against_the_strong_one(
    make_gateway: GatewayFactory, mock: MockUpstream
) -> None:
    gw = await make_gateway(JUDGE)
    mock.set_faults("primary", [{"reply": "Score: 3"}])
    reply = await call(gw.url, CHAT, chat("Explain monads simply", model="local-a"))
    assert reply.status == 200 and reply.headers["x-hybridllm-deployment"] == "local-a"
    runtime = gw.gateway.runtime
    assert runtime is not None and runtime.learning is not None
    judge = runtime.learning.judge
    assert judge is not None
    await asyncio.wait_for(asyncio.gather(*judge.tasks), 10)
    (r,) = recorded(gw)  # the judge's own calls are not recorded for learning
    assert r.request_id == reply.headers["x-request-id"]
    assert [(f.score, f.source) for f in r.feedback] == [(0.3, "judge")]
    judged = [row for row in gw.rows() if row.cost_center == JUDGE_COST_CENTER]
    assert sorted(row.deployment for row in judged) == ["claude", "primary"]  # billed calls
    strong_call = next(rec for rec in mock.records if rec.path.startswith("/claude"))
    assert "Explain monads simply" in orjson.dumps(strong_call.body).decode()


async def test_requests_under_a_budget_are_recorded_too(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(RECORD + "budgets:\n  - {cost_center: research, daily_usd: 100}\n")
    headers = {"x-hybridllm-cost-center": "research"}
    plain = await call(gw.url, CHAT, chat("hello"), headers=headers)
    streamed = await call(gw.url, CHAT, chat("hello", stream=True), headers=headers)
    assert plain.status == streamed.status == 200
    ids = {r.request_id for r in recorded(gw)}
    assert ids == {plain.headers["x-request-id"], streamed.headers["x-request-id"]}
