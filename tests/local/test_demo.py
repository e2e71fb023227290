"""``hybridllm demo``: the real local tier when installed, else the mock upstream with a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridllm.demo import local_run, run
from hybridllm.demo.config import LOCAL_SAMPLES
from hybridllm.demo.report import read_rows


def test_without_the_local_tier_the_demo_says_what_to_install_and_runs_on_the_mock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(run, "missing_local_packages", lambda: ["llama-cpp-python==0.3.16"])
    failures = run.run_demo(tmp_path / "ledger.db")
    out = capsys.readouterr().out
    assert failures == 0
    assert "pip install 'hybridllm[local]'" in out
    assert "llama-cpp-python==0.3.16" in out
    assert "mock upstream" in out
    assert "saving" in out


@pytest.mark.slow
@pytest.mark.usefixtures("local_tier")
def test_the_demo_answers_locally_and_cloud_routes_fall_back_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kinds = {"summary", "private", "code review"}
    monkeypatch.setattr(local_run, "LOCAL_SAMPLES", [s for s in LOCAL_SAMPLES if s[0] in kinds])
    monkeypatch.setattr(local_run, "MAX_TOKENS", 8)
    ledger = tmp_path / "ledger.db"
    failures = run.run_demo(ledger)
    out = capsys.readouterr().out
    assert failures == 0
    assert "fell back to local: sonnet: no API key configured, skipped without a call" in out
    assert "privacy_sensitive" in out
    assert "saving" in out and "(100.0%)" in out
    rows = read_rows(ledger)
    assert len(rows) == 3  # skipped cloud deployments make no call and write no row
    assert {(r.deployment, r.status, r.cost_usd) for r in rows} == {("local", "ok", 0.0)}
