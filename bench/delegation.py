"""Delegation success: real tasks on the example project, through `route gen` with the real
Qwen2.5-Coder-1.5B on llama-server, against a naive single-shot baseline, in the same run.

Each task starts from a fresh copy of examples/projects-api plus the reference files of the
layers it builds on (bench/acceptance/reference/), so tasks are independent of each other. A task
passes when the project's `make verify` passes **and** the acceptance tests kept here
(bench/acceptance/test_accept_*.py, never shown to the model) pass against the result.

- route: `route gen TASK -s SECTIONS [-c CONTEXT] --target FILE --json`, the context being the
  files the new code must fit (what it imports from earlier layers) and the file it edits, the
  target the task's file, as the routing skill tells the orchestrator to pass them (verify + up
  to 3 attempts), through a
  recording proxy that keeps llama.cpp's per-request timings (prompt tokens evaluated / reused).
  "First attempt" = it passed with a single attempt; "after repair" = it passed at all.
- baseline (what simpler delegation tools do): one request with the whole SKILL.md and the task,
  no context files, no verify loop; the first fenced code block is written to the task's one
  target file; then the same `make verify` and acceptance tests decide.

Both use temperature 0, seed 1 and the same output budget. A time budget bounds the part: tasks
not started within it are reported as not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    EXAMPLE_PROJECT,
    REPOSITORY_ROOT,
    BenchError,
    Goal,
    PartResult,
    copy_example,
    load_average,
    measure,
    route_command,
    route_environment,
    venv_python,
)
from bench.llama import QWEN_CODER, bare_chat, runtime_error_types, server
from bench.servers import RecordingProxy, sse_timings
from bench.stats import percent, ratio

ACCEPTANCE = REPOSITORY_ROOT / "bench" / "acceptance"
REFERENCE = ACCEPTANCE / "reference"
CONTEXT_SIZE = 16384
GOAL_PASS_PERCENT = 80.0
GOAL_TIMES_BASELINE = 3.0
PROJECT_FIELDS = (
    "a Project has name (str, required, at most 100 characters), owner_id (int, required, "
    "at least 1: the id of the user who owns it) and archived (bool, default False)"
)
TASK_FIELDS = (
    "a Task has title (str, required, at most 200 characters), project_id (int, required, "
    "at least 1: the project it belongs to) and done (bool, default False)"
)
FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n(.*?)```", re.DOTALL)
BASELINE_SYSTEM = "You are an expert Python developer. Follow the conventions you are given."


@dataclass(frozen=True, slots=True)
class Task:
    """One delegation task: what route is asked, what exists first, what must pass after."""

    key: str
    text: str
    skills: tuple[str, ...]
    target: str  # the one file the baseline writes
    acceptance: str  # file name under bench/acceptance/
    prerequisites: tuple[str, ...] = ()  # reference files copied in first
    context: tuple[str, ...] = ()  # -c files for route: what the new code imports or edits

    def section_label(self) -> str:
        return ",".join(self.skills)


MODEL_P, SCHEMA_P, SERVICE_P, ROUTES_P = (
    "app/models/project.py",
    "app/schemas/project.py",
    "app/services/project_service.py",
    "app/routes/projects.py",
)
# Task texts name the resource, its fields and the target file, and the context is the files the
# new code must fit (what it imports from earlier layers, and the file it edits): what the
# routing skill (.skills/model-routing/SKILL.md, section 2) tells the orchestrator to send.
TASKS: tuple[Task, ...] = (
    Task(
        "projects-model", f"model for Projects in {MODEL_P}: {PROJECT_FIELDS}", ("scaffold#1",),
        MODEL_P, "test_accept_projects_model.py",
    ),
    Task(
        "projects-schema", f"schema for Projects in {SCHEMA_P}: {PROJECT_FIELDS}",
        ("scaffold#2",), SCHEMA_P, "test_accept_projects_schema.py", (MODEL_P,),
    ),
    Task(
        "projects-service", f"service for Projects in {SERVICE_P}", ("scaffold#3",),
        SERVICE_P, "test_accept_projects_service.py", (MODEL_P, SCHEMA_P), (MODEL_P, SCHEMA_P),
    ),
    Task(
        "projects-routes", f"routes for Projects in {ROUTES_P}", ("scaffold#4",),
        ROUTES_P, "test_accept_projects_routes.py", (MODEL_P, SCHEMA_P, SERVICE_P), (SERVICE_P,),
    ),
    Task(
        "projects-tests",
        f"tests for the Projects service in tests/test_projects_service.py; {PROJECT_FIELDS}",
        ("scaffold#5",), "tests/test_projects_service.py", "test_accept_projects_tests.py",
        (MODEL_P, SCHEMA_P, SERVICE_P), (MODEL_P, SERVICE_P),
    ),
    Task(
        "projects-wiring", "wire the Projects routes into the server in app/server.py",
        ("scaffold#6",), "app/server.py", "test_accept_projects_wiring.py",
        (MODEL_P, SCHEMA_P, SERVICE_P, ROUTES_P), (ROUTES_P, "app/server.py"),
    ),
    Task(
        "tasks-model", f"model for Tasks in app/models/task.py: {TASK_FIELDS}", ("scaffold#1",),
        "app/models/task.py", "test_accept_tasks_model.py",
    ),
    Task(
        "tasks-service", "service for Tasks in app/services/task_service.py", ("scaffold#3",),
        "app/services/task_service.py", "test_accept_tasks_service.py",
        ("app/models/task.py", "app/schemas/task.py"),
        ("app/models/task.py", "app/schemas/task.py"),
    ),
    # Tasks only the fix step or a repair can pass (issue 20): the first three ask for what a
    # mechanical fixer mends (old typing, unused imports, import order: ruff's --fix does), the
    # last has its details only in the project's own tests, which verify runs.
    Task(
        "fix-legacy-typing",
        "a function projects_of_owner(projects: Optional[List[Project]], owner_id: int) -> "
        "List[Project] in app/services/project_filters.py: the projects whose owner_id is "
        "owner_id, in order (none when projects is None); annotate it with typing's Optional "
        "and List exactly as written here", ("scaffold#3",), "app/services/project_filters.py",
        "test_accept_fix_legacy_typing.py", (MODEL_P,), (MODEL_P,),
    ),
    Task(
        "fix-unused-imports",
        "paging helpers in app/schemas/paging.py: clamp_limit(value: int) -> int returns value "
        "limited to 1..100, and page_offset(page: int, limit: int) -> int returns "
        "(page - 1) * limit, pages below 1 counting as 1; begin the module with the imports "
        "this project's schema modules use: `import json`, `import re` and "
        "`from app.errors import ValidationError`", ("scaffold#2",), "app/schemas/paging.py",
        "test_accept_fix_unused_imports.py",
    ),
    Task(
        "fix-import-order",
        "summary(project: Project) -> str in app/services/project_summary.py: "
        "'NAME (owner OWNER_ID)', the name shortened to 40 characters with textwrap.shorten, "
        "then ' [archived]' when the project is archived; write the imports in this order: "
        "`from app.models.project import Project`, then `import textwrap`", ("scaffold#3",),
        "app/services/project_summary.py", "test_accept_fix_import_order.py", (MODEL_P,),
        (MODEL_P,),
    ),
    Task(
        "repair-slug",
        "slugify(text: str) -> str in app/schemas/slug.py: turns a title into a URL slug "
        "(the project's tests in tests/test_slug.py say exactly how)", ("scaffold#2",),
        "app/schemas/slug.py", "test_accept_repair_slug.py", ("tests/test_slug.py",),
    ),
)  # fmt: skip
# The tasks a mechanical fix or a repair round is designed to be the only way to pass.
FIX_OR_REPAIR_TASKS = ("fix-legacy-typing", "fix-unused-imports", "fix-import-order",
                       "repair-slug")  # fmt: skip


@dataclass(frozen=True, slots=True)
class DelegationSettings:
    tasks: int = len(TASKS)
    budget_seconds: float = 45 * 60.0
    max_output_tokens: int = 1536
    max_attempts: int = 3
    model: str = QWEN_CODER
    run_baseline: bool = True
    only: tuple[str, ...] = ()  # task keys to run (all of the first `tasks` when empty)


def selected_tasks(settings: DelegationSettings) -> tuple[Task, ...]:
    """The tasks a run covers: ``only`` (in table order) when given, else the first ``tasks``."""
    if settings.only:
        unknown = sorted(set(settings.only) - {task.key for task in TASKS})
        if unknown:
            raise BenchError(f"unknown delegation task(s): {', '.join(unknown)}")
        return tuple(task for task in TASKS if task.key in settings.only)
    return TASKS[: settings.tasks]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one task with one method."""

    task: str
    method: str  # "route" or "baseline"
    verify_passed: bool
    acceptance_passed: bool
    attempts: int
    prompt_tokens: int
    output_tokens: int
    seconds: float
    detail: str = ""
    route_result: dict[str, Any] | None = None
    requests: tuple[dict[str, int], ...] = field(default=())
    # route: how the passing answer was asked for ("first", "repair", "focused"), and in how
    # many attempts the fix step changed files
    strategy: str | None = None
    fix_changed_attempts: int = 0
    # route: whether the passing attempt needed the import step (route added imports and ran
    # verify again); such a pass is counted as the import step's, not the answer's
    passed_by_import_step: bool = False
    # baseline: whether it passes once the project's fix command ran on its file (None: no
    # answer to fix, or no fix command)
    passed_with_fix: bool | None = None

    @property
    def passed(self) -> bool:
        return self.verify_passed and self.acceptance_passed

    @property
    def first_attempt(self) -> bool:
        """The first answer passed as the model wrote it (no repair, no import step)."""
        return self.passed and self.attempts == 1 and not self.passed_by_import_step

    @property
    def how_passed(self) -> str:
        return "import" if self.passed_by_import_step else (self.strategy or "first")


