"""Configuration: defaults < user config < project config < environment < flags.

Project config is ``route.yaml`` in the project root or ``[tool.route]`` in its ``pyproject.toml``;
the user config is ``config.yaml`` in the user config directory (``ROUTE_HOME`` overrides the
directory). Unknown keys are errors that name the key and the file, so a typo never silently
falls back to a default. Each setting's value is checked by a small function (``_CHECKS``), the
same wherever it came from; not by pydantic, because every command reads the config and importing
pydantic would add about 100 ms to each of them (BENCHMARKS.md, start-up).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from route.errors import ConfigError
from route.values import THINK_MODES, ThinkMode

PROJECT_FILE = "route.yaml"
USER_FILE = "config.yaml"

Backend = Literal["auto", "ollama", "openai"]
BACKENDS: tuple[str, ...] = get_args(Backend)
# A setting's check returns the value to keep, or raises ValueError saying what it must be.
Check = Callable[[object], Any]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A named model server, e.g. a shared GPU box: ``endpoints: {gpu: {backend: openai, ...}}``."""

    url: str
    backend: Backend = "auto"
    api_key_env: str | None = None
    context_size: int | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting route reads. Field names are the keys of route.yaml; each field's check
    (``_CHECKS``) validates a configured value the same way wherever it came from."""

    model: str = "qwen2.5-coder:7b"
    backend: Backend = "auto"
    host: str | None = None  # Ollama server (else OLLAMA_HOST, else http://127.0.0.1:11434)
    base_url: str | None = None  # OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1
    api_key_env: str | None = None  # name of the environment variable holding the API key
    endpoint: str | None = None  # name of an entry of `endpoints` to use
    endpoints: Mapping[str, Endpoint] = field(default_factory=dict)
    context_size: int | None = None
    keep_alive: str | None = None
    cloud_model: str = "claude-sonnet-4-5"
    max_attempts: int = 3
    max_output_tokens: int = 4096
    temperature: float = 0.2
    seed: int | None = None
    verify_command: str = "make verify"
    verify_timeout: float = 600.0
    verify_output_tokens: int = 1500
    # The project's fixers, run on the files route wrote before verify; {files} becomes them.
    fix_command: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 600.0
    protected: tuple[str, ...] = ()  # extra protected path patterns
    scrub_env: tuple[str, ...] = ()  # extra secret variable patterns
    skills_dir: str | None = None
    ledger: str | None = None  # a file, or a postgresql:// URL (the team ledger)
    ledger_url: str | None = None  # the team ledger's postgresql:// URL, beside a local `ledger`
    prices: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    power_watts: float | None = None
    price_per_kwh: float | None = None
    parallel: int = 1
    think: ThinkMode = "auto"  # reasoning models: auto, off, on, low, medium, high
    thinking_output_tokens: int = 16384  # output budget for a model that reasons
    # The settings a file, the environment or a flag gave (the rest are defaults).
    given: frozenset[str] = field(default=frozenset(), compare=False)
    # Where each setting was set (a file, "$VARIABLE", "the command line"), for messages.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)


# Environment variables and the keys they set (flags still win over them).
ENVIRONMENT_KEYS: Mapping[str, str] = {
    "ROUTE_MODEL": "model",
    "ROUTE_BACKEND": "backend",
    "ROUTE_BASE_URL": "base_url",
    "ROUTE_CLOUD_MODEL": "cloud_model",
    "ROUTE_VERIFY": "verify_command",
    "ROUTE_LEDGER": "ledger",
    "ROUTE_LEDGER_URL": "ledger_url",
    "OLLAMA_HOST": "host",  # Ollama's own variable: above project files, below --host
}


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: Config
    sources: tuple[str, ...]  # files that contributed, in precedence order (lowest first)
    # For each setting a file set last, that file's folder: where its relative paths start.
    bases: Mapping[str, Path] = field(default_factory=dict)


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
    origins: dict[str, str] = {}  # the layer that set each key last: it is the one to fix
    sources: list[str] = []
    bases: dict[str, Path] = {}
    user_path = user_file if user_file is not None else user_config_path(env)
    for label, data, base in (
        (str(user_path), _read_yaml_file(user_path), user_path.parent),
        *_project_layers(project_root),
    ):
        if data is None:
            continue
        _check_keys(data, label)
        merged.update(data)
        origins.update(dict.fromkeys(data, label))
        bases.update(dict.fromkeys(data, base))
        sources.append(label)
    for variable, key in ENVIRONMENT_KEYS.items():
        value = env.get(variable)
        if value:
            merged[key] = value
            origins[key] = f"${variable}"
            bases.pop(key, None)
            sources.append(f"${variable}")
    for key, value in (overrides or {}).items():
        if value is not None:
            merged[key] = value
            origins[key] = "the command line"
            bases.pop(key, None)
    return LoadedConfig(config=validate(merged, origins), sources=tuple(sources), bases=bases)


def validate(merged: Mapping[str, Any], origins: Mapping[str, str] | None = None) -> Config:
    """The ``Config`` of merged settings, each checked by its field's check (in field order, so
    the first error is always the same one); ``ConfigError`` names the setting and, from
    ``origins``, where its value came from."""
    values: dict[str, Any] = {}
    for name, check in _CHECKS.items():
        if name not in merged:
            continue
        try:
            values[name] = check(merged[name])
        except ValueError as exc:
            origin = (origins or {}).get(name)
            where = f" (from {origin})" if origin else ""
            raise ConfigError(f"invalid setting '{name}'{where}: {exc}") from exc
    layers = {name: origin for name, origin in (origins or {}).items() if name in values}
    return Config(**values, given=frozenset(values), origins=layers)


def _project_layers(root: Path) -> list[tuple[str, dict[str, Any] | None, Path]]:
    layers: list[tuple[str, dict[str, Any] | None, Path]] = []
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
            layers.append((f"{pyproject} [tool.route]", section, root))
    layers.append((str(root / PROJECT_FILE), _read_yaml_file(root / PROJECT_FILE), root))
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
    unknown = _unknown_key(data, _CHECKS)
    if unknown:
        raise ConfigError(f"unknown setting {unknown} in {label}")


def _unknown_key(data: Mapping[str, Any], known: Mapping[str, object]) -> str | None:
    """``'key'`` (with a suggestion when one is close) for the first key not in ``known``."""
    for key in data:
        if key not in known:
            import difflib

            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f" — did you mean '{close[0]}'?" if close else ""
            return f"'{key}'{hint}"
    return None


# The checks: each returns the value to keep or raises ValueError saying what it must be.


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be text, not {value!r}")
    return value


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _choice(*options: str) -> Check:
    def check(value: object) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}, not {value!r}")
        return str(value)

    return check


def _number(value: object, kind: type[int] | type[float]) -> int | float:
    """An int or float from a number or a numeric string (YAML and TOML quote numbers at times);
    booleans are refused (``max_attempts: yes`` is a mistake, not 1)."""
    if isinstance(value, str):
        try:
            value = float(value.strip()) if kind is float else int(value.strip())
        except ValueError:
            raise ValueError(f"must be a number, not {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value!r}")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"must be a whole number, not {value!r}")
        return int(value)
    return float(value)


def _bounded(kind: type[int] | type[float], *, least: float | None = None,
             most: float | None = None, above: float | None = None) -> Check:  # fmt: skip
    def check(value: object) -> int | float:
        number = _number(value, kind)
        if least is not None and number < least:
            raise ValueError(f"must be at least {least:g}, not {number:g}")
        if above is not None and number <= above:
            raise ValueError(f"must be greater than {above:g}, not {number:g}")
        if most is not None and number > most:
            raise ValueError(f"must be at most {most:g}, not {number:g}")
        return number

    return check


def _think(value: object) -> ThinkMode:
    """A ``--think`` value; YAML reads a bare ``think: off`` as False and ``on`` as True."""
    if isinstance(value, bool):
        return "on" if value else "off"
    text = value.strip().lower() if isinstance(value, str) else None
    for mode in THINK_MODES:
        if text == mode:
            return mode
    raise ValueError(f"must be one of {', '.join(THINK_MODES)}, not {value!r}")


def _text_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"must be a list of text patterns, not {value!r}")
    return tuple(value)


def _mapping(value: object, what: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a mapping of {what}, not {value!r}")
    return value


_ENDPOINT_CHECKS: Mapping[str, Check] = {
    "url": _text,
    "backend": _choice(*BACKENDS),
    "api_key_env": _optional(_text),
    "context_size": _optional(_bounded(int, least=1)),
    "model": _optional(_text),
}


def _endpoints(value: object) -> dict[str, Endpoint]:
    endpoints: dict[str, Endpoint] = {}
    for name, spec in _mapping(value, "names to endpoints").items():
        where = f"endpoint '{name}'"
        entries = _mapping(spec, f"settings for {where}")
        unknown = _unknown_key(entries, _ENDPOINT_CHECKS)
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown}")
        if "url" not in entries:
            raise ValueError(f"{where} needs a url")
        checked: dict[str, Any] = {}
        for key, entry in entries.items():
            try:
                checked[key] = _ENDPOINT_CHECKS[key](entry)
            except ValueError as exc:
                raise ValueError(f"{where}: {key} {exc}") from exc
        endpoints[str(name)] = Endpoint(**checked)
    return endpoints


def _prices(value: object) -> dict[str, Mapping[str, Any]]:
    table = _mapping(value, "model names to prices")
    for name, entry in table.items():
        _mapping(entry, f"prices for '{name}'")
    return {str(name): entry for name, entry in table.items()}


def _ledger(value: object) -> str:
    """A ledger file or a postgresql:// URL, never one holding a password."""
    from route.accounting.location import check_ledger_setting

    return check_ledger_setting(_text(value))


