"""``route mcp``: route's tools for Claude Code (or any MCP client) over stdio.

Tools: ``generate`` (the ``route gen`` pipeline, returning the compact result and never the code
unless asked), ``list_skills``, ``show_skill``, ``recommend_models`` and ``cost_summary``. The
server is bound to the project root it was started in: generation writes only there (through the
same confined writer as the CLI, protected files included), context files and skill paths must
lie inside it, and settings come from its ``route.yaml``. ``RouteError`` messages come back as
tool errors, word for word. Every answer is one compact JSON text: each character is one the
orchestrator pays for.

This module imports the MCP SDK (the ``model-route[mcp]`` extra); ``route.cli.mcp`` imports it only
after checking the SDK is installed.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent

from route.errors import RouteError, RunFailed, SkillError, UsageError

if TYPE_CHECKING:
    from route.local_models.catalog import Estimate, Recommendation
    from route.local_models.hardware import Hardware
    from route.run.pipeline import GenOptions
    from route.settings.resolve import RunContext
    from route.values import Attempt, Completion

SERVER_NAME = "route"
# Progress while text streams: at most one notification per this many seconds.
PROGRESS_INTERVAL_SECONDS = 1.0
# recommend_models lists at most this many models that fit (best first).
RECOMMEND_LIMIT = 5
# The model server must answer /api/tags this fast for recommend_models to mark installed models.
TAGS_TIMEOUT_SECONDS = 3.0
BYTES_PER_GB = 1e9
# Run statuses reported as a plain tool error when the run wrote nothing.
FAILED_BEFORE_WRITING = ("error", "backend_error", "interrupted")
# How the MCP SDK starts the text of a tool error (what the orchestrator reads before the message).
TOOL_ERROR_PREFIX = "Error executing tool generate: "

INSTRUCTIONS = (
    "route hands pattern-following code generation to a local model. Call generate with a "
    "one-sentence task, the skill sections to follow (list_skills, e.g. scaffold#1,2,3,5: cite "
    "the conventions and the tests section) and context files; it writes the files in the "
    "project, runs verify, repairs, and returns a short JSON result without the code."
)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What the server is bound to, and its seams (tests inject hardware and clocks). Settings,
    the model server and the ledger come from the project's config and the process
    environment, as for ``route gen``."""

    project_root: Path
    detect_hardware: Callable[[], Hardware] | None = (
        None  # None: route.local_models.hardware.detect_hardware
    )
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    progress_interval_seconds: float = PROGRESS_INTERVAL_SECONDS


# --------------------------------------------------------------------------- server


