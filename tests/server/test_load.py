"""500 concurrent streams, 10% of the clients leaving mid-stream: no leak, every row written."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import orjson

from hybridllm.ledger.row import LedgerRow
from hybridllm.mock import MockUpstream

from .conftest import Running
from .helpers import CHAT, chat

CLIENTS = 500
LEAVERS = 50  # every tenth client closes its response after the first chunk


async def _one(session: aiohttp.ClientSession, url: str, i: int) -> str:
    body = orjson.dumps(chat(f"request number {i}", stream=True))
    headers = {"content-type": "application/json", "x-request-id": f"load-{i}"}
    async with session.post(url + CHAT, data=body, headers=headers) as resp:
        assert resp.status == 200
        if i % 10 == 0:
            await resp.content.readline()  # the first bytes, then go away
            resp.close()
            return "left"
        data = await resp.read()
        assert data.endswith(b"data: [DONE]\n\n"), data[-200:]
        return "done"


async def test_500_concurrent_streams_with_10_percent_disconnects(
    gateway: Running, mock: MockUpstream
) -> None:
    # ~3 s per stream (30 words, 100 ms apart): a leaver closes ~0.5 s in, while its stream is
    # still running. Streams of 100 words 20 ms apart (25,000 chunks/s over 500 streams) overloaded
    # the one event loop that the clients, the gateway and the mock share. A leaver then read its
    # first line so late that its stream was almost over: 1 to 49 of 50 leavers ended "ok", and
    # sometimes all 50 (`assert left` failed 1 run in 3). At 5,000 chunks/s the loop keeps up:
    # 50 of 50 ended "partial" in 8 of 8 runs.
    mock.set_faults("primary", [{"chunk_delay": 0.1, "reply": " ".join(["word"] * 30)}])
    baseline = len(asyncio.all_tasks())
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await asyncio.gather(*(_one(session, gateway.url, i) for i in range(CLIENTS)))
        assert results.count("left") == LEAVERS
        assert results.count("done") == CLIENTS - LEAVERS
        # The server keeps serving.
        async with session.post(gateway.url + CHAT, json=chat("after the storm")) as resp:
            assert resp.status == 200
    # No task leaks: back to the baseline once the connections are gone.
    for _ in range(200):
        if len(asyncio.all_tasks()) <= baseline:
            break
        await asyncio.sleep(0.025)
    assert len(asyncio.all_tasks()) <= baseline, [t.get_coro() for t in asyncio.all_tasks()]
    # A ledger row for every request that reached an upstream. Under a loaded machine a slow
    # attempt may time out and fall back (the breaker may then send a request straight to the
    # next deployment): count every upstream request, not only primary's.
    rows = gateway.rows()
    reached = mock.records
    assert len(rows) == len(reached)
    assert len({(r.request_id, r.attempt) for r in rows}) == len(rows)
    answering = Counter(r.request_id for r in rows if r.status in ("ok", "partial"))
    assert all(answering[f"load-{i}"] == 1 for i in range(CLIENTS))
    assert sum(answering.values()) == CLIENTS + 1  # and the request after the storm
    left = [r for r in rows if r.error_class == "ClientDisconnected"]
    assert all(r.status == "partial" and r.request_id.endswith("0") for r in left)
    # A leaver whose stream had already ended is an "ok" row. Under this load (the clients, the
    # gateway and the mock share one process and its GIL) the close of a leaver is sometimes
    # only seen seconds later, when most streams are over: how many leavers end "partial" is
    # timing, not behaviour. The recording itself is proven without load below.
    assert left
    in_flight = gateway.gateway.metrics.in_flight.labels("chat_completions")._value.get()
    assert in_flight == 0


async def test_a_client_that_leaves_mid_stream_gets_a_partial_row(
    gateway: Running, mock: MockUpstream
) -> None:
    """The close is seen while the upstream is still streaming (10 s of words): the attempt is
    recorded at once as ``partial`` with the error class ``ClientDisconnected``."""
    mock.set_faults("primary", [{"chunk_delay": 0.05, "reply": " ".join(["word"] * 200)}])
    body = orjson.dumps(chat("a long answer, please", stream=True))
    headers = {"content-type": "application/json", "x-request-id": "leaver-1"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(gateway.url + CHAT, data=body, headers=headers) as resp,
    ):
        assert resp.status == 200
        await resp.content.readline()
        resp.close()
    rows: list[LedgerRow] = []
    for _ in range(100):  # 5 s, half of what the stream would take if the close went unseen
        await asyncio.sleep(0.05)
        rows = [r for r in gateway.rows() if r.request_id == "leaver-1"]
        if rows:
            break
    assert [(r.status, r.error_class, r.streamed) for r in rows] == [
        ("partial", "ClientDisconnected", True)
    ]
    assert rows[0].latency_ms < 5_000
