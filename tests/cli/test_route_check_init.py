"""The CLI as a new user meets it: init, check, route, simulate, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import hybridllm
from tests.conftest import BASIC_CONFIG


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "hybridllm.yaml").write_text(BASIC_CONFIG)
    return tmp_path


def test_init_writes_a_config_that_check_accepts(tmp_path: Path) -> None:
    out = hybridllm("init", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "hybridllm.yaml").exists()
    check = hybridllm("check", "--offline", "--json", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout)
    assert report["valid"] is True
    assert any(d["locality"] == "local" for d in report["deployments"])
    assert any("API key missing" in p for p in report["problems"])  # keys are named, never printed


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    (tmp_path / "hybridllm.yaml").write_text("x: 1\n")
    out = hybridllm("init", cwd=tmp_path)
    assert out.returncode == 2 and "already exists" in out.stderr
    assert "Traceback" not in out.stderr


def _route(workdir: Path, *args: str) -> dict[str, object]:
    out = hybridllm("route", "--json", *args, cwd=workdir)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_route_email_prompt_is_private_and_local_only(workdir: Path) -> None:
    d = _route(workdir, "Write a python function that emails alice@example.com")
    assert d["route"] == "privacy_sensitive" and d["private"] is True
    assert d["pii"] == ["email"] and d["chain"] == ["local-small"] and d["tier"] == 1


def test_route_code_request(workdir: Path) -> None:
    d = _route(workdir, "Refactor this python function to remove the bug")
    assert d["route"] == "code_generation" and d["deployment"] == "sonnet"


def test_route_batch_of_500_classification_items(workdir: Path) -> None:
    d = _route(workdir, "--batch-size", "500", "--task", "classification", "Label each ticket")
    assert d["route"] == "batch_processing" and d["deployment"] == "deepseek"


def test_route_15000_token_document_from_stdin(workdir: Path) -> None:
    doc = "Please review the following report.\n" + (
        "The committee met and reviewed the budget. " * 1100
    )
    out = hybridllm("route", "--json", cwd=workdir, stdin=doc)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["features"]["tokens"] >= 15000  # type: ignore[index]
    assert d["route"] == "long_context" and d["chain"] == ["sonnet"]


def test_route_cloud_tagged_prompt_pins_tier_3(workdir: Path) -> None:
    d = _route(workdir, "[cloud] What is the capital of France?")
    assert d["tier"] == 3 and d["deployment"] == "sonnet"


def test_route_plain_question_falls_to_default_and_explains(workdir: Path) -> None:
    out = hybridllm("route", "What is the capital of France?", cwd=workdir)
    assert out.returncode == 0
    assert "default" in out.stdout and "rule 'code_generation' skipped" in out.stdout


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("    tier: 2\n", "    teir: 2\n"), "unknown key 'teir'"),
        (("use: [sonnet, deepseek]", "use: [sonet, deepseek]"), "unknown deployment 'sonet'"),
        (
            ("use: [local-small, deepseek, sonnet]", "use: [local-small, deepseek, local-small]"),
            "twice",
        ),
        (("deployments:\n", "deployments: [\n"), "malformed YAML"),
    ],
    ids=["typo-key", "missing-deployment", "cycle", "malformed-yaml"],
)
def test_bad_config_is_a_clear_error_naming_where_exit_2(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    (tmp_path / "hybridllm.yaml").write_text(BASIC_CONFIG.replace(*edit, 1))
    out = hybridllm("check", "--offline", cwd=tmp_path)
    assert out.returncode == 2
    assert expected in out.stderr
    assert "hybridllm.yaml:" in out.stderr  # file and line
    assert "Traceback" not in out.stderr


def test_simulate_prices_a_workload_against_the_baseline(workdir: Path) -> None:
    (workdir / "w.jsonl").write_text(
        '{"name": "classification", "calls": 500000, "input_tokens": 500, "output_tokens": 50,'
        ' "hints": {"task_type": "classification", "batch_size": 500}, "batchable": true}\n'
        '{"name": "review", "calls": 10, "input_tokens": 1000, "output_tokens": 100, "hints": {"task_type": "code"}}\n'
        '{"prompt": "Summarize: we ship on Friday.", "output_tokens": 20}\n'
    )
    out = hybridllm("simulate", "w.jsonl", "--json", cwd=workdir)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    first, second, third = result["lines"]
    assert first["deployment"] == "deepseek" and first["calls"] == 500000
    # deepseek has no batch discount in genai-prices: list price. Sonnet baseline at list price.
    assert first["baseline_cost_usd"] == pytest.approx(500000 * (500 * 3.0 + 50 * 15.0) / 1e6)
    assert second["deployment"] == "sonnet" and second["cost_usd"] == pytest.approx(
        second["baseline_cost_usd"]
    )
    assert third["deployment"] == "local-small" and third["cost_usd"] == 0.0
    total = result["total"]
    assert total["saving_usd"] == pytest.approx(total["baseline_cost_usd"] - total["cost_usd"])
    assert 0 < total["saving_pct"] < 100


def test_simulate_batchable_line_on_a_deployment_with_batch_discount(workdir: Path) -> None:
    (workdir / "w.jsonl").write_text(
        '{"name": "b", "calls": 100, "input_tokens": 1000, "output_tokens": 100, "hints": {"task_type": "code"}, "batchable": true}\n'
    )
    result = json.loads(hybridllm("simulate", "w.jsonl", "--json", cwd=workdir).stdout)
    line = result["lines"][0]
    assert line["deployment"] == "sonnet" and line["batch_priced"] is True
    assert line["cost_usd"] == pytest.approx(0.5 * line["baseline_cost_usd"])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the workload is empty"),
        (
            '{"name": "x", "calls": 5, "input_tokens": -3, "output_tokens": 10}\n',
            "w.jsonl:1: 'input_tokens' must be zero or more",
        ),
        ('{"name": "x"}\n{"bad json\n', "w.jsonl:1"),
        ('{"name": "x", "calls": 1, "input_tokens": 5, "colour": "red"}\n', "w.jsonl:1"),
    ],
    ids=["empty", "negative-tokens", "no-tokens", "unknown-field"],
)
def test_bad_workload_is_a_clear_error_exit_2(workdir: Path, content: str, expected: str) -> None:
    (workdir / "w.jsonl").write_text(content)
    out = hybridllm("simulate", "w.jsonl", cwd=workdir)
    assert out.returncode == 2
    assert expected in out.stderr
    assert "Traceback" not in out.stderr


def test_shipped_examples_pass_check_and_simulate(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2] / "examples"
    for name in ("three-tier", "multi-provider"):
        cfg = root / name / "hybridllm.yaml"
        check = hybridllm("--config", str(cfg), "check", "--offline", cwd=tmp_path)
        assert check.returncode == 0, check.stderr
        sim = hybridllm(
            "--config",
            str(cfg),
            "simulate",
            str(root / name / "workload.jsonl"),
            "--json",
            cwd=tmp_path,
        )
        assert sim.returncode == 0, sim.stderr
        total = json.loads(sim.stdout)["total"]
        assert total["saving_pct"] is not None and total["saving_pct"] > 0