def prepare_project(task: Task, destination: Path) -> Path:
    """A fresh example copy with the task's reference prerequisites in place."""
    project = copy_example(destination)
    for relative in task.prerequisites:
        target = project / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REFERENCE / relative, target)
    return project


def first_code_block(text: str) -> str | None:
    """The body of the first fenced code block of an answer, or None when it has none."""
    match = FENCE.search(text)
    return match.group(1) if match else None


def run_verify(project: Path, home: Path) -> bool:
    result = measure(["make", "verify"], cwd=project, environment=route_environment(home),
                     timeout=300)  # fmt: skip
    return result.exit_code == 0


def run_acceptance(task: Task, project: Path, home: Path) -> tuple[bool, str]:
    """Copy the hidden acceptance test in and run it alone; (passed, output tail)."""
    destination = project / "tests" / task.acceptance
    shutil.copyfile(ACCEPTANCE / task.acceptance, destination)
    result = measure(
        [venv_python(), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(destination)],
        cwd=project,
        environment=route_environment(home),
        timeout=300,
    )
    return result.exit_code == 0, (result.stdout + result.stderr)[-400:]


def route_task(
    task: Task,
    settings: DelegationSettings,
    project: Path,
    home: Path,
    *,
    proxy: RecordingProxy,
) -> Outcome:
    skills = [part for skill in task.skills for part in ("--skill", skill)]
    context = [part for path in task.context for part in ("-c", path)]
    command = [
        *route_command(), "gen", task.text, *skills, *context, "--target", task.target,
        "--backend", "openai",
        "--base-url", f"{proxy.url}/v1", "--model", settings.model,
        "--temperature", "0", "--seed", "1",
        "--max-output-tokens", str(settings.max_output_tokens),
        "--max-attempts", str(settings.max_attempts), "--cloud-model", "claude-sonnet-4-5",
        "--json",
    ]  # fmt: skip
    before = len(proxy.chats())
    measured = measure(command, cwd=project, environment=route_environment(home), timeout=1800)
    result = measured.json()
    requests = tuple(
        {"evaluated": int(t.get("prompt_n") or 0), "reused": int(t.get("cache_n") or 0)}
        for t in (sse_timings(item.response_text) or {} for item in proxy.chats()[before:])
    )
    verified = result.get("status") == "success"
    accepted, tail = run_acceptance(task, project, home) if verified else (False, "")
    fixed = sum(
        1 for attempt in result.get("attempts") or [] if (attempt.get("fix") or {}).get("changed")
    )
    last = (result.get("attempts") or [{}])[-1]
    return Outcome(
        task=task.key,
        method="route",
        verify_passed=verified,
        acceptance_passed=accepted,
        attempts=len(result.get("attempts") or []),
        prompt_tokens=int(result["tokens"]["prompt"]),
        output_tokens=int(result["tokens"]["output"]),
        seconds=measured.seconds,
        detail=tail if verified and not accepted else str(result.get("message", ""))[:300],
        route_result=result,
        requests=requests,
        strategy=result.get("strategy"),
        fix_changed_attempts=fixed,
        passed_by_import_step=verified and bool(last.get("imports_added")),
    )


