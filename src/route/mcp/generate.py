"""The ``generate`` tool's work: one delegation in the server's project, as ``route gen``
would run it, with a cancel hook, returning the compact result (``results.py``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from route.errors import RouteError, UsageError

if TYPE_CHECKING:
    from route.mcp.server import ProgressEvents, ServerSettings
    from route.run.pipeline import GenOptions
    from route.settings.config import Config

# Run statuses reported as a plain tool error when the run wrote nothing.
FAILED_BEFORE_WRITING = ("error", "backend_error", "interrupted", "cancelled")


@dataclass(frozen=True, slots=True)
class GenerateRequest:
    """The arguments of one ``generate`` call (already checked against the tool's schema)."""

    task: str
    skills: tuple[str, ...] = ()
    context_paths: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    verify: bool = True
    verify_command: str | None = None
    rollback: bool = False
    max_attempts: int | None = None
    model: str | None = None
    think: str = "auto"
    dry_run: bool = False
    include_code: bool = False
    detail: bool = False

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any]) -> GenerateRequest:
        values = dict(arguments)
        for name, field_name in (
            ("skill", "skills"),
            ("context_paths", "context_paths"),
            ("targets", "targets"),
        ):
            values[field_name] = _as_tuple(values.pop(name, None))
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    def command_text(self) -> str:
        """What the orchestrator wrote to ask for this run (its hand-off output, for costs)."""
        arguments: dict[str, Any] = {"task": self.task}
        if self.skills:
            arguments["skill"] = list(self.skills)
        if self.context_paths:
            arguments["context_paths"] = list(self.context_paths)
        if self.targets:
            arguments["targets"] = list(self.targets)
        defaults = GenerateRequest(task="")
        for name in (
            "verify",
            "verify_command",
            "rollback",
            "max_attempts",
            "model",
            "think",
            "dry_run",
            "include_code",
            "detail",
        ):
            if getattr(self, name) != getattr(defaults, name):
                arguments[name] = getattr(self, name)
        return json.dumps(
            {"name": "generate", "arguments": arguments},
            separators=(",", ":"),
            ensure_ascii=False,
        )


def _as_tuple(value: Sequence[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    return tuple(item for item in value if item.strip())


class RunFailed(RouteError):
    """A run ended in an error before writing anything; the message says what to do."""

    def __init__(self, message: str, exit_code: int, status: str, run_id: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.status = status
        self.run_id = run_id


def run_generate(
    settings: ServerSettings,
    request: GenerateRequest,
    *,
    events: ProgressEvents | None = None,
    cancel: threading.Event | None = None,
) -> tuple[dict[str, Any], bool]:
    """Run one delegation in the project; return its result for the orchestrator and whether
    it is a failure.

    Raises ``RouteError`` for what stops a run before it starts (bad settings, an unknown skill
    or section, a context file or skill path outside the project) and ``RunFailed`` for a run
    that failed without writing anything (the model server down, say): the orchestrator reads
    one line. A run that wrote files always ends in a result, whatever its status.
    """
    from route.accounting.pricing import load_prices
    from route.backends.configured import backend_for
    from route.mcp.results import compact_result, detailed_result
    from route.run.delegate import finish
    from route.run.pipeline import prepare, run_generation
    from route.settings.config import load_config
    from route.settings.locations import route_home

    root = settings.project_root
    overrides = {
        "model": request.model,
        "max_attempts": request.max_attempts,
        "verify_command": request.verify_command,
    }
    config = load_config(root, overrides=overrides).config
    options = generation_options(config, request, root, lock_home=route_home())
    queries_check(options, root, config)
    prepared = prepare(options)  # unknown skills, sections, context files: a tool error
    load_prices(config.prices).get(config.cloud_model)  # no silent $0: fail before generating
    result = run_generation(
        options, lambda: backend_for(config), events=events, prepared=prepared, cancel=cancel
    )
    result, report = finish(
        result, config, command_text=request.command_text(), include_code=request.include_code
    )
    if result.status in FAILED_BEFORE_WRITING and not (result.created or result.changed):
        raise RunFailed(result.message, result.exit_code, result.status, result.run_id)
    if request.detail:
        data = detailed_result(report, include_code=request.include_code)
    else:
        data = compact_result(result, report, include_code=request.include_code)
    return data, result.exit_code != 0


def queries_check(options: GenOptions, root: Path, config: Config) -> None:
    from route.mcp.queries import check_skill_references, skill_dirs

    check_skill_references(options.skill_refs, root, skill_dirs(root, config))


def generation_options(
    config: Config, request: GenerateRequest, root: Path, *, lock_home: Path | None
) -> GenOptions:
    """The pipeline options for ``request`` in ``root``, as ``route gen`` would build them
    (never force, never allow: protected files stay protected)."""
    from route.mcp.queries import skills_dir
    from route.run.options import RunChoices, configured_model, gen_options

    if not request.task.strip():
        raise UsageError("the task is empty: say what to write, e.g. 'service for Projects'")
    if not request.skills and not request.context_paths:
        raise UsageError(
            "give the model something to follow: skill (e.g. 'scaffold#1,2,3,5', see "
            "list_skills) and/or context_paths"
        )
    return gen_options(
        config,
        RunChoices(verify=request.verify, dry_run=request.dry_run, rollback=request.rollback),
        task=request.task,
        skill_refs=request.skills,
        context_patterns=request.context_paths,
        targets=request.targets,
        project_root=root,
        cwd=root,
        model=configured_model(config),
        skills_dir=skills_dir(root, config),
        lock_home=lock_home,
    )