def build_server(settings: ServerSettings) -> MCPServer:
    """The MCP server with route's five tools, bound to ``settings.project_root``."""
    server = MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, log_level="WARNING")
    settings = replace(settings, project_root=settings.project_root.resolve())

    @server.tool(structured_output=False)
    async def generate(
        *,
        context: Context,
        task: str,
        skill: list[str] | str | None = None,
        context_paths: list[str] | str | None = None,
        targets: list[str] | str | None = None,
        verify: bool = True,
        max_attempts: int | None = None,
        model: str | None = None,
        dry_run: bool = False,
        include_code: bool = False,
        think: str | None = None,
    ) -> CallToolResult:
        """Write code with the local model in this project, run verify, repair, and return a
        short JSON result (status, files created/changed/refused, verify tail on failure,
        attempts, local tokens, estimated saving) without the code unless include_code.
        skill: references such as "scaffold#1,2,3,5" (one string or a list). context_paths:
        files the model must see and may edit (globs allowed). targets: the files the answer
        must write (project paths; the answer starts with the first one's path, which keeps
        small models from rewriting a context file instead). dry_run: write nothing (the diff
        comes back with include_code)."""
        request = GenerateRequest(
            task=task,
            skills=_as_tuple(skill),
            context_paths=_as_tuple(context_paths),
            targets=_as_tuple(targets),
            verify=verify,
            max_attempts=max_attempts,
            model=model,
            dry_run=dry_run,
            include_code=include_code,
            think=think,
        )
        events = ProgressEvents(
            _progress_sender(context),
            clock=settings.monotonic,
            interval_seconds=settings.progress_interval_seconds,
        )
        work = functools.partial(run_generate, settings, request, events=events)
        report = await _in_thread(work)
        return CallToolResult(
            content=[TextContent(type="text", text=compact_json(report))],
            is_error=report.get("exit_code", 0) != 0,
        )

    @server.tool(structured_output=False)
    async def list_skills() -> str:
        """The skills of this project (and ~/.claude/skills): name, description, section
        titles to cite as NAME#N, and path."""
        return compact_json(await _in_thread(functools.partial(skills_listing, settings)))

    @server.tool(structured_output=False)
    async def show_skill(ref: str) -> str:
        """Exactly the text a skill reference (e.g. "scaffold#3") sends to the local model,
        with its token estimate."""
        return compact_json(await _in_thread(functools.partial(skill_excerpt, settings, ref)))

    @server.tool(structured_output=False)
    async def recommend_models(context: int = 16384) -> str:
        """Local coding models that fit this machine for `context` tokens, best first, with
        estimated speed and whether each is installed."""
        work = functools.partial(model_recommendations, settings, context)
        return compact_json(await _in_thread(work))

    @server.tool(structured_output=False)
    async def cost_summary(
        since: str = "30d", by: str | None = None, all_projects: bool = False
    ) -> str:
        """What delegation saved, from route's ledger: runs, success rate, local tokens,
        estimated cloud cost avoided, net saving. since: 7d, 12h, 2w, a date or "all";
        by: day, week, month, model, skill, project or status. This project only unless
        all_projects."""
        work = functools.partial(cost_figures, settings, since, by, all_projects=all_projects)
        return compact_json(await _in_thread(work))

    return server


def serve(settings: ServerSettings) -> None:
    """Run the server on stdin/stdout until the client closes it."""
    build_server(settings).run("stdio")


async def _in_thread(work: Callable[[], Any]) -> Any:
    """Run blocking route code in a worker thread; ``RouteError`` becomes a tool error with
    the same message as the CLI prints."""
    try:
        return await anyio.to_thread.run_sync(work)
    except RouteError as error:
        raise ToolError(str(error)) from error


def _progress_sender(context: Context) -> Callable[[float, str], None]:
    """A function the worker thread calls to send one progress notification."""

    def send(progress: float, message: str) -> None:
        try:
            anyio.from_thread.run(context.report_progress, progress, None, message)
        except Exception:  # progress is best effort: a client gone must not break the run
            return

    return send


