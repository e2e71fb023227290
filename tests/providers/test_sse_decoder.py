from __future__ import annotations

import pytest

from hybridllm.config.models import Deployment
from hybridllm.errors import StreamBrokenError
from hybridllm.providers.sse import SSEDecoder, SSEEvent, parse_data


def feed_all(*chunks: bytes) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    return events + decoder.close()


def test_named_events_are_framed_by_blank_lines() -> None:
    events = feed_all(b'event: ping\ndata: {}\n\nevent: message_stop\ndata: {"a": 1}\n\n')
    assert events == [SSEEvent("ping", "{}"), SSEEvent("message_stop", '{"a": 1}')]


def test_unnamed_event_is_a_message() -> None:
    assert feed_all(b"data: x\n\n") == [SSEEvent("message", "x")]


def test_multiple_data_lines_join_with_newline() -> None:
    assert feed_all(b"data: a\ndata: b\n\n") == [SSEEvent("message", "a\nb")]


def test_crlf_line_endings() -> None:
    assert feed_all(b"event: e\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n") == [
        SSEEvent("e", "1"),
        SSEEvent("message", "2"),
    ]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    assert feed_all(b"data: 1\r", b"\n\r", b"\ndata: 2\r\n\r\n") == [
        SSEEvent("message", "1"),
        SSEEvent("message", "2"),
    ]


def test_bare_cr_line_endings() -> None:
    assert feed_all(b"data: 1\r\rdata: 2\r\r") == [
        SSEEvent("message", "1"),
        SSEEvent("message", "2"),
    ]


def test_event_split_mid_line_across_chunks() -> None:
    assert feed_all(b"da", b"ta: hel", b"lo\n", b"\n") == [SSEEvent("message", "hello")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    assert feed_all(b": keep-alive\nid: 7\nretry: 10\ndata: x\n\n") == [SSEEvent("message", "x")]


def test_value_without_space_after_colon() -> None:
    assert feed_all(b"data:x\n\n") == [SSEEvent("message", "x")]


def test_last_event_without_blank_line_is_delivered_at_close() -> None:
    assert feed_all(b"data: [DONE]") == [SSEEvent("message", "[DONE]")]


def test_blank_lines_without_data_yield_nothing() -> None:
    assert feed_all(b"\n\n\nevent: x\n\n") == []


def test_long_line_is_not_limited() -> None:
    payload = "x" * 300_000
    assert feed_all(b"data: " + payload.encode() + b"\n\n") == [SSEEvent("message", payload)]


def test_malformed_json_data_breaks_the_stream() -> None:
    deployment = Deployment(name="d", provider="openai", model="m")
    with pytest.raises(StreamBrokenError, match="malformed"):
        parse_data(SSEEvent("message", '{"choices": [{"delta": '), deployment)


def test_valid_json_data_is_decoded() -> None:
    deployment = Deployment(name="d", provider="openai", model="m")
    assert parse_data(SSEEvent("message", '{"a": [1]}'), deployment) == {"a": [1]}