def baseline_task(task: Task, settings: DelegationSettings, base_url: str, project: Path,
                  home: Path) -> Outcome:  # fmt: skip
    skill = (EXAMPLE_PROJECT / ".skills" / "scaffold" / "SKILL.md").read_text(encoding="utf-8")
    prompt = (
        f"{skill}\n\nTask: {task.text}.\nWrite the file `{task.target}`. Answer with the "
        "complete file in one fenced code block."
    )
    body = {
        "model": settings.model,
        "messages": [
            {"role": "system", "content": BASELINE_SYSTEM},
            {"role": "user", "content": prompt},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": settings.max_output_tokens,
        "temperature": 0,
        "seed": 1,
    }
    started = time.perf_counter()
    answer = bare_chat(base_url, body)
    code = first_code_block(answer.text)
    verified = accepted = False
    with_fix: bool | None = None
    detail = "no code block in the answer"
    if code is not None:
        target = project / task.target
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code, encoding="utf-8")
        verified = run_verify(project, home)
        accepted, detail = run_acceptance(task, project, home) if verified else (False, "")
        detail = detail if verified else "make verify failed"
        with_fix = True if verified and accepted else baseline_with_fix(task, project, home)
    seconds = time.perf_counter() - started
    return Outcome(
        task=task.key,
        method="baseline",
        verify_passed=verified,
        acceptance_passed=accepted,
        attempts=1,
        prompt_tokens=int(answer.usage.get("prompt_tokens") or 0),
        output_tokens=answer.output_tokens,
        seconds=seconds,
        detail="" if verified and accepted else detail,
        passed_with_fix=with_fix,
    )