def compact_json(value: Any) -> str:
    """One line of JSON without spaces: what the orchestrator reads (and pays for)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _as_tuple(value: Sequence[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    return tuple(item for item in value if item.strip())


# --------------------------------------------------------------------------- progress


class ProgressEvents:
    """``RunEvents`` that become MCP progress notifications: tokens so far and tokens/s.

    While text streams, one notification per ``interval_seconds`` at most; every step (attempt
    started, generation finished, verify started, attempt finished, notices) sends one. The
    progress value counts streamed chunks (≈ tokens) plus steps, so it always increases, as
    the protocol requires; the message carries the figures.
    """

    def __init__(
        self,
        send: Callable[[float, str], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        interval_seconds: float = PROGRESS_INTERVAL_SECONDS,
    ) -> None:
        self._send = send
        self._clock = clock
        self._interval = interval_seconds
        self._progress = 0
        self._tokens = 0
        self._thinking = 0
        self._label = "attempt 1"
        self._started = clock()
        self._last_sent: float | None = None

    def attempt_started(self, number: int, total: int) -> None:
        self._label = f"attempt {number}/{total}"
        self._tokens = 0
        self._thinking = 0
        self._started = self._clock()
        self._step(f"{self._label}: generating")

    def text(self, chunk: str) -> None:
        self._tokens += 1
        self._progress += 1
        now = self._clock()
        if self._last_sent is None or now - self._last_sent >= self._interval:
            self._emit(f"{self._label}: {self._tokens} tokens, {self._rate(now):.1f} tokens/s")

    def thinking(self, chunk: str) -> None:
        """Reasoning counts as progress; its text is never sent."""
        self._thinking += 1
        self._progress += 1
        now = self._clock()
        if self._last_sent is None or now - self._last_sent >= self._interval:
            self._emit(f"{self._label}: thinking, {self._thinking} tokens")

    def generation_finished(self, completion: Completion) -> None:
        usage = completion.usage
        tokens = usage.output_tokens or self._tokens
        rate = usage.tokens_per_second or self._rate(self._clock())
        self._step(f"{self._label}: generated {tokens} tokens, {rate:.1f} tokens/s")

    def verify_started(self, command: str) -> None:
        self._step(f"{self._label}: running {command}")

    def attempt_finished(self, attempt: Attempt) -> None:
        outcome = "done" if attempt.failure is None else attempt.failure
        self._step(f"{self._label}: {outcome}")

    def notice(self, message: str) -> None:
        self._step(message)

    def _rate(self, now: float) -> float:
        elapsed = now - self._started
        return self._tokens / elapsed if elapsed > 0 else 0.0

    def _step(self, message: str) -> None:
        self._progress += 1
        self._emit(message)

    def _emit(self, message: str) -> None:
        self._last_sent = self._clock()
        self._send(float(self._progress), message)


# --------------------------------------------------------------------------- generate


@dataclass(frozen=True, slots=True)
class GenerateRequest:
    """The arguments of one ``generate`` call."""

    task: str
    skills: tuple[str, ...] = ()
    context_paths: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    verify: bool = True
    max_attempts: int | None = None
    model: str | None = None
    dry_run: bool = False
    include_code: bool = False
    think: str | None = None  # None: the config's think (auto unless set)

    def command_text(self) -> str:
        """What the orchestrator wrote to ask for this run (its hand-off output, for costs)."""
        arguments: dict[str, Any] = {"task": self.task}
        if self.skills:
            arguments["skill"] = list(self.skills)
        if self.context_paths:
            arguments["context_paths"] = list(self.context_paths)
        if self.targets:
            arguments["targets"] = list(self.targets)
        for name in ("max_attempts", "model", "think"):
            if getattr(self, name) is not None:
                arguments[name] = getattr(self, name)
        for name, default in (("verify", True), ("dry_run", False), ("include_code", False)):
            if getattr(self, name) != default:
                arguments[name] = getattr(self, name)
        return compact_json({"name": "generate", "arguments": arguments})


def run_generate(
    settings: ServerSettings, request: GenerateRequest, *, events: ProgressEvents | None = None
) -> dict[str, Any]:
    """Run one delegation in the project and return its compact report: ``route gen --json``'s
    shape without the repeated verify output (``slim_report``) and without code unless asked.

    Raises ``RouteError`` for what stops a run before it starts (bad settings, an unknown skill
    or section, a context file or skill path outside the project) and for a run that failed
    without writing anything (the model server down, say): the orchestrator reads one line.
    A run that wrote files always ends in a report, whatever its status.
    """
    from route.accounting.pricing import load_prices
    from route.backends.configured import backend_for
    from route.run.finish import check_destinations, finish
    from route.run.pipeline import prepare, run_generation
    from route.run.report import report_json
    from route.settings.locations import route_home

    overrides = {
        "model": request.model,
        "max_attempts": request.max_attempts,
        "think": request.think,
    }
    context = _context(settings, overrides)
    config = context.config
    options = generation_options(context, request, lock_home=route_home())
    check_skill_references(options.skill_refs, context.project_root, context.skill_dirs())
    prepared = prepare(options)  # unknown skills, sections, context files: a tool error
    load_prices(config.prices).get(config.cloud_model)  # no silent $0: fail before generating
    check_destinations(options, config)  # a read-only ledger or ROUTE_HOME: before, not after
    result = run_generation(options, lambda: backend_for(config), events=events, prepared=prepared)
    failed = result.status in FAILED_BEFORE_WRITING and not (result.created or result.changed)
    # A run that failed before writing answers with its message alone: that is all it costs
    # the orchestrator to read.
    report = finish(
        result,
        config,
        command_text=request.command_text(),
        summary_characters=len(TOOL_ERROR_PREFIX) + len(result.message) if failed else None,
    )
    if failed:
        raise RunFailed(result.message, result.exit_code)
    # A dry run's diff is code too: shown only when code is asked for.
    shown = report_json(
        report, include_code=request.include_code, include_diff=request.include_code
    )
    return slim_report(shown)


def slim_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what it repeats: each attempt's verify keeps its verdict but not the
    command and output tail (the final ones are in ``verify``; each attempt's ``failure`` says
    why it failed). A failed three-attempt run reads about half as many characters."""
    attempts = []
    for attempt in report.get("attempts", []):
        verify = attempt.get("verify")
        if isinstance(verify, dict):
            verdict = {k: v for k, v in verify.items() if k not in ("command", "output_tail")}
            attempts.append({**attempt, "verify": verdict})
        else:
            attempts.append(attempt)
    return {**report, "attempts": attempts}


