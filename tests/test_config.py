from __future__ import annotations

from pathlib import Path

import pytest

from route.config import find_project_root, load_config
from route.errors import ConfigError


def test_defaults_when_nothing_is_configured(tmp_path: Path) -> None:
    loaded = load_config(tmp_path, env={}, user_file=tmp_path / "none.yaml")
    assert loaded.config.model == "qwen2.5-coder:7b"
    assert loaded.config.verify_command == "make verify"
    assert loaded.config.max_attempts == 3
    assert loaded.sources == ()


def test_precedence_flags_over_env_over_project_over_user(tmp_path: Path) -> None:
    user = tmp_path / "user.yaml"
    user.write_text("model: user-model\ncloud_model: claude-opus-4-5\nmax_attempts: 5\n")
    (tmp_path / "pyproject.toml").write_text('[tool.route]\nmodel = "pyproject-model"\n')
    (tmp_path / "route.yaml").write_text("model: project-model\nmax_attempts: 2\n")
    loaded = load_config(tmp_path, env={}, user_file=user)
    assert loaded.config.model == "project-model"
    assert loaded.config.max_attempts == 2
    assert loaded.config.cloud_model == "claude-opus-4-5"
    with_env = load_config(tmp_path, env={"ROUTE_MODEL": "env-model"}, user_file=user)
    assert with_env.config.model == "env-model"
    flagged = load_config(
        tmp_path,
        env={"ROUTE_MODEL": "env-model"},
        user_file=user,
        overrides={"model": "flag-model", "max_attempts": None},
    )
    assert flagged.config.model == "flag-model"
    assert flagged.config.max_attempts == 2  # None means "flag not given"


def test_unknown_key_names_the_key_the_file_and_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "route.yaml").write_text("modle: x\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env={}, user_file=tmp_path / "none.yaml")
    message = str(caught.value)
    assert "modle" in message
    assert "route.yaml" in message
    assert "did you mean 'model'" in message


def test_unknown_key_in_pyproject_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.route]\nverfy_command = 'x'\n")
    with pytest.raises(ConfigError, match="verfy_command"):
        load_config(tmp_path, env={}, user_file=tmp_path / "none.yaml")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("max_attempts: 0\n", "max_attempts"),
        ("backend: carrier-pigeon\n", "backend"),
        ("- a\n- b\n", "mapping"),
        ("model: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_values_are_clear_errors(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "route.yaml").write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_config(tmp_path, env={}, user_file=tmp_path / "none.yaml")


def test_named_endpoints_validate(tmp_path: Path) -> None:
    (tmp_path / "route.yaml").write_text(
        "endpoints:\n  gpu:\n    backend: openai\n    url: http://10.0.0.5:8000/v1\n"
        "    api_key_env: GPU_KEY\nendpoint: gpu\n"
    )
    config = load_config(tmp_path, env={}, user_file=tmp_path / "none.yaml").config
    assert config.endpoints["gpu"].url == "http://10.0.0.5:8000/v1"
    (tmp_path / "route.yaml").write_text("endpoints:\n  gpu:\n    adress: x\n")
    with pytest.raises(ConfigError, match="endpoints"):
        load_config(tmp_path, env={}, user_file=tmp_path / "none.yaml")


def test_project_root_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    nested = tmp_path / "app" / "services"
    nested.mkdir(parents=True)
    assert find_project_root(nested) == tmp_path.resolve()
    other = tmp_path / "lonely"
    other.mkdir()
    (other / "Makefile").write_text("verify:\n")
    assert find_project_root(other) == other.resolve()  # the nearest project wins


def test_ollama_host_environment_beats_project_file_but_not_flags(tmp_path: Path) -> None:
    (tmp_path / "route.yaml").write_text("host: http://10.0.0.9:11434\n")
    none = tmp_path / "none.yaml"
    assert load_config(tmp_path, env={}, user_file=none).config.host == "http://10.0.0.9:11434"
    env = {"OLLAMA_HOST": "127.0.0.1:5000"}
    assert load_config(tmp_path, env=env, user_file=none).config.host == "127.0.0.1:5000"
    flagged = load_config(tmp_path, env=env, user_file=none, overrides={"host": "h:1"})
    assert flagged.config.host == "h:1"