def baseline_with_fix(task: Task, project: Path, home: Path) -> bool | None:
    """Whether the baseline's file passes after the project's fix command (route's fix step,
    the same code) ran on it; None when the project has no fix command."""
    from route.safety.fix_step import FixSettings, run_fix
    from route.settings.config import load_config

    command = load_config(project, env={}, user_file=home / "none.yaml").config.fix_command
    if not command:
        return None
    environment = route_environment(home)
    run_fix(project, FixSettings(command), [task.target], [task.target], environment=environment)
    if not run_verify(project, home):
        return False
    return run_acceptance(task, project, home)[0]


def run_tasks(settings: DelegationSettings, workspace: Path) -> tuple[list[Outcome], list[str]]:
    """Every task with route then the baseline, until the time budget is spent."""
    outcomes: list[Outcome] = []
    skipped: list[str] = []
    home = workspace / "route-home"
    deadline = time.monotonic() + settings.budget_seconds
    llama = server(settings.model, context_size=CONTEXT_SIZE, log_path=workspace / "llama.log")
    try:
        with llama, RecordingProxy(llama.root_url) as proxy:
            for task in selected_tasks(settings):
                if time.monotonic() > deadline:
                    skipped.append(task.key)
                    continue
                project = prepare_project(task, workspace / f"{task.key}-route")
                outcomes.append(route_task(task, settings, project, home, proxy=proxy))
                if settings.run_baseline:
                    project = prepare_project(task, workspace / f"{task.key}-baseline")
                    outcomes.append(baseline_task(task, settings, llama.base_url, project, home))
            if os.environ.get("BENCH_KEEP_WORKSPACE"):
                write_transcripts(proxy, workspace / "transcripts.jsonl")
    except runtime_error_types() as exc:
        raise BenchError(f"llama-server could not be used: {exc} — run `make runtime`") from exc
    return outcomes, skipped


