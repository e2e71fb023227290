"""Fixtures of the scale-out tests: the mock upstream, and replicas torn down after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hybridllm.mock import MockUpstream
from tests.services import postgres_url, private_redis, redis_prefix  # noqa: F401  (fixtures)

from .cluster import Cluster


@pytest.fixture
async def mock() -> AsyncIterator[MockUpstream]:
    async with MockUpstream() as upstream:
        yield upstream


@pytest.fixture
async def clusters() -> AsyncIterator[list[Cluster]]:
    """Append the clusters a test starts; they are stopped (SIGTERM) afterwards."""
    started: list[Cluster] = []
    yield started
    for cluster in started:
        await cluster.close()
