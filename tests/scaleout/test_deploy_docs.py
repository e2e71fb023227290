"""docs/deploy.md and deploy/: the settings shown are the real ones, the manifests load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hybridllm.config.models import StateOptions
from hybridllm.router import Router
from hybridllm.state.metrics import SHARED_STATE_METRICS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "deploy.md").read_text()


def test_the_state_options_block_lists_every_option_with_its_default() -> None:
    block = re.search(r"```yaml\n(.*?)```", DOC, re.DOTALL)
    assert block is not None
    options = yaml.safe_load(block.group(1))["state_options"]
    assert StateOptions(**options) == StateOptions()
    assert set(options) == set(StateOptions.model_fields)


def test_every_shared_state_metric_is_documented() -> None:
    for name in SHARED_STATE_METRICS:
        assert name in DOC


def test_the_kubernetes_config_map_is_a_valid_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy/kubernetes/hybridllm.yaml").read_text()))
    assert {d["kind"] for d in docs} == {"ConfigMap", "Deployment", "Service"}
    config_map = next(d for d in docs if d["kind"] == "ConfigMap")
    path = tmp_path / "hybridllm.yaml"
    path.write_text(config_map["data"]["hybridllm.yaml"])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000000000000000")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000000000000")
    config = Router.from_config(path).config
    assert config.state.startswith("redis://")
    assert config.state_options.fallback_replicas == 3
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["httpGet"]["path"] == "/readyz"


def test_the_systemd_unit_serves_on_its_instance_port() -> None:
    unit = (ROOT / "deploy/systemd/hybridllm@.service").read_text()
    assert re.search(r"^ExecStart=.*hybridllm serve .*--port %i$", unit, re.MULTILINE)
