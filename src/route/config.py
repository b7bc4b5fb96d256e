"""Configuration: defaults < user config < project config < environment < flags.

Project config is ``route.yaml`` in the project root or ``[tool.route]`` in its ``pyproject.toml``;
the user config is ``config.yaml`` in the user config directory (``ROUTE_HOME`` overrides the
directory). Unknown keys are errors that name the key and the file, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from route.errors import ConfigError

PROJECT_FILE = "route.yaml"
USER_FILE = "config.yaml"


class Endpoint(BaseModel):
    """A named model server, e.g. a shared GPU box: ``endpoints: {gpu: {backend: openai, ...}}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["auto", "ollama", "openai"] = "auto"
    url: str
    api_key_env: str | None = None
    context_size: int | None = Field(default=None, gt=0)
    model: str | None = None


class Config(BaseModel):
    """Every setting route reads. Field names are the keys of route.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = "qwen2.5-coder:7b"
    backend: Literal["auto", "ollama", "openai"] = "auto"
    host: str | None = None  # Ollama server (else OLLAMA_HOST, else http://127.0.0.1:11434)
    base_url: str | None = None  # OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1
    api_key_env: str | None = None  # name of the environment variable holding the API key
    endpoint: str | None = None  # name of an entry of `endpoints` to use
    endpoints: dict[str, Endpoint] = Field(default_factory=dict)
    context_size: int | None = Field(default=None, gt=0)
    keep_alive: str | None = None
    cloud_model: str = "claude-sonnet-4-5"
    max_attempts: int = Field(default=3, ge=1, le=10)
    max_output_tokens: int = Field(default=4096, ge=64)
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    seed: int | None = None
    verify_command: str = "make verify"
    verify_timeout: float = Field(default=600.0, gt=0)
    verify_output_tokens: int = Field(default=1500, ge=100)
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=600.0, gt=0)
    protected: list[str] = Field(default_factory=list)  # extra protected path patterns
    scrub_env: list[str] = Field(default_factory=list)  # extra secret variable patterns
    skills_dir: str | None = None
    ledger: str | None = None
    prices: dict[str, dict[str, Any]] = Field(default_factory=dict)
    power_watts: float | None = Field(default=None, ge=0)
    price_per_kwh: float | None = Field(default=None, ge=0)
    parallel: int = Field(default=1, ge=1, le=64)


# Environment variables and the keys they set (flags still win over them).
ENVIRONMENT_KEYS: Mapping[str, str] = {
    "ROUTE_MODEL": "model",
    "ROUTE_BACKEND": "backend",
    "ROUTE_BASE_URL": "base_url",
    "ROUTE_CLOUD_MODEL": "cloud_model",
    "ROUTE_VERIFY": "verify_command",
    "ROUTE_LEDGER": "ledger",
    "OLLAMA_HOST": "host",  # Ollama's own variable: above project files, below --host
}


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: Config
    sources: tuple[str, ...]  # files that contributed, in precedence order (lowest first)


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    home = env.get("ROUTE_HOME")
    if home:
        return Path(home) / USER_FILE
    import platformdirs

    return Path(platformdirs.user_config_dir("route")) / USER_FILE


def find_project_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding route.yaml, .git, a Makefile or a
    pyproject.toml (so a project nested in another repository is its own root); ``start``
    itself when none does."""
    start = start.resolve()
    markers = (PROJECT_FILE, ".git", "Makefile", "pyproject.toml")
    for directory in (start, *start.parents):
        if any((directory / marker).exists() for marker in markers):
            return directory
    return start


def load_config(
    project_root: Path,
    *,
    env: Mapping[str, str] | None = None,
    user_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> LoadedConfig:
    """Merge every layer and validate the result. ``overrides`` are the command-line flags
    (``None`` values mean "not given")."""
    env = os.environ if env is None else env
    merged: dict[str, Any] = {}
    sources: list[str] = []
    user_path = user_file if user_file is not None else user_config_path(env)
    for label, data in (
        (str(user_path), _read_yaml_file(user_path)),
        *_project_layers(project_root),
    ):
        if data is None:
            continue
        _check_keys(data, label)
        merged.update(data)
        sources.append(label)
    for variable, key in ENVIRONMENT_KEYS.items():
        value = env.get(variable)
        if value:
            merged[key] = value
            sources.append(f"${variable}")
    for key, value in (overrides or {}).items():
        if value is not None:
            merged[key] = value
    try:
        config = Config.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, sources)) from exc
    return LoadedConfig(config=config, sources=tuple(sources))


def _project_layers(root: Path) -> list[tuple[str, dict[str, Any] | None]]:
    layers: list[tuple[str, dict[str, Any] | None]] = []
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {pyproject}: {exc} — fix the file") from exc
        section = data.get("tool", {}).get("route")
        if section is not None:
            if not isinstance(section, dict):
                raise ConfigError(f"[tool.route] in {pyproject} must be a table")
            layers.append((f"{pyproject} [tool.route]", section))
    layers.append((str(root / PROJECT_FILE), _read_yaml_file(root / PROJECT_FILE)))
    return layers


def _read_yaml_file(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    import yaml

    from route.yamlio import load_yaml

    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}".replace("\n", " ")) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings (key: value)")
    return data


def _check_keys(data: Mapping[str, Any], label: str) -> None:
    known = set(Config.model_fields)
    for key in data:
        if key not in known:
            import difflib

            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f" — did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"unknown setting '{key}' in {label}{hint}")


def _explain(exc: ValidationError, sources: list[str]) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    origin = f" (from {', '.join(sources)})" if sources else ""
    return f"invalid setting '{where}': {first['msg']}{origin}"