def generation_options(
    context: RunContext, request: GenerateRequest, *, lock_home: Path | None
) -> GenOptions:
    """The pipeline options for ``request`` in the context's project, as ``route gen`` would
    build them (never --force, never --allow: protected files stay protected)."""
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
        RunChoices(verify=request.verify, dry_run=request.dry_run),
        task=request.task,
        skill_refs=request.skills,
        context_patterns=request.context_paths,
        targets=request.targets,
        lock_home=lock_home,
    )


def _context(settings: ServerSettings, flags: Mapping[str, Any] | None = None) -> RunContext:
    """The resolved settings in the server's project (its root is also the current folder)."""
    from route.settings.resolve import resolve_context

    root = settings.project_root
    return resolve_context(root, root=root, flags=flags)


def check_skill_references(refs: Sequence[str], root: Path, dirs: Sequence[Path]) -> None:
    """Refuse a skill reference that is a path outside the project and the skill folders (the
    server reads only what the project and the user's skill folders hold)."""
    allowed = (root.resolve(), *(directory.resolve() for directory in dirs))
    for ref in refs:
        target = ref.strip().rpartition("#")[0] if "#" in ref else ref.strip()
        if not ("/" in target or os.sep in target or target.lower().endswith(".md")):
            continue
        path = Path(target).expanduser()
        resolved = (path if path.is_absolute() else root / path).resolve()
        if not any(resolved.is_relative_to(base) for base in allowed):
            raise SkillError(
                f"skill reference '{ref}' points outside the project {root} — copy the skill "
                "into .skills/<name>/SKILL.md or cite it by name"
            )


# --------------------------------------------------------------------------- skills


def skills_listing(settings: ServerSettings) -> dict[str, Any]:
    """Every skill found from the project root: what ``list_skills`` returns."""
    from route.prompting.skills import discover_skills_with_problems

    root = settings.project_root
    found, problems = discover_skills_with_problems(_context(settings).skill_dirs())
    return {
        "skills": [
            {
                "name": skill.name,
                "description": skill.description,
                "sections": [section.title for section in skill.sections],
                "path": _display_path(skill.path, root),
            }
            for skill in found
        ],
        "problems": list(problems),
    }


def skill_excerpt(settings: ServerSettings, ref: str) -> dict[str, Any]:
    """What ``ref`` sends to the local model: what ``show_skill`` returns."""
    from route.prompting.skills import resolve_reference
    from route.prompting.tokens import estimate_tokens

    root = settings.project_root
    dirs = _context(settings).skill_dirs()
    check_skill_references((ref,), root, dirs)
    excerpt = resolve_reference(ref, dirs, root)
    return {
        "ref": excerpt.ref,
        "skill": excerpt.skill.name,
        "path": _display_path(excerpt.skill.path, root),
        "sections": [section.title for section in excerpt.sections],
        "estimated_tokens": estimate_tokens(excerpt.text),
        "text": excerpt.text,
        "warnings": list(excerpt.warnings),
    }


def _display_path(path: Path, root: Path) -> str:
    """Relative to the project root when inside it, else absolute."""
    absolute = path.absolute()
    return absolute.relative_to(root).as_posix() if absolute.is_relative_to(root) else str(path)


# --------------------------------------------------------------------------- models