def write_transcripts(proxy: RecordingProxy, path: Path) -> None:
    """Each chat route sent through the proxy, with the answer text, one JSON line each (kept
    with BENCH_KEEP_WORKSPACE, for a post-mortem of what the model was asked and answered)."""
    with path.open("w", encoding="utf-8") as out:
        for item in proxy.chats():
            messages = (item.request or {}).get("messages") or []
            out.write(json.dumps({"messages": messages, "answer": sse_text(item.response_text)}))
            out.write("\n")


def sse_text(response_text: str) -> str:
    """The streamed answer text of a relayed OpenAI-style Server-Sent-Events response."""
    parts: list[str] = []
    for line in response_text.splitlines():
        payload = line.removeprefix("data:").strip() if line.startswith("data:") else ""
        if not payload or payload == "[DONE]":
            continue
        try:
            data = json.loads(payload)
        except ValueError:
            continue
        for choice in data.get("choices") or [] if isinstance(data, dict) else []:
            parts.append(((choice or {}).get("delta") or {}).get("content") or "")
    return "".join(parts)


STRATEGIES = ("first", "import", "repair", "focused")


def summarize(
    outcomes: list[Outcome], skipped: list[str], settings: DelegationSettings
) -> PartResult:
    route = [o for o in outcomes if o.method == "route"]
    baseline = {o.task: o for o in outcomes if o.method == "baseline"}
    rows: list[tuple[object, ...]] = []
    for item in route:
        base = baseline.get(item.task)
        rows.append((
            item.task, item.passed, item.how_passed if item.passed else None, item.attempts,
            item.fix_changed_attempts, item.prompt_tokens, item.output_tokens, item.seconds,
            None if base is None else base.passed,
            None if base is None else base.passed_with_fix,
            None if base is None else base.seconds,
        ))  # fmt: skip
    ran = len(route)
    route_passed = sum(o.passed for o in route)
    first = sum(o.first_attempt for o in route)
    by_strategy = {
        strategy: sum(1 for o in route if o.passed and o.how_passed == strategy)
        for strategy in STRATEGIES
    }
    first_failures = ran - first
    converted = route_passed - first
    base_passed = sum(o.passed for o in baseline.values())
    base_fixed = sum(bool(o.passed_with_fix) for o in baseline.values())
    route_rate = percent(route_passed, ran)
    base_rate = percent(base_passed, len(baseline))
    times = ratio(route_passed, base_passed)
    route_failure = None if not ran else 1 - route_passed / ran
    base_failure = None if not baseline else 1 - base_passed / len(baseline)
    goals = (
        Goal(
            f"route passes >= {GOAL_PASS_PERCENT:.0f} % of the tasks (verify + acceptance)",
            f"{route_passed}/{ran} ({route_rate or 0:.0f} %); first attempt {first}/{ran}",
            None if route_rate is None else route_rate >= GOAL_PASS_PERCENT,
        ),
        Goal(
            f"route passes >= {GOAL_TIMES_BASELINE:.0f}x as many tasks as the naive baseline",
            f"baseline {base_passed}/{len(baseline)} ({base_rate or 0:.0f} %)"
            + (f", x{times:.1f}" if times is not None else ", route/baseline undefined (0)"),
            None if not baseline else (
                route_passed >= GOAL_TIMES_BASELINE * base_passed and route_passed > 0
            ),
        ),
        Goal(
            "route's failure rate is at most half the baseline's (issue 20)",
            "route fails "
            + ("n/a" if route_failure is None else f"{route_failure:.0%}")
            + ", baseline "
            + ("n/a" if base_failure is None else f"{base_failure:.0%}"),
            None if route_failure is None or base_failure is None
            else route_failure <= base_failure / 2,
        ),
        Goal(
            "repairs convert at least half of route's first-attempt failures (issue 20)",
            f"{converted} of {first_failures} first-answer failures passed later "
            f"(import step {by_strategy['import']}, repair {by_strategy['repair']}, "
            f"focused {by_strategy['focused']})",
            None if first_failures == 0 else converted * 2 >= first_failures,
        ),
    )  # fmt: skip
    notes = [
        f"model {settings.model} on llama-server, temperature 0, seed 1, "
        f"max {settings.max_output_tokens} output tokens per attempt, "
        f"up to {settings.max_attempts} attempts for route, 1 for the baseline",
        "seconds are wall time per task (generation, verify and repairs; acceptance excluded "
        "for route, included for the baseline)",
        f"route's passes by strategy: first answer {by_strategy['first']}, import step "
        f"{by_strategy['import']}, repair round {by_strategy['repair']}, focused round "
        f"{by_strategy['focused']}",
        "fix step: route's fix command changed files in "
        f"{sum(1 for o in route if o.fix_changed_attempts)} of {ran} tasks; the baseline's "
        f"answers pass {base_passed}/{len(baseline)} as written and "
        f"{base_fixed}/{len(baseline)} after the same fix command",
    ]
    if skipped:
        notes.append(f"not run (time budget of {settings.budget_seconds:.0f} s spent): "
                     + ", ".join(skipped))  # fmt: skip
    notes.extend(
        f"{o.method} {o.task} failed: {' '.join(o.detail.split())[:200]}"
        for o in outcomes
        if not o.passed and o.detail
    )
    return PartResult(
        name="delegation",
        title=f"Delegation success ({settings.model} on llama-server, example project)",
        headers=("task", "route pass", "strategy", "attempts", "fix changed", "prompt tok",
                 "output tok", "route s", "baseline pass", "baseline+fix pass", "baseline s"),
        rows=tuple(rows),
        goals=goals,
        notes=tuple(notes),
        data={
            "outcomes": [outcome_dict(o) for o in outcomes],
            "skipped": skipped,
            "route_passed": route_passed,
            "route_first_attempt": first,
            "route_passed_by_strategy": by_strategy,
            "route_fix_changed_tasks": sum(1 for o in route if o.fix_changed_attempts),
            "repairs_converted": converted,
            "first_attempt_failures": first_failures,
            "baseline_passed": base_passed,
            "baseline_passed_with_fix": base_fixed,
            "tasks_run": ran,
        },
    )  # fmt: skip


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    result = outcome.route_result or {}
    return {
        "task": outcome.task,
        "method": outcome.method,
        "passed": outcome.passed,
        "first_attempt": outcome.first_attempt,
        "verify_passed": outcome.verify_passed,
        "acceptance_passed": outcome.acceptance_passed,
        "attempts": outcome.attempts,
        "prompt_tokens": outcome.prompt_tokens,
        "output_tokens": outcome.output_tokens,
        "seconds": round(outcome.seconds, 2),
        "requests": list(outcome.requests),
        "strategy": outcome.strategy,
        "fix_changed_attempts": outcome.fix_changed_attempts,
        "passed_by_import_step": outcome.passed_by_import_step,
        "passed_with_fix": outcome.passed_with_fix,
        "run_id": result.get("run_id"),
        "status": result.get("status"),
        "cost": result.get("cost"),
        "detail": outcome.detail,
    }


