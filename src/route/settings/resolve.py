"""The one settings resolver: flags, environment, project and user config -> a frozen run context.

Every command (gen, batch, skills, models, init, cost) and the MCP server ask this module for
the project root, the skill folders, the ledger, the model and which server to talk to, so a
setting means the same everywhere:

- the project root is ``--project`` or the nearest marked folder above the current directory;
- a relative path in a config file (``skills_dir``, ``ledger``) is relative to the folder of the
  file that set it (``route.yaml`` and ``pyproject.toml``: the project root; the user config:
  its folder); a relative path given as a flag is relative to the current directory; a relative
  ``$ROUTE_LEDGER`` is relative to the project root;
- the server is the named ``endpoint`` when one is set (its URL, kind, key variable, context
  size), else ``backend``, ``host`` / ``base_url`` and ``api_key_env`` (``resolve_server``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from route.settings.config import Backend, Config

# Settings that hold a path: a relative one is resolved where it was set.
PATH_SETTINGS = ("skills_dir", "ledger")


@dataclass(frozen=True, slots=True)
class Server:
    """The model server a run talks to, resolved from the config (URLs normalized)."""

    kind: Backend  # auto, ollama or openai
    ollama_url: str  # the Ollama server (also for the admin calls of `route models`)
    openai_url: str | None  # an OpenAI-compatible base URL, when one is configured
    api_key: str | None
    context_size: int | None

    @property
    def is_openai(self) -> bool:
        """True when the run talks the OpenAI protocol for sure (auto with a base URL too)."""
        return self.kind == "openai" or (self.kind == "auto" and self.openai_url is not None)


@dataclass(frozen=True, slots=True)
class RunContext:
    """Everything a command needs to know about where and how it runs. ``config`` has its path
    settings (``skills_dir``, ``ledger``) made absolute where they were set."""

    config: Config
    project_root: Path
    cwd: Path
    sources: tuple[str, ...]  # the config files and variables that contributed
    skills_dir: Path | None
    model: str  # the named endpoint's model unless a model was set explicitly
    env: Mapping[str, str] | None = field(default=None, repr=False)  # None: os.environ

    @property
    def ledger_path(self) -> Path:
        """``--ledger`` or the config's ``ledger`` (made absolute where it was set), else the
        ledger in route's home. Worked out when asked: commands that never touch the ledger
        (``skills``, ``models``) do not load sqlite3 at start-up."""
        from route.accounting.location import resolve_ledger_path

        return resolve_ledger_path(
            None, self.config.ledger, project_root=self.project_root, env=self.env
        )

    @property
    def verify_command(self) -> str:
        return self.config.verify_command

    @property
    def protected(self) -> tuple[str, ...]:
        """Every protected path pattern: the built-in ones and the config's."""
        from route.safety.path_rules import DEFAULT_PROTECTED

        return (*DEFAULT_PROTECTED, *self.config.protected)

    def skill_dirs(self) -> tuple[Path, ...]:
        """The skill folders in search order, from ``cwd`` (``SkillError`` when the configured
        ``skills_dir`` does not exist)."""
        from route.prompting.skills import skill_search_dirs

        return skill_search_dirs(self.cwd, self.skills_dir)

    def server(self, env: Mapping[str, str] | None = None) -> Server:
        return resolve_server(self.config, env)


def project_root_for(cwd: Path, project: Path | None) -> Path:
    """``project`` (a ``UsageError`` when it is not a folder), else the root found from ``cwd``."""
    from route.errors import UsageError
    from route.settings.config import find_project_root

    if project is not None:
        if not project.is_dir():
            raise UsageError(f"--project {project} is not a directory")
        return project.resolve()
    return find_project_root(cwd)


def resolve_context(
    cwd: Path,
    *,
    project: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    user_file: Path | None = None,
    root: Path | None = None,
) -> RunContext:
    """The run context for a command started in ``cwd``. ``flags`` are config keys the command
    line set (``None``: not given); ``root`` skips the project search (the MCP server's root)."""
    from route.settings.config import load_config

    environment = os.environ if env is None else env
    project_root = root if root is not None else project_root_for(cwd, project)
    given = dict(flags or {})
    flag_ledger = given.get("ledger")
    if flag_ledger is not None and not _is_team_ledger(str(flag_ledger)):
        # a flag's relative path: relative to where it was typed
        given["ledger"] = str(_absolute(str(flag_ledger), cwd))
    # (a relative --skills-dir stays as typed, so its messages show it so: the process runs
    # in ``cwd``, which is where it is relative to)
    loaded = load_config(project_root, env=environment, user_file=user_file, overrides=given)
    config = loaded.config
    config = replace(
        config,
        skills_dir=_where_set(config.skills_dir, loaded.bases.get("skills_dir")),
        ledger=(
            config.ledger
            if config.ledger and _is_team_ledger(config.ledger)  # a URL, not a path
            else _where_set(config.ledger, loaded.bases.get("ledger"))
        ),
    )
    return RunContext(
        config=config,
        project_root=project_root,
        cwd=cwd,
        sources=loaded.sources,
        skills_dir=Path(config.skills_dir).expanduser() if config.skills_dir else None,
        model=configured_model(config),
        env=environment,
    )


