"""Reliability under crashes, load and upstream faults; the figures table at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .figures import write_report
from .harness import ThreadedMock


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    write_report(session)


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