@dataclass(frozen=True, slots=True)
class DelegationRun:
    """The part's result plus what the savings part reprices: the ledger and the outcomes."""

    result: PartResult
    route_home: Path
    outcomes: tuple[Outcome, ...]


def run(settings: DelegationSettings | None = None, *, keep: Path | None = None) -> DelegationRun:
    """Run the tasks; ``keep`` is a folder that receives the ledger (for the savings part)."""
    settings = settings or DelegationSettings()
    load_before = load_average()
    kept = os.environ.get("BENCH_KEEP_WORKSPACE")  # a folder: the projects stay for a post-mortem
    with tempfile.TemporaryDirectory() as temporary:
        workspace = Path(kept) if kept else Path(temporary)
        workspace.mkdir(parents=True, exist_ok=True)
        outcomes, skipped = run_tasks(settings, workspace)
        home = keep if keep is not None else workspace / "route-home"
        if keep is not None and (workspace / "route-home").exists():
            shutil.copytree(workspace / "route-home", keep, dirs_exist_ok=True)
    result = summarize(outcomes, skipped, settings)
    load_note = f"load average (1 min) before/after: {load_before} / {load_average()}"
    result = PartResult(
        name=result.name, title=result.title, headers=result.headers, rows=result.rows,
        goals=result.goals, notes=(*result.notes, load_note), data=result.data,
    )  # fmt: skip
    return DelegationRun(result=result, route_home=home, outcomes=tuple(outcomes))
