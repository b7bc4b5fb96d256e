"""The ``generate`` tool's work: one delegation in the server's project, as ``route gen``
would run it, with a cancel hook, returning the compact result (``results.py``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from route.errors import RunFailed, UsageError

if TYPE_CHECKING:
    from route.mcp.server import ProgressEvents, ServerSettings
    from route.run.pipeline import GenOptions
    from route.settings.resolve import RunContext

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
    think: str | None = None  # None: the configured think (auto unless route.yaml sets it)
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


class RunEndedEarly(RunFailed):
    """A run that failed before writing anything, with its status for the structured error."""

    def __init__(self, message: str, exit_code: int, status: str) -> None:
        super().__init__(message, exit_code)
        self.status = status


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
    or section, a context file or skill path outside the project) and ``RunEndedEarly`` for a
    run that failed without writing anything (the model server down, say): the orchestrator
    reads one line. A run that wrote files always ends in a result, whatever its status.
    ``cancel``: the client cancelled the call; the run stops and puts the project back.
    """
    from route.accounting.pricing import load_prices
    from route.backends.configured import backend_for
    from route.mcp.queries import check_skill_references, run_context
    from route.mcp.results import compact_result, compact_text, detailed_result
    from route.mcp.wording import for_mcp
    from route.run.finish import check_destinations, finish
    from route.run.pipeline import prepare, run_generation
    from route.run.report import report_json
    from route.settings.locations import route_home

    flags = {
        "model": request.model,
        "max_attempts": request.max_attempts,
        "verify_command": request.verify_command,
        "think": request.think,
    }
    context = run_context(settings, flags)
    config = context.config
    options = generation_options(context, request, lock_home=route_home())
    check_skill_references(options.skill_refs, context.project_root, context.skill_dirs())
    prepared = prepare(options)  # unknown skills, sections, context files: a tool error
    load_prices(config.prices).get(config.cloud_model)  # no silent $0: fail before generating
    check_destinations(options, config)  # a read-only ledger or ROUTE_HOME: before, not after
    result = run_generation(
        options, lambda: backend_for(config), events=events, prepared=prepared, cancel=cancel
    )
    failed = result.status in FAILED_BEFORE_WRITING and not (result.created or result.changed)
    # The hand-off is what the orchestrator reads: the compact answer, or for a run that
    # failed before writing its one-line message; priced at its real size.
    answer = for_mcp(result.message) if failed else compact_text(compact_result(result))
    report = finish(
        result, config, command_text=request.command_text(), summary_characters=len(answer)
    )
    if failed:
        raise RunEndedEarly(result.message, result.exit_code, result.status)
    if request.detail:
        full = report_json(report, include_code=request.include_code, include_diff=True)
        return detailed_result(full), result.exit_code != 0
    data = compact_result(report.result, diff=report.diff)
    if request.include_code:
        data["code"] = report_json(report, include_code=True)["code"]
    return data, result.exit_code != 0


def generation_options(
    context: RunContext, request: GenerateRequest, *, lock_home: Path | None
) -> GenOptions:
    """The pipeline options for ``request`` in the context's project, as ``route gen`` would
    build them (never force, never allow: protected files stay protected)."""
    from route.run.options import RunChoices, gen_options

    if not request.task.strip():
        raise UsageError("the task is empty: say what to write, e.g. 'service for Projects'")
    if not request.skills and not request.context_paths:
        raise UsageError(
            "give the model something to follow: skill (e.g. 'scaffold#1,2,3,5', see "
            "list_skills) and/or context_paths"
        )
    return gen_options(
        context,
        RunChoices(verify=request.verify, dry_run=request.dry_run, rollback=request.rollback),
        task=request.task,
        skill_refs=request.skills,
        context_patterns=request.context_paths,
        targets=request.targets,
        lock_home=lock_home,
    )
