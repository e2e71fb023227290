"""Security sweeps; they share the figures table (and its session-finish hook) of reliability."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from tests.reliability.figures import write_report
from tests.reliability.harness import ThreadedMock


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    write_report(session)  # once per session, even with both directories collected


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="module")
def threaded_mock() -> Iterator[ThreadedMock]:
    threaded = ThreadedMock()
    try:
        yield threaded
    finally:
        threaded.close()


@pytest.fixture
def mock(threaded_mock: ThreadedMock) -> ThreadedMock:
    threaded_mock.reset()
    return threaded_mock