def _is_team_ledger(value: str) -> bool:
    from route.accounting.location import is_database_url

    return is_database_url(value)


def _where_set(value: str | None, base: Path | None) -> str | None:
    """A path setting made absolute against the folder of the file that set it (``base``);
    unchanged when a flag or variable set it."""
    return str(_absolute(value, base)) if value and base is not None else value


def _absolute(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def configured_model(config: Config) -> str:
    """The model of the named endpoint unless a model was set explicitly."""
    if config.endpoint and config.endpoint in config.endpoints:
        named = config.endpoints[config.endpoint].model
        if named and "model" not in config.given:
            return named
    return config.model


def resolve_server(config: Config, env: Mapping[str, str] | None = None) -> Server:
    """Which server the config names, with its API key: the named ``endpoint`` when one is set,
    else ``backend``, ``host``, ``base_url`` and ``api_key_env``. ``ConfigError`` for an unknown
    endpoint or an ``api_key_env`` that is not set."""
    from route.backends.hosts import ollama_base_url, openai_base_url
    from route.errors import ConfigError

    environment = os.environ if env is None else env
    kind, key_env, context_size = config.backend, config.api_key_env, config.context_size
    ollama_setting, base_url = config.host, config.base_url
    host_layer = setting_name(config, "host", flag="--host", variable="OLLAMA_HOST")
    base_url_layer = setting_name(config, "base_url", flag="--base-url", variable="ROUTE_BASE_URL")
    if config.endpoint:
        if config.endpoint not in config.endpoints:
            known = ", ".join(sorted(config.endpoints)) or "none configured"
            raise ConfigError(f"unknown endpoint '{config.endpoint}' (known: {known})")
        named = config.endpoints[config.endpoint]
        kind = named.backend
        key_env = named.api_key_env or key_env
        context_size = named.context_size or context_size
        where = f"the url of endpoint '{config.endpoint}'"
        if kind == "ollama":
            ollama_setting, host_layer = named.url, where
        else:
            base_url, base_url_layer = named.url, where
    api_key = None
    if key_env:
        api_key = environment.get(key_env)
        if not api_key:
            raise ConfigError(f"api_key_env names ${key_env}, but it is not set: export it")
    elif kind != "openai":
        api_key = environment.get("OLLAMA_API_KEY") or None
    return Server(
        kind=kind,
        ollama_url=ollama_base_url(ollama_setting, host_layer),
        openai_url=openai_base_url(base_url, base_url_layer) if base_url else None,
        api_key=api_key,
        context_size=context_size,
    )


def setting_name(config: Config, key: str, *, flag: str, variable: str) -> str:
    """How a message names the layer that set ``key``: its flag (``--host``), its variable
    (``OLLAMA_HOST``), or ``host in /path/route.yaml``; the variable when nothing set it."""
    origin = config.origins.get(key)
    if origin is None:
        return variable
    if origin == "the command line":
        return flag
    if origin.startswith("$"):
        return origin[1:]
    return f"{key} in {origin}"


def ollama_server(
    config: Config, host: str | None = None, env: Mapping[str, str] | None = None
) -> tuple[str, str | None]:
    """``(URL, API key)`` of the Ollama server for its admin calls (``route models``, the MCP
    server's installed models, ``route init``'s check): ``host`` (``--host``) when given, else
    the configured server (``resolve_server``); an OpenAI endpoint leaves the Ollama ``host``."""
    from route.backends.hosts import ollama_base_url

    environment = os.environ if env is None else env
    if host is not None:
        return ollama_base_url(host, "--host"), environment.get("OLLAMA_API_KEY") or None
    server = resolve_server(config, environment)
    if server.kind == "openai":
        return server.ollama_url, environment.get("OLLAMA_API_KEY") or None
    return server.ollama_url, server.api_key
