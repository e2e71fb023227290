"""The Gemini generateContent wire of the mock upstream."""

from __future__ import annotations

import math

import orjson

from .helpers import Api, gemini_user

FUNCS = [
    {
        "functionDeclarations": [
            {
                "name": "lookup",
                "parameters": {
                    "type": "object",
                    "properties": {"id": {"type": "integer"}, "mode": {"enum": ["fast", "slow"]}},
                    "required": ["id", "mode"],
                },
            }
        ]
    }
]


async def test_plain_answer_has_one_candidate_with_model_parts(api: Api) -> None:
    body = {
        "contents": gemini_user("Hola"),
        "systemInstruction": {"parts": [{"text": "Be short."}]},
    }
    ans = await api.gemini(body)
    assert ans.status == 200
    cand = ans.json["candidates"][0]
    assert cand["content"]["role"] == "model"
    assert cand["content"]["parts"][0]["text"].startswith(
        "Mock answer from gemini-2.0-flash: Hola "
    )
    assert cand["finishReason"] == "STOP"
    assert cand["index"] == 0
    prompt = math.ceil(len(b"Be short.Hola") / 4)
    assert ans.json["usageMetadata"] == {
        "promptTokenCount": prompt,
        "candidatesTokenCount": 12,
        "totalTokenCount": prompt + 12,
    }
    assert ans.json["modelVersion"] == "gemini-2.0-flash"


async def test_sse_stream_has_cumulative_usage_and_finish_reason_only_last(api: Api) -> None:
    ans = await api.gemini({"contents": gemini_user("hi")}, stream=True)
    assert ans.status == 200
    assert ans.headers["Content-Type"].startswith("text/event-stream")
    chunks = ans.sse_json()
    assert len(chunks) == 12
    assert [c["usageMetadata"]["candidatesTokenCount"] for c in chunks] == list(range(1, 13))
    assert "finishReason" not in chunks[0]["candidates"][0]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["totalTokenCount"] == 1 + 12
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    assert text.startswith("Mock answer from gemini-2.0-flash: hi ")


async def test_stream_without_alt_sse_is_a_json_array(api: Api) -> None:
    path = "/p/v1beta/models/gemini-2.0-flash:streamGenerateContent"
    ans = await api.post(path, {"contents": gemini_user("hi")}, {"x-goog-api-key": "k"})
    assert isinstance(ans.json, list)
    assert ans.json[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_function_declarations_produce_a_function_call_part(api: Api) -> None:
    ans = await api.gemini({"contents": gemini_user("look up 7"), "tools": FUNCS})
    part = ans.json["candidates"][0]["content"]["parts"][0]
    assert part["functionCall"] == {"name": "lookup", "args": {"id": 1, "mode": "fast"}}
    streamed = await api.gemini({"contents": gemini_user("x"), "tools": FUNCS}, stream=True)
    chunks = streamed.sse_json()
    assert chunks[0]["candidates"][0]["content"]["parts"][0]["functionCall"]["name"] == "lookup"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_function_response_is_acknowledged_in_text(api: Api) -> None:
    contents = [
        *gemini_user("look up 7"),
        {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {"id": 7}}}]},
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "lookup", "response": {"result": "item 7"}}}],
        },
    ]
    ans = await api.gemini({"contents": contents, "tools": FUNCS})
    text = ans.json["candidates"][0]["content"]["parts"][0]["text"]
    assert text.startswith("Tool result received: item 7")


async def test_json_mime_type_replies_with_a_json_object(api: Api) -> None:
    body = {
        "contents": gemini_user("hi"),
        "generationConfig": {"responseMimeType": "application/json"},
    }
    text = (await api.gemini(body)).json["candidates"][0]["content"]["parts"][0]["text"]
    assert orjson.loads(text)["answer"].startswith("Mock answer from gemini-2.0-flash: hi")


async def test_max_output_tokens_truncates_with_max_tokens_finish(api: Api) -> None:
    body = {"contents": gemini_user("hi"), "generationConfig": {"maxOutputTokens": 2}}
    cand = (await api.gemini(body)).json["candidates"][0]
    assert cand["content"]["parts"][0]["text"] == "Mock answer"
    assert cand["finishReason"] == "MAX_TOKENS"


async def test_stop_sequences_cut_the_reply(api: Api) -> None:
    body = {"contents": gemini_user("hi"), "generationConfig": {"stopSequences": ["from"]}}
    cand = (await api.gemini(body)).json["candidates"][0]
    assert cand["content"]["parts"][0]["text"] == "Mock answer "
    assert cand["finishReason"] == "STOP"


async def test_missing_contents_is_invalid_argument(api: Api) -> None:
    ans = await api.gemini({})
    assert ans.status == 400
    assert ans.json["error"]["code"] == 400
    assert ans.json["error"]["status"] == "INVALID_ARGUMENT"


async def test_key_in_url_is_answered_but_flagged(api: Api) -> None:
    path = "/gem/v1beta/models/gemini-2.0-flash:generateContent?key=secret-url-key"
    ans = await api.post(path, {"contents": gemini_user("hi")})
    assert ans.status == 200
    record = api.mock.records_for("gem")[0]
    assert record.key_in_url is True
    assert record.model == "gemini-2.0-flash"
    assert record.key_sha256 is not None and "secret-url-key" not in str(record.to_dict())
    await api.gemini({"contents": gemini_user("hi")}, prefix="gem")
    assert api.mock.records_for("gem")[1].key_in_url is False
