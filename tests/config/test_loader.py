from __future__ import annotations

from pathlib import Path

import pytest

from hybridllm.config.loader import expand_chain, load_config, parse_config
from hybridllm.errors import ConfigError
from tests.conftest import BASIC_CONFIG


def test_basic_config_loads_with_provider_defaults(config_file: Path) -> None:
    loaded = load_config(config_file)
    deps = loaded.config.deployments
    assert deps["local-small"].is_local
    assert deps["local-small"].url == "http://localhost:11434/v1"
    assert deps["deepseek"].url == "https://api.deepseek.com/v1"
    assert not deps["sonnet"].is_local
    assert deps["sonnet"].wire == "anthropic"
    assert loaded.missing_keys == {"deepseek": "DEEPSEEK_API_KEY", "sonnet": "ANTHROPIC_API_KEY"}


def test_env_variables_and_dotenv_beside_the_config_fill_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("DEEPSEEK_API_KEY=sk-test-from-dotenv-0000\n")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-from-env-0000")
    path = tmp_path / "hybridllm.yaml"
    path.write_text(BASIC_CONFIG)
    loaded = load_config(path)
    assert loaded.config.deployments["deepseek"].key == "sk-test-from-dotenv-0000"
    assert loaded.config.deployments["sonnet"].key == "sk-ant-test-from-env-0000"
    assert loaded.missing_keys == {}


def test_env_default_syntax_is_used_when_the_variable_is_unset() -> None:
    text = BASIC_CONFIG.replace("${DEEPSEEK_API_KEY}", "${NOPE_NOT_SET:-sk-test-default-key}")
    loaded = parse_config(text, "c.yaml", env={})
    assert loaded.config.deployments["deepseek"].key == "sk-test-default-key"


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "c.yaml", env={})
    return info.value


def test_typo_in_a_key_names_file_line_key_and_suggests_the_right_one() -> None:
    err = _error(BASIC_CONFIG.replace("    tier: 2\n", "    teir: 2\n"))
    assert err.file == "c.yaml"
    assert err.line == BASIC_CONFIG.splitlines().index("    tier: 2") + 1
    assert "deployments.deepseek.teir" in err.message
    assert "did you mean 'tier'" in err.message


def test_rule_naming_a_missing_deployment_is_an_error_with_its_line() -> None:
    text = BASIC_CONFIG.replace("use: [sonnet, deepseek]", "use: [sonet, deepseek]")
    err = _error(text)
    assert "unknown deployment 'sonet'" in err.message
    assert "did you mean 'sonnet'" in err.message
    assert err.key == "routes[1].use[0]"
    assert err.line == text.splitlines().index("    use: [sonet, deepseek]") + 1


def test_fallback_cycle_between_deployments_is_an_error() -> None:
    text = BASIC_CONFIG.replace(
        "    context_window: 65536\n", "    context_window: 65536\n    fallbacks: [sonnet]\n"
    ).replace(
        "    context_window: 1000000\n", "    context_window: 1000000\n    fallbacks: [deepseek]\n"
    )
    err = _error(text)
    assert "fallback cycle" in err.message
    assert (
        "deepseek -> sonnet -> deepseek" in err.message
        or "sonnet -> deepseek -> sonnet" in err.message
    )


def test_a_deployment_twice_in_one_chain_is_a_cycle() -> None:
    err = _error(
        BASIC_CONFIG.replace(
            "use: [local-small, deepseek, sonnet]", "use: [local-small, deepseek, local-small]"
        )
    )
    assert "twice" in err.message and err.key == "routes[5].use[2]"


def test_malformed_yaml_names_the_line() -> None:
    err = _error("deployments:\n  a: [unclosed\nroutes: []\n")
    assert "malformed YAML" in err.message
    assert err.line is not None


def test_bad_type_names_the_key() -> None:
    err = _error(BASIC_CONFIG.replace("    tier: 3\n", "    tier: high\n"))
    assert "deployments.sonnet.tier" in err.message


def test_unknown_condition_in_a_rule_is_an_error() -> None:
    err = _error(BASIC_CONFIG.replace("{task_type: code}", "{task_typ: code}"))
    assert "unknown condition 'task_typ'" in err.message
    assert err.key.startswith("routes[1].when")


def test_bad_numeric_condition_is_an_error() -> None:
    err = _error(BASIC_CONFIG.replace('{batch_size: ">100"}', '{batch_size: "lots"}'))
    assert "batch_size" in err.message


def test_unknown_provider_lists_known_ones() -> None:
    err = _error(BASIC_CONFIG.replace("provider: deepseek", "provider: deepsek"))
    assert "unknown provider 'deepsek'" in err.message


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_unset_variable_outside_api_key_is_an_error() -> None:
    err = _error(BASIC_CONFIG.replace("model: deepseek-chat", "model: ${MODEL_NOT_SET}"))
    assert "MODEL_NOT_SET is not set" in err.message


def test_deployment_fallbacks_extend_a_chain_without_repeats() -> None:
    text = BASIC_CONFIG.replace(
        "    context_window: 1000000\n", "    context_window: 1000000\n    fallbacks: [deepseek]\n"
    )
    config = parse_config(text, "c.yaml", env={}).config
    assert expand_chain(config, ["sonnet"]) == ["sonnet", "deepseek"]
    assert expand_chain(config, ["sonnet", "deepseek"]) == ["sonnet", "deepseek"]


@pytest.mark.parametrize("example", sorted(Path("examples").glob("*/hybridllm.yaml")))
def test_shipped_examples_load(example: Path) -> None:
    load_config(example)
