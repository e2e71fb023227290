"""``hybridllm report`` as users run it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from hybridllm.cli.app import app
from hybridllm.ledger import open_store

from ..cli.helpers import hybridllm
from .test_report_figures import HAND_MADE

runner = CliRunner()


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store = open_store(url)
    try:
        # the hand-made rows, moved to "now" so the default --since 7d covers them
        import time

        from msgspec.structs import replace

        shift = time.time() - 3_600 - HAND_MADE[0].ts
        store.write_many([replace(r, ts=r.ts + shift) for r in HAND_MADE])
    finally:
        store.close()
    return url


def test_json_output_is_the_whole_report(ledger_url: str) -> None:
    result = runner.invoke(app, ["report", "--ledger", ledger_url, "--json", "--by", "deployment"])
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    assert data["group_by"] == "deployment"
    assert data["total"]["requests"] == 6  # r7 is ten days old: outside the default 7d
    assert {g["group"] for g in data["groups"]} >= {"local-small", "deepseek", "mystery"}


def test_csv_output_parses_with_a_total_line(ledger_url: str) -> None:
    result = runner.invoke(app, ["report", "--ledger", ledger_url, "--csv", "--since", "4w"])
    assert result.exit_code == 0, result.output
    lines = list(csv.DictReader(io.StringIO(result.stdout)))
    assert lines[-1]["cost_center"] == "total"
    assert int(lines[-1]["requests"]) == 7


@pytest.mark.parametrize("since", ["yesterday", "7y", "0d", "2099-01-01"])
def test_a_bad_since_exits_2_with_a_clear_message(ledger_url: str, since: str) -> None:
    result = runner.invoke(app, ["report", "--ledger", ledger_url, "--since", since])
    assert result.exit_code == 2
    assert "--since" in result.output


@pytest.mark.parametrize(
    "args", [["--by", "model"], ["--json", "--csv"], ["--ledger", "mysql://x/y"]]
)
def test_other_bad_usage_exits_2(ledger_url: str, args: list[str]) -> None:
    full = ["report", *args] if "--ledger" in args else ["report", "--ledger", ledger_url, *args]
    result = runner.invoke(app, full)
    assert result.exit_code == 2, result.output


def test_a_missing_sqlite_ledger_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--ledger", f"sqlite:///{tmp_path / 'nope.db'}"])
    assert result.exit_code == 2
    assert "no ledger" in result.output


def test_a_postgres_password_never_shows_in_the_report_error() -> None:
    url = "postgresql://alice:hunter2-Secret@127.0.0.1:1/ledger"
    result = runner.invoke(app, ["report", "--ledger", url])
    assert result.exit_code == 2
    assert "hunter2" not in result.output
    assert "alice:***@127.0.0.1:1" in result.output


def test_the_table_shows_groups_health_and_unknown_costs_from_the_configs_ledger(
    config_file: Path, tmp_path: Path, ledger_url: str
) -> None:
    # config_file's ledger: is sqlite:///<tmp_path>/ledger.db, the file ledger_url filled
    assert ledger_url.endswith(f"{tmp_path}/ledger.db")
    result = hybridllm("--config", str(config_file), "report", "--by", "cost_center", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in (
        "research",
        "support",
        "(none)",
        "total",
        "health",
        "served locally",
        "cloud spend, last 7 days",
        "+1 unknown",
        "unknown",
    ):
        assert text in out, text
    assert "1 requests have an unknown price" in out
