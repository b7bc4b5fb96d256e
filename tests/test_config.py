from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from route.errors import ConfigError
from route.settings.config import _CHECKS, Config, Endpoint, find_project_root, load_config


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
        ("temperature: .nan\n", "temperature.*finite"),
        ("temperature: .inf\n", "temperature.*finite"),
        ("max_output_tokens: .inf\n", "max_output_tokens.*finite"),
    ],
)
def test_bad_values_are_clear_errors(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "route.yaml").write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_config(tmp_path, env={}, user_file=tmp_path / "none.yaml")


def test_a_flag_of_nan_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"temperature.*command line.*finite"):
        load_config(
            tmp_path,
            env={},
            user_file=tmp_path / "none.yaml",
            overrides={"temperature": float("nan")},
        )


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


def _validate(text: str, tmp_path: Path) -> Config:
    (tmp_path / "route.yaml").write_text(text)
    return load_config(tmp_path, env={}, user_file=tmp_path / "none.yaml").config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_attempts: 11\n", "'max_attempts': must be at most 10, not 11"),
        ("max_attempts: yes\n", "'max_attempts': must be a number, not True"),
        ("max_attempts: 2.5\n", "'max_attempts': must be a whole number, not 2.5"),
        ("max_output_tokens: lots\n", "'max_output_tokens': must be a number, not 'lots'"),
        ("verify_timeout: 0\n", "'verify_timeout': must be greater than 0, not 0"),
        ("temperature: -0.1\n", "'temperature': must be at least 0, not -0.1"),
        ("model: 7\n", "'model': must be text, not 7"),
        ("model: null\n", "'model': must be text, not None"),
        ("protected: secrets/*\n", "'protected': must be a list of text patterns"),
        ("endpoints: [gpu]\n", "'endpoints': must be a mapping of names to endpoints"),
        ("endpoints:\n  gpu: {backend: openai}\n", "'endpoints': endpoint 'gpu' needs a url"),
        (
            "endpoints:\n  gpu: {url: x, modle: y}\n",
            "'endpoints': endpoint 'gpu': unknown key 'modle' — did you mean 'model'",
        ),
        (
            "endpoints:\n  gpu: {url: x, context_size: 0}\n",
            "'endpoints': endpoint 'gpu': context_size must be at least 1",
        ),
        ("prices: {m: 3}\n", "'prices': must be a mapping of prices for 'm'"),
    ],
)
def test_each_bad_value_says_which_setting_what_it_must_be_and_where_it_came_from(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _validate(text, tmp_path)
    setting, _, reason = message.partition(": ")
    assert f"invalid setting {setting} (from {tmp_path / 'route.yaml'}): {reason}" in str(
        caught.value
    )


def test_values_are_converted_to_their_types(tmp_path: Path) -> None:
    config = _validate(
        "max_attempts: '4'\ntemperature: 1\nverify_timeout: '30'\nseed: null\n"
        "protected: [secrets/*]\nendpoints:\n  gpu: {url: http://h:1, model: big}\n",
        tmp_path,
    )
    assert (config.max_attempts, config.temperature, config.verify_timeout) == (4, 1.0, 30.0)
    assert isinstance(config.temperature, float) and config.seed is None
    assert config.protected == ("secrets/*",)
    assert config.endpoints == {"gpu": Endpoint(url="http://h:1", model="big")}


def test_given_names_the_settings_a_file_an_environment_variable_or_a_flag_set(
    tmp_path: Path,
) -> None:
    (tmp_path / "route.yaml").write_text("max_attempts: 2\n")
    loaded = load_config(
        tmp_path,
        env={"ROUTE_MODEL": "m"},
        user_file=tmp_path / "none.yaml",
        overrides={"temperature": 0.0, "seed": None},
    )
    assert loaded.config.given == {"max_attempts", "model", "temperature"}
    assert Config().given == frozenset()


def test_every_setting_has_a_check_and_every_check_a_setting() -> None:
    names = {item.name for item in fields(Config)} - {"given", "origins"}
    assert set(_CHECKS) == names
    defaults = Config()
    for name in names:  # every default passes its own check unchanged
        assert _CHECKS[name](getattr(defaults, name)) == getattr(defaults, name)


def test_a_bad_value_names_the_layer_that_set_it(tmp_path: Path) -> None:
    (tmp_path / "route.yaml").write_text("max_attempts: 2\nmodel: m\n")
    none = tmp_path / "none.yaml"
    with pytest.raises(ConfigError, match=r"'max_attempts' \(from the command line\): must be"):
        load_config(tmp_path, env={}, user_file=none, overrides={"max_attempts": 0})
    with pytest.raises(ConfigError, match=r"'backend' \(from \$ROUTE_BACKEND\): must be one of"):
        load_config(tmp_path, env={"ROUTE_BACKEND": "pigeon"}, user_file=none)


@pytest.mark.parametrize(
    ("text", "think"),
    [("think: off\n", "off"), ("think: on\n", "on"), ("think: HIGH\n", "high"), ("", "auto")],
)
def test_think_accepts_yaml_booleans_and_levels(tmp_path: Path, text: str, think: str) -> None:
    # YAML 1.1 reads a bare `off` / `on` as a boolean: they still mean --think off / on.
    assert _validate(text, tmp_path).think == think


def test_a_bad_think_value_names_the_accepted_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"think.*auto, off, on, low, medium, high"):
        _validate("think: maximal\n", tmp_path)
    assert _validate("thinking_output_tokens: 8192\n", tmp_path).thinking_output_tokens == 8192
