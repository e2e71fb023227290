"""Fixtures for the mock upstream tests: a started server and a loopback HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from hybridllm.mock import MockUpstream

from .helpers import Api


@pytest.fixture
async def mock() -> AsyncIterator[MockUpstream]:
    async with MockUpstream() as server:
        yield server


@pytest.fixture
async def api(mock: MockUpstream) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(mock, session)