def _ledger_url(value: object) -> str:
    """A team ledger's postgresql:// URL, never one holding a password."""
    from route.accounting.location import check_url

    return check_url(_text(value))


_CHECKS: Mapping[str, Check] = {
    "model": _text,
    "backend": _choice(*BACKENDS),
    "host": _optional(_text),
    "base_url": _optional(_text),
    "api_key_env": _optional(_text),
    "endpoint": _optional(_text),
    "endpoints": _endpoints,
    "context_size": _optional(_bounded(int, least=1)),
    "keep_alive": _optional(_text),
    "cloud_model": _text,
    "max_attempts": _bounded(int, least=1, most=10),
    "max_output_tokens": _bounded(int, least=64),
    "temperature": _bounded(float, least=0.0, most=2.0),
    "seed": _optional(_bounded(int)),
    "verify_command": _text,
    "verify_timeout": _bounded(float, above=0),
    "verify_output_tokens": _bounded(int, least=100),
    "fix_command": _optional(_text),
    "connect_timeout": _bounded(float, above=0),
    "read_timeout": _bounded(float, above=0),
    "protected": _text_list,
    "scrub_env": _text_list,
    "skills_dir": _optional(_text),
    "ledger": _optional(_ledger),
    "ledger_url": _optional(_ledger_url),
    "prices": _prices,
    "power_watts": _optional(_bounded(float, least=0)),
    "price_per_kwh": _optional(_bounded(float, least=0)),
    "parallel": _bounded(int, least=1, most=64),
    "think": _think,
    "thinking_output_tokens": _bounded(int, least=64),
}
