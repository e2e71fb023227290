"""The adapter contract: one wire format, two calls. Nothing else lives in an adapter.

Retries, breakers, budgets, timeouts beyond connect, and cost are dispatch's job. An adapter:
- translates the OpenAI-shaped :class:`ChatRequest` into its wire format, using
  ``deployment.model`` as the model name and ``deployment.url`` / ``deployment.key``;
- sends it with the injected pooled ``aiohttp.ClientSession``;
- translates the answer back into :class:`ChatResponse`, or each streamed event into
  :class:`ChatChunk` (OpenAI-style deltas; the usage arrives on a final chunk with no choices);
- maps failures onto :mod:`hybridllm.errors` (``error_for_status`` for HTTP statuses,
  ``UpstreamConnectionError`` for connection failures, ``StreamBrokenError`` for malformed chunks
  or a stream that ends without its final event). Messages never contain the key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import aiohttp

from hybridllm.config.models import Deployment
from hybridllm.types import ChatChunk, ChatRequest, ChatResponse

__all__ = ["Adapter"]


class Adapter(Protocol):
    async def complete(
        self, session: aiohttp.ClientSession, deployment: Deployment, request: ChatRequest
    ) -> ChatResponse: ...

    def stream(
        self, session: aiohttp.ClientSession, deployment: Deployment, request: ChatRequest
    ) -> AsyncIterator[ChatChunk]: ...