def model_recommendations(settings: ServerSettings, context_tokens: int) -> dict[str, Any]:
    """The catalog's models ranked for this machine: what ``recommend_models`` returns."""
    from route.local_models.catalog import PlanSettings, load_catalog, recommend
    from route.local_models.hardware import detect_hardware

    if context_tokens < 512:
        raise UsageError(f"context {context_tokens} is too small — plan for at least 512 tokens")
    detect = settings.detect_hardware or detect_hardware
    hardware = detect()
    installed, problem = installed_models(settings)
    result = recommend(
        load_catalog(), hardware, PlanSettings(context_tokens=context_tokens), installed
    )
    return recommendation_dict(result, installed_known=problem is None, problem=problem)


def installed_models(settings: ServerSettings) -> tuple[frozenset[str], str | None]:
    """Model names from the Ollama server's ``/api/tags``, or why they could not be read."""
    from route.backends.factory import make_client
    from route.backends.ollama_admin import list_installed
    from route.errors import BackendError
    from route.settings.resolve import ollama_server

    base_url, api_key = ollama_server(_context(settings).config)
    try:
        with make_client(
            connect_timeout=TAGS_TIMEOUT_SECONDS, read_timeout=TAGS_TIMEOUT_SECONDS
        ) as client:
            models = list_installed(client, base_url, api_key=api_key)
    except BackendError as error:
        return frozenset(), str(error)
    return frozenset(model.name for model in models), None


def recommendation_dict(
    result: Recommendation, *, installed_known: bool, problem: str | None = None
) -> dict[str, Any]:
    """A short form of a recommendation: the models that fit, best first."""
    top = result.top
    fitting = [e for e in result.estimates if e.fit != "does_not_fit" and not e.unsuitable]
    hardware = result.hardware
    data: dict[str, Any] = {
        "top": top.model.tag if top else None,
        "pull_command": f"ollama pull {top.model.tag}" if top and not top.installed else None,
        "hardware": {
            "gpus": [
                {"name": gpu.name, "memory_gb": _gigabytes(gpu.memory_bytes)}
                for gpu in hardware.gpus
            ],
            "ram_gb": _gigabytes(hardware.ram_total_bytes),
        },
        "context_tokens": result.settings.context_tokens,
        "models": [_estimate_dict(estimate) for estimate in fitting[:RECOMMEND_LIMIT]],
        "more_that_fit": max(0, len(fitting) - RECOMMEND_LIMIT),
        "unsuitable": [
            {"tag": e.model.tag, "why": e.unsuitable} for e in result.estimates if e.unsuitable
        ],
        "installed_known": installed_known,
        "catalog_date": result.catalog_date,
        "speeds": "estimates from memory bandwidth",
    }
    if problem is not None:
        data["installed_problem"] = problem
    return data


def _estimate_dict(estimate: Estimate) -> dict[str, Any]:
    speed = estimate.tokens_per_second
    return {
        "tag": estimate.model.tag,
        "quality": estimate.model.quality_tier,
        "fit": estimate.fit,
        "fits_well": estimate.fits_well,
        "memory_gb": _gigabytes(estimate.total_bytes),
        "tokens_per_second": [round(speed[0]), round(speed[1])] if speed else None,
        "installed": estimate.installed,
    }


def _gigabytes(value: int | None) -> float | None:
    return round(value / BYTES_PER_GB, 1) if value is not None else None


# --------------------------------------------------------------------------- costs


def cost_figures(
    settings: ServerSettings, since: str, by: str | None, *, all_projects: bool = False
) -> dict[str, Any]:
    """The ledger's totals for a period (this project unless ``all_projects``): what
    ``cost_summary`` returns."""
    from route.accounting import costs
    from route.accounting.pricing import load_prices

    context = _context(settings)
    root, config = context.project_root, context.config
    table = load_prices(config.prices)
    period = costs.parse_period(since, None, now=settings.clock())
    if by is not None and by not in costs.GROUPINGS:
        raise UsageError(f"cannot group by {by!r} — use one of {', '.join(costs.GROUPINGS)}")
    project = None if all_projects else str(root)
    records = costs.read_runs(
        context.ledger_path, since=period.since, until=period.until, project=project
    )
    priced = costs.price_runs(
        records, table, power_watts=config.power_watts, price_per_kwh=config.price_per_kwh
    )
    summary = costs.summarize(priced, prices_date=table.date, period=period, by=by, project=project)
    return summary.to_dict()
