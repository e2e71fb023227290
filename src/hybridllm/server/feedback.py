"""``POST /v1/feedback``: a caller scores an answer it received, for ``hybridllm learn``.

Body: ``{"request_id": "...", "score": 0.0-1.0, "comment": "..."}`` (1 = a good answer; the
request id is the ``x-request-id`` header of the answer). 200 with the stored feedback; 400 for a
bad body; 404 (OpenAI envelope) when the ledger has no such request, or it was made with another
virtual key; the same keys as the other ``/v1`` routes.

Not the hot path: the ledger is read and written in one worker thread of this endpoint's own,
with a store connection of its own, so the event loop never waits on the database. A request
answered a moment ago whose row is still in the writer's queue is found too: the writer is flushed
before saying 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor

import msgspec
import orjson
from starlette.requests import Request
from starlette.responses import Response

from hybridllm.ledger import LedgerStore, open_store
from hybridllm.ledger.learning import MAX_COMMENT, Feedback, check_score, learning_store
from hybridllm.server.auth import Caller
from hybridllm.server.envelope import Flavor, GatewayError
from hybridllm.server.gateway import JSON, Gateway
from hybridllm.server.inbound import bad_body, read_body

__all__ = ["FeedbackEndpoint"]

log = logging.getLogger("hybridllm.server")

MAX_BODY = 16 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    request_id: str
    score: float
    comment: str | None = None


_decoder = msgspec.json.Decoder(_Body)


def decode_feedback(body: bytes) -> _Body:
    """The body, checked; a 400 :class:`GatewayError` naming what is wrong otherwise."""
    try:
        parsed = _decoder.decode(body)
    except msgspec.MsgspecError as exc:
        raise bad_body(exc) from None
    if not _REQUEST_ID.match(parsed.request_id):
        raise GatewayError(
            400,
            "request_id must be the x-request-id of an answer (1-128 of A-Z a-z 0-9 . _ : -)",
            param="request_id",
        )
    try:
        check_score(parsed.score)
    except ValueError as exc:
        raise GatewayError(400, str(exc), param="score") from None
    if parsed.comment is not None and len(parsed.comment) > MAX_COMMENT:
        raise GatewayError(400, f"comment is longer than {MAX_COMMENT} characters", param="comment")
    return parsed


class FeedbackEndpoint:
    def __init__(self, gateway: Gateway, ledger_url: str) -> None:
        self.gateway = gateway
        self.ledger_url = ledger_url
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="hybridllm-feedback")
        self._store: LedgerStore | None = None  # used in the executor's one thread only

    async def post(self, request: Request) -> Response:
        gw = self.gateway
        try:
            caller = gw.keys.authenticate(request.headers)
            body = decode_feedback(await read_body(request, MAX_BODY))
        except GatewayError as bad:
            return gw.error(Flavor.OPENAI, bad)
        loop = asyncio.get_running_loop()
        try:
            found = await loop.run_in_executor(self._executor, self._store_feedback, body, caller)
        except Exception as exc:
            log.error("storing feedback failed: %s: %s", type(exc).__name__, exc)
            down = GatewayError(503, "the ledger is unavailable; try again", "unavailable")
            return gw.error(Flavor.OPENAI, down)
        if not found:
            missing = GatewayError(
                404,
                f"no request '{body.request_id}' in the ledger",
                "invalid_request_error",
                "request_not_found",
                "request_id",
            )
            return gw.error(Flavor.OPENAI, missing)
        payload = {
            "object": "feedback",
            "request_id": body.request_id,
            "score": body.score,
            "source": "user",
        }
        return Response(orjson.dumps(payload), 200, media_type=JSON)

    def _store_feedback(self, body: _Body, caller: Caller) -> bool:
        if self._store is None:
            self._store = open_store(self.ledger_url)
        tables = learning_store(self._store)
        exists, key_name = tables.request_key(body.request_id)
        if not exists:
            runtime = self.gateway.runtime
            if runtime is not None and runtime.writer is not None:
                # a row still queued (answered a moment ago); slow or closing: "not found"
                with contextlib.suppress(TimeoutError, RuntimeError):
                    runtime.writer.flush(2.0)
                exists, key_name = tables.request_key(body.request_id)
        if not exists or (caller.key_name is not None and key_name != caller.key_name):
            return False  # another key's request is not found either: no probing
        tables.add_feedback(
            Feedback(
                body.request_id, body.score, "user", time.time(), body.comment, caller.key_name
            )
        )
        return True

    def _close_store(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            store.close()

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_store)
        self._executor.shutdown(wait=True)
