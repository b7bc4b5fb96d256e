"""``route batch``: run a plan of tasks concurrently across one or many model servers.

``load plan → validate (keys, ids, cycles, skills, declared files) → schedule by depends_on
on per-endpoint worker threads (failover when a server is unreachable) → each task through
``pipeline.run_generation`` without verify → verify once → route repair rounds to the tasks
whose files the failure names → one result``. Every task goes through the same safe writer;
a guard turns a write to a file another task (one that may run side by side) writes into a
refusal. Progress goes to the ``BatchEvents`` given; nothing here prints.

A plan is a YAML list of tasks (or a mapping with one key, ``tasks``)::

    - id: model                      # optional; default: the task's position, "1", "2", ...
      task: Projects model           # required: what to write
      skill: scaffold#1              # a reference or a list of them
      context: [app/models/user.py]  # optional: files the model sees (and may change)
      model: qwen2.5-coder:7b        # optional: overrides --model / the endpoint's model
      depends_on: []                 # ids whose files must exist first (they become context)
      files: [app/models/project.py] # optional: files the task writes, checked up front
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from route.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VERIFY_FAILED,
    BackendUnreachable,
    RouteError,
    UsageError,
)
from route.values import (
    Attempt,
    ChatRequest,
    Completion,
    FileChange,
    Message,
    Prompt,
    Refusal,
    RunResult,
    RunStatus,
    VerifyResult,
    WritePlan,
)

if TYPE_CHECKING:
    from route.backends.base import Backend, TextSink
    from route.config import Config
    from route.pipeline import GenOptions, Prepared, WriteGuard

TASK_KEYS = ("id", "task", "skill", "context", "model", "depends_on", "files")
OK_STATUSES: frozenset[str] = frozenset({"success", "dry_run"})
# The batch's status follows its worst task; exit codes rank failures (130 > 4 > 3 > 2 > 1).
CONFLICT_MARK = "of this batch writes this file"

# --------------------------------------------------------------------------- plan


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task of a plan, validated."""

    id: str
    task: str
    skill_refs: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    model: str | None = None
    depends_on: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # declared outputs, normalized (relative POSIX paths)


@dataclass(frozen=True, slots=True)
class Plan:
    tasks: tuple[TaskSpec, ...]
    source: str  # the plan file, or the shortcut that built it

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(spec.id for spec in self.tasks)

    def task(self, task_id: str) -> TaskSpec:
        return next(spec for spec in self.tasks if spec.id == task_id)

    def ancestors(self, task_id: str) -> frozenset[str]:
        """Every task ``task_id`` waits for, directly or not."""
        by_id = {spec.id: spec for spec in self.tasks}
        seen: set[str] = set()
        stack = list(by_id[task_id].depends_on)
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(by_id[current].depends_on)
        return frozenset(seen)

    def ordered(self, first: str, second: str) -> bool:
        """Whether one of the two tasks always finishes before the other starts."""
        return first in self.ancestors(second) or second in self.ancestors(first)


def load_plan(path: Path) -> Plan:
    """Read and validate a plan file (structure only; see ``check_skills``)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the plan {path}: {exc} — check the path") from exc
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        raise UsageError(f"the plan {path} is not valid YAML ({reason}) — fix it") from exc
    return parse_plan(data, str(path))


def parse_plan(data: object, source: str) -> Plan:
    """Validate plan data: known keys, types, unique ids, known dependencies, no cycles, and
    no file declared by two tasks that may run side by side."""
    if isinstance(data, dict):
        extra = sorted(str(key) for key in data if key != "tasks")
        if extra:
            raise UsageError(
                f"plan {source}: unknown top-level key '{extra[0]}' — a plan is a list of "
                "tasks, or a mapping with only 'tasks'"
            )
        data = data.get("tasks")
    if not isinstance(data, list) or not data:
        raise UsageError(
            f"plan {source}: expected a non-empty list of tasks, each with 'task' and 'skill' "
            "(see docs/batch-example.yaml)"
        )
    specs = tuple(_parse_task(item, position, source) for position, item in enumerate(data, 1))
    plan = Plan(specs, source)
    _check_ids(plan)
    _check_cycles(plan)
    _check_declared_files(plan)
    return plan


def _parse_task(item: object, position: int, source: str) -> TaskSpec:
    where = f"plan {source}: task {position}"
    if not isinstance(item, dict):
        raise UsageError(f"{where} must be a mapping with 'task' and 'skill', not {item!r}")
    for key in item:
        if key not in TASK_KEYS:
            import difflib

            close = difflib.get_close_matches(str(key), TASK_KEYS, n=1)
            hint = f" — did you mean '{close[0]}'?" if close else ""
            raise UsageError(f"{where}: unknown key '{key}'{hint} (known: {', '.join(TASK_KEYS)})")
    task_id = _text(item.get("id", str(position)), where, "id")
    where = f"plan {source}: task '{task_id}'"
    task = _text(item.get("task"), where, "task")
    skills = _texts(item.get("skill"), where, "skill")
    context = _texts(item.get("context"), where, "context")
    if not skills and not context:
        raise UsageError(f"{where}: give it a 'skill' (e.g. scaffold#3) and/or 'context'")
    model = item.get("model")
    return TaskSpec(
        id=task_id,
        task=task,
        skill_refs=skills,
        context=context,
        model=_text(model, where, "model") if model is not None else None,
        depends_on=_texts(item.get("depends_on"), where, "depends_on"),
        files=tuple(_declared(path, where) for path in _texts(item.get("files"), where, "files")),
    )


def _text(value: object, where: str, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise UsageError(f"{where}: '{key}' must be non-empty text")
    return str(value).strip()


def _texts(value: object, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(dict.fromkeys(_text(item, where, key) for item in items))


def _declared(path: str, where: str) -> str:
    from route.writer import normalize_path

    try:
        return normalize_path(path)
    except ValueError as exc:
        raise UsageError(f"{where}: file '{path}' cannot be written: {exc}") from exc


def _check_ids(plan: Plan) -> None:
    seen: set[str] = set()
    for spec in plan.tasks:
        if spec.id in seen:
            raise UsageError(f"plan {plan.source}: two tasks have the id '{spec.id}' — rename one")
        seen.add(spec.id)
    for spec in plan.tasks:
        for dependency in spec.depends_on:
            if dependency not in seen:
                raise UsageError(
                    f"plan {plan.source}: task '{spec.id}' depends on '{dependency}', which is "
                    f"not a task id (ids: {', '.join(plan.ids)})"
                )


def _check_cycles(plan: Plan) -> None:
    by_id = {spec.id: spec for spec in plan.tasks}
    finished: set[str] = set()

    def visit(task_id: str, path: tuple[str, ...]) -> None:
        if task_id in path:
            cycle = " -> ".join((*path[path.index(task_id) :], task_id))
            raise UsageError(
                f"plan {plan.source}: depends_on forms a cycle ({cycle}) — remove one of them"
            )
        if task_id in finished:
            return
        for dependency in by_id[task_id].depends_on:
            visit(dependency, (*path, task_id))
        finished.add(task_id)

    for spec in plan.tasks:
        visit(spec.id, ())


def _check_declared_files(plan: Plan) -> None:
    owners: dict[str, str] = {}
    for spec in plan.tasks:
        for path in spec.files:
            owner = owners.get(path)
            if owner is not None and owner != spec.id and not plan.ordered(owner, spec.id):
                raise UsageError(
                    f"plan {plan.source}: tasks '{owner}' and '{spec.id}' both write {path} "
                    "and may run side by side — merge them, or make one depend on the other"
                )
            owners[path] = spec.id


def dependency_order(plan: Plan) -> tuple[str, ...]:
    """The ids in an order that respects ``depends_on``, otherwise keeping plan order."""
    done: list[str] = []
    left = list(plan.tasks)
    while left:
        ready = next(spec for spec in left if set(spec.depends_on) <= set(done))
        done.append(ready.id)
        left.remove(ready)
    return tuple(done)


def check_skills(plan: Plan, *, cwd: Path, skills_dir: Path | None = None) -> None:
    """Resolve every skill reference now, so a typo fails before anything runs."""
    from route import skills

    directories = skills.skill_search_dirs(cwd, skills_dir)
    for spec in plan.tasks:
        for ref in spec.skill_refs:
            try:
                skills.resolve_reference(ref, directories, cwd)
            except RouteError as error:
                raise type(error)(f"plan {plan.source}: task '{spec.id}': {error}") from error


def plan_from_skill(
    skill_name: str,
    resource: str,
    *,
    cwd: Path,
    skills_dir: Path | None = None,
    sections: str | None = None,
) -> Plan:
    """``--skill scaffold --resource Projects``: one task per numbered section, in order
    (``sections`` such as ``1-5`` or ``1,3`` picks some)."""
    from route import skills

    if not resource.strip():
        raise UsageError("--resource is empty: name the resource, e.g. --resource Projects")
    directories = skills.skill_search_dirs(cwd, skills_dir)
    reference = f"{skill_name}#{sections}" if sections else skill_name
    excerpt = skills.resolve_reference(reference, directories, cwd)
    chosen = excerpt.sections or excerpt.skill.sections
    numbered = [section for section in chosen if section.number is not None]
    if not numbered:
        raise UsageError(
            f"skill '{excerpt.skill.name}' has no numbered sections ('## 1. Model') to make "
            "tasks of — write a plan file instead"
        )
    specs = tuple(
        TaskSpec(
            id=str(section.number),
            task=f"{skills.split_number(section.title)[1].strip()} for the {resource} resource",
            skill_refs=(f"{skill_name}#{section.number}",),
        )
        for section in numbered
    )
    return Plan(specs, f"--skill {reference} --resource {resource}")


# --------------------------------------------------------------------------- endpoints


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """A model server the batch may use, and how many requests it serves at once."""

    name: str
    parallel: int
    connect: Callable[[], Backend]  # builds the backend (one HTTP client per endpoint)
    model: str | None = None  # the endpoint's own model, used when the model was not chosen


def endpoints_from_config(
    config: Config, names: Sequence[str] = (), *, parallel: int | None = None
) -> tuple[EndpointSpec, ...]:
    """``names`` from ``endpoints:`` (every configured one when ``names`` is empty and some
    exist), else the one default server of ``config``."""
    from route.connect import backend_for

    slots = parallel if parallel is not None else config.parallel
    if slots < 1:
        raise UsageError(f"--parallel must be at least 1, not {slots}")
    chosen = list(names)
    if not chosen and config.endpoints:  # every configured one, the default endpoint first
        first = [config.endpoint] if config.endpoint in config.endpoints else []
        chosen = [*first, *sorted(set(config.endpoints) - set(first))]
    unknown = [name for name in chosen if name not in config.endpoints]
    if unknown:
        known = ", ".join(sorted(config.endpoints)) or "none configured"
        raise UsageError(f"unknown endpoint '{unknown[0]}' (known: {known})")
    if not chosen:
        single = config.model_copy(update={"endpoint": None})
        return (EndpointSpec("default", slots, lambda: backend_for(single)),)
    explicit_model = "model" in config.model_fields_set
    specs: list[EndpointSpec] = []
    for name in dict.fromkeys(chosen):
        named = config.model_copy(update={"endpoint": name})
        model = config.endpoints[name].model
        specs.append(
            EndpointSpec(
                name,
                slots,
                _connector(named, backend_for),
                model=None if explicit_model else model,
            )
        )
    return tuple(specs)


def _connector(config: Config, build: Callable[[Config], Backend]) -> Callable[[], Backend]:
    return lambda: build(config)


# --------------------------------------------------------------------------- results


TaskState = Literal["done", "skipped"]


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    spec: TaskSpec
    state: TaskState  # skipped: a dependency failed, or the batch stopped before it started
    result: RunResult | None  # None when skipped
    endpoint: str = ""  # name of the endpoint that ran it last
    rounds: int = 0  # how many times it was sent to a model (first run + repair rounds)
    message: str = ""  # why it was skipped

    @property
    def exit_code(self) -> int:
        return self.result.exit_code if self.result is not None else EXIT_OK


@dataclass(frozen=True, slots=True)
class VerifyRound:
    number: int
    verify: VerifyResult
    blamed: tuple[str, ...] = ()  # tasks sent back for repair (empty when it passed)
    named: bool = False  # whether the output named files of those tasks (else: all of them)


@dataclass(frozen=True, slots=True)
class EndpointUse:
    name: str
    url: str  # "" when it was never reached
    tasks: tuple[str, ...]  # tasks that finished there
    down: str | None = None  # why it was given up
    moved: tuple[str, ...] = ()  # tasks it could not run, sent to the other endpoints


@dataclass(frozen=True, slots=True)
class BatchResult:
    batch_id: str
    plan: Plan
    tasks: tuple[TaskOutcome, ...]
    verify_rounds: tuple[VerifyRound, ...]
    endpoints: tuple[EndpointUse, ...]
    status: str
    exit_code: int
    message: str
    started_at: float
    duration_seconds: float


@dataclass(frozen=True, slots=True)
class BatchOptions:
    defaults: GenOptions  # every field but task, skill_refs, context_patterns and model
    verify_each: bool = False  # verify after each task (the pipeline's own loop)
    batch_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class BatchEvents(Protocol):
    """How a batch reports progress; called from worker threads (implementations lock)."""

    def task_state(self, task_id: str, state: str, detail: str) -> None: ...

    def task_chunk(self, task_id: str) -> None: ...

    def task_tokens(self, task_id: str, output_tokens: int, tokens_per_second: float) -> None: ...

    def notice(self, message: str) -> None: ...


class SilentBatchEvents:
    def task_state(self, task_id: str, state: str, detail: str) -> None:
        return None

    def task_chunk(self, task_id: str) -> None:
        return None

    def task_tokens(self, task_id: str, output_tokens: int, tokens_per_second: float) -> None:
        return None

    def notice(self, message: str) -> None:
        return None


# --------------------------------------------------------------------------- blame


def blame(output: str, files_by_task: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The tasks whose files the verify output names, by path or (Python) by module name;
    empty when it names none of them."""
    return tuple(
        task_id
        for task_id, files in files_by_task.items()
        if any(_named(output, path) for path in files)
    )


def _named(output: str, path: str) -> bool:
    if re.search(rf"(?<![\w.-]){re.escape(path)}(?!\w)", output):
        return True
    if not path.endswith(".py"):
        return False
    module = path[: -len(".py")].replace("/", ".")
    if module.endswith(".__init__"):
        package = module[: -len(".__init__")]
        return bool(re.search(rf"(?<![\w.]){re.escape(package)}(?![\w.])", output))
    return "." in module and bool(re.search(rf"(?<![\w.]){re.escape(module)}(?!\w)", output))


# --------------------------------------------------------------------------- write claims


class _Claims:
    """Which task writes which file: declared files up front, the rest when written. A task
    may write a file another task writes only when one of them waits for the other."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._lock = threading.Lock()
        self._owners = {path: spec.id for spec in plan.tasks for path in spec.files}
        self.conflicts: dict[str, list[str]] = {}  # task id -> refused paths

    def guard(self, task_id: str) -> WriteGuard:
        def check(plan: WritePlan) -> WritePlan:
            kept: list[FileChange] = []
            with self._lock:
                # The writer may have refused a file another task wrote first ("exists"):
                # say why it really may not be written.
                refused = [self._explain(refusal, task_id) for refusal in plan.refusals]
                for change in plan.changes:
                    owner = self._owners.get(change.path)
                    if owner in (None, task_id) or self._plan.ordered(str(owner), task_id):
                        self._owners[change.path] = task_id
                        kept.append(change)
                        continue
                    self.conflicts.setdefault(task_id, []).append(change.path)
                    refused.append(Refusal(change.path, _conflict_reason(str(owner))))
            return replace(plan, changes=tuple(kept), refusals=tuple(refused))

        return check

    def _explain(self, refusal: Refusal, task_id: str) -> Refusal:
        from route.writer import normalize_path

        try:
            path = normalize_path(refusal.path)
        except ValueError:
            return refusal
        owner = self._owners.get(path)
        if owner in (None, task_id) or self._plan.ordered(str(owner), task_id):
            return refusal
        self.conflicts.setdefault(task_id, []).append(path)
        return Refusal(refusal.path, _conflict_reason(str(owner)))


def _conflict_reason(owner: str) -> str:
    return (
        f"task '{owner}' {CONFLICT_MARK}; tasks that may run side by side never write the "
        "same file — merge the two tasks, or make one depend on the other (depends_on)"
    )


# --------------------------------------------------------------------------- per-task state


@dataclass
class _Task:
    """The mutable bookkeeping of one task; touched by one thread at a time."""

    spec: TaskSpec
    rounds: list[RunResult] = field(default_factory=list)
    prepared: Prepared | None = None
    conversation: tuple[Message, ...] = ()  # the last prompt sent, plus the answer
    repair: Message | None = None  # the next round's repair message
    endpoint: str = ""
    skipped: str = ""

    @property
    def attempts_used(self) -> int:
        return sum(len(result.attempts) for result in self.rounds)

    @property
    def written(self) -> tuple[str, ...]:
        paths = (path for result in self.rounds for path in (*result.created, *result.changed))
        return tuple(dict.fromkeys(paths))


class _WatchedBackend:
    """Passes calls through and remembers whether the server could not be reached."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self.name = backend.name
        self.endpoint = backend.endpoint
        self.unreachable = False

    def context_length(self, model: str) -> int | None:
        return self._backend.context_length(model)

    def chat(self, request: ChatRequest, on_text: TextSink) -> Completion:
        try:
            return self._backend.chat(request, on_text)
        except BackendUnreachable:
            self.unreachable = True
            raise


class _TaskEvents:
    """``RunEvents`` of one task, forwarded to the batch's events; stops the stream when the
    batch is cancelled (the pipeline then ends the task as interrupted, writing nothing)."""

    def __init__(
        self, task_id: str, endpoint: str, events: BatchEvents, cancel: threading.Event
    ) -> None:
        self._id = task_id
        self._endpoint = endpoint
        self._events = events
        self._cancel = cancel

    def attempt_started(self, number: int, total: int) -> None:
        detail = f"attempt {number}/{total} on {self._endpoint}"
        self._events.task_state(self._id, "generating", detail)

    def text(self, chunk: str) -> None:
        if self._cancel.is_set():
            raise KeyboardInterrupt
        self._events.task_chunk(self._id)

    def generation_finished(self, completion: Completion) -> None:
        usage = completion.usage
        self._events.task_tokens(self._id, usage.output_tokens, usage.tokens_per_second)

    def verify_started(self, command: str) -> None:
        self._events.task_state(self._id, "verifying", command)

    def attempt_finished(self, attempt: Attempt) -> None:
        if attempt.failure:
            self._events.task_state(self._id, "retrying", attempt.failure)

    def notice(self, message: str) -> None:
        self._events.notice(f"{self._id}: {message}")


class _Endpoint:
    """An endpoint while the batch runs: its backend (built once), whether it is down."""

    def __init__(self, spec: EndpointSpec) -> None:
        self.spec = spec
        self.url = ""
        self.down: str | None = None
        self.finished: list[str] = []
        self.moved: list[str] = []
        self._backend: Backend | None = None
        self._error: RouteError | None = None
        self._lock = threading.Lock()

    def backend(self) -> Backend:
        """The endpoint's backend, built by the first worker that needs it."""
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._backend is None:
                try:
                    self._backend = self.spec.connect()
                except RouteError as error:
                    self._error = error
                    raise
                self.url = self._backend.endpoint
            return self._backend

    def use(self) -> EndpointUse:
        return EndpointUse(
            self.spec.name, self.url, tuple(self.finished), self.down, tuple(self.moved)
        )


# --------------------------------------------------------------------------- running


class _Batch:
    """Runs rounds of tasks on worker threads; see ``run_batch``."""

    def __init__(
        self,
        plan: Plan,
        options: BatchOptions,
        endpoints: Sequence[EndpointSpec],
        *,
        events: BatchEvents,
        cancel: threading.Event,
        clock: Callable[[], float],
    ) -> None:
        self.plan = plan
        self.options = options
        self.endpoints = [_Endpoint(spec) for spec in endpoints]
        self.events = events
        self.cancel = cancel
        self.clock = clock
        self.tasks = {spec.id: _Task(spec) for spec in plan.tasks}
        self.claims = _Claims(plan)
        self._condition = threading.Condition()
        self._pending: list[str] = []
        self._running: set[str] = set()  # taken by a worker: may still come back (failover)
        self._finished: set[str] = set()
        self._round: frozenset[str] = frozenset()
        self._first_round = True

    # one round ------------------------------------------------------------------------------
    def run_round(self, task_ids: Iterable[str], *, first: bool) -> None:
        """Run ``task_ids`` (dependencies first) until each is done, skipped or given up."""
        self._round = frozenset(task_ids)
        self._pending = [
            task_id for task_id in dependency_order(self.plan) if task_id in self._round
        ]
        self._finished = set()
        self._first_round = first
        for task_id in self._pending:
            self.events.task_state(task_id, "queued", "")
        workers = [
            threading.Thread(target=self._work, args=(endpoint,), daemon=True)
            for endpoint in self.endpoints
            if endpoint.down is None
            for _ in range(endpoint.spec.parallel)
        ]
        for worker in workers:
            worker.start()
        try:
            for worker in workers:
                while worker.is_alive():
                    worker.join(timeout=0.2)
        except KeyboardInterrupt:
            self.cancel.set()
            with self._condition:
                self._condition.notify_all()
            for worker in workers:
                worker.join()
        self._give_up_on_pending()

    def _give_up_on_pending(self) -> None:
        """Tasks left when every endpoint is down, or after an interrupt."""
        reasons = "; ".join(f"{e.spec.name}: {e.down}" for e in self.endpoints if e.down)
        for task_id in self._pending:
            task = self.tasks[task_id]
            if self.cancel.is_set():
                task.skipped = task.skipped or "not started: the batch was interrupted"
            else:
                options = self._task_options(task, self.endpoints[0].spec)
                message = f"no model server could be reached ({reasons})"
                task.rounds.append(_failed_result(options, "backend_error", 3, message))
            self.events.task_state(task_id, "skipped" if task.skipped else "backend_error", "")
        self._pending = []

    def _work(self, endpoint: _Endpoint) -> None:
        while True:
            task_id = self._take(endpoint)
            if task_id is None:
                return
            try:
                if not self._run_on(endpoint, task_id):
                    return
            finally:  # even on a bug, never leave the other workers waiting for this task
                with self._condition:
                    self._running.discard(task_id)
                    self._condition.notify_all()

    def _run_on(self, endpoint: _Endpoint, task_id: str) -> bool:
        """Run one task; False when the endpoint turned out to be down (task re-queued)."""
        try:
            backend = endpoint.backend()
        except RouteError as error:
            self._endpoint_down(endpoint, task_id, str(error))
            return False
        result, unreachable = self._run_task(self.tasks[task_id], endpoint, backend)
        if unreachable and not self.cancel.is_set():
            self._endpoint_down(endpoint, task_id, result.message)
            return False
        self._finish(task_id, result, endpoint)
        return True

    def _take(self, endpoint: _Endpoint) -> str | None:
        with self._condition:
            while True:
                if self.cancel.is_set() or endpoint.down is not None:
                    return None
                if not self._pending and not self._running:
                    return None
                for task_id in self._pending:
                    waits = set(self.plan.task(task_id).depends_on) & self._round
                    if waits <= self._finished:
                        self._pending.remove(task_id)
                        self._running.add(task_id)
                        return task_id
                self._condition.wait(timeout=0.5)

    def _endpoint_down(self, endpoint: _Endpoint, task_id: str, reason: str) -> None:
        with self._condition:
            endpoint.down = reason
            endpoint.moved.append(task_id)
            self._running.discard(task_id)
            self._pending.insert(0, task_id)
            self._condition.notify_all()
        live = [other.spec.name for other in self.endpoints if other.down is None]
        target = f"its tasks go to {', '.join(live)}" if live else "no endpoint is left"
        self.events.notice(f"endpoint {endpoint.spec.name} is unreachable ({reason}); {target}")
        self.events.task_state(task_id, "queued", f"moved off {endpoint.spec.name}")

    def _finish(self, task_id: str, result: RunResult, endpoint: _Endpoint) -> None:
        skipped: list[str] = []
        with self._condition:
            self._finished.add(task_id)
            self._running.discard(task_id)
            endpoint.finished.append(task_id)
            if self._first_round and result.status not in OK_STATUSES:
                for other in list(self._pending):
                    if task_id in self.plan.ancestors(other):
                        self._pending.remove(other)
                        self._finished.add(other)
                        self.tasks[
                            other
                        ].skipped = (
                            f"skipped: it depends on '{task_id}', which ended {result.status}"
                        )
                        skipped.append(other)
            self._condition.notify_all()
        self.events.task_state(task_id, result.status, result.message)
        for other in skipped:
            self.events.task_state(other, "skipped", self.tasks[other].skipped)

    # one task --------------------------------------------------------------------------------
    def _run_task(
        self, task: _Task, endpoint: _Endpoint, backend: Backend
    ) -> tuple[RunResult, bool]:
        from route.pipeline import prepare, run_generation

        task.endpoint = endpoint.spec.name
        options = self._task_options(task, endpoint.spec)
        if task.prepared is None:
            try:
                task.prepared = prepare(options)
            except RouteError as error:
                result = _failed_result(options, "error", error.exit_code, str(error))
                task.rounds.append(result)
                return result, False
        prepared = self._round_prompt(task)
        watched = _WatchedBackend(backend)
        result = run_generation(
            options,
            lambda: watched,
            events=_TaskEvents(task.spec.id, endpoint.spec.name, self.events, self.cancel),
            prepared=prepared,
            guard=self.claims.guard(task.spec.id),
        )
        if result.attempts:
            answer = Message("assistant", result.attempts[-1].completion.text)
            task.conversation = (*prepared.prompt.messages, answer)
            task.repair = None
        if result.attempts or not watched.unreachable:
            task.rounds.append(result)
        return result, watched.unreachable

    def _task_options(self, task: _Task, endpoint: EndpointSpec) -> GenOptions:
        defaults = self.options.defaults
        spec = task.spec
        root = defaults.project_root
        context = list(spec.context)
        if task.prepared is None:  # the files of its dependencies, once they exist
            for dependency in spec.depends_on:
                for path in self.tasks[dependency].written:
                    if (root / path).is_file():
                        context.append(str(root / path))
        left = max(1, defaults.max_attempts - task.attempts_used)
        return replace(
            defaults,
            task=spec.task,
            skill_refs=spec.skill_refs,
            context_patterns=tuple(dict.fromkeys(context)),
            model=spec.model or endpoint.model or defaults.model,
            verify=defaults.verify if self.options.verify_each else None,
            max_attempts=left,
            modifiable=(*defaults.modifiable, *task.written),
        )

    def _round_prompt(self, task: _Task) -> Prepared:
        from route.tokens import estimate_messages_tokens

        prepared = task.prepared
        assert prepared is not None
        if task.repair is None:
            return prepared
        messages = (*task.conversation, task.repair)
        prompt = Prompt(
            messages=messages,
            template_version=prepared.prompt.template_version,
            estimated_tokens=estimate_messages_tokens([m.content for m in messages]),
        )
        return replace(prepared, prompt=prompt, warnings=())


def run_batch(
    plan: Plan,
    options: BatchOptions,
    endpoints: Sequence[EndpointSpec],
    *,
    events: BatchEvents | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.time,
) -> BatchResult:
    """Run every task of ``plan``, verify once (unless ``verify_each`` or no verify), send
    repair rounds to the tasks the failure names, and return the combined result. Task
    failures and interrupts become results; only a plan that cannot start raises."""
    if not endpoints:
        raise UsageError("no endpoint to run the batch on — configure `endpoints` or a server")
    batch = _Batch(
        plan,
        options,
        endpoints,
        events=events or SilentBatchEvents(),
        cancel=cancel or threading.Event(),
        clock=clock,
    )
    started = clock()
    batch.run_round(plan.ids, first=True)
    rounds: list[VerifyRound] = []
    try:
        if _verify_once(options):
            rounds = _verify_rounds(batch)
    except KeyboardInterrupt:
        batch.cancel.set()
    return _result(batch, tuple(rounds), started, clock() - started)


def _verify_once(options: BatchOptions) -> bool:
    defaults = options.defaults
    return not options.verify_each and not defaults.dry_run and defaults.verify is not None


def _verify_rounds(batch: _Batch) -> list[VerifyRound]:
    """Verify; on failure send repair rounds to the tasks to blame while they have attempts."""
    rounds: list[VerifyRound] = []
    while not batch.cancel.is_set():
        written = {
            task_id: task.written
            for task_id, task in batch.tasks.items()
            if task.rounds and task.written
        }
        if not written:
            break
        verify = _run_verify(batch)
        if verify.passed:
            rounds.append(VerifyRound(len(rounds) + 1, verify))
            for task_id in written:
                _attach_verify(batch.tasks[task_id], verify, blamed=False)
            break
        named = blame(verify.output_tail, written)
        blamed = named or tuple(written)
        rounds.append(VerifyRound(len(rounds) + 1, verify, blamed, bool(named)))
        for task_id in written:
            _attach_verify(batch.tasks[task_id], verify, blamed=task_id in blamed)
        retry = [
            task_id
            for task_id in blamed
            if batch.tasks[task_id].attempts_used < batch.options.defaults.max_attempts
        ]
        if not retry:
            break
        batch.events.notice(
            f"`{verify.command}` failed; repair round for {', '.join(retry)}"
            + ("" if named else " (the output names no task's files)")
        )
        for task_id in retry:
            task = batch.tasks[task_id]
            task.repair = _repair_message(batch, verify, task.written)
        batch.run_round(retry, first=False)
    return rounds


def _attach_verify(task: _Task, verify: VerifyResult, *, blamed: bool) -> None:
    """Record the batch's verify on the task's last attempt (its failure when blamed)."""
    last_round = task.rounds[-1]
    if not last_round.attempts:
        return
    failure = None
    if blamed and not verify.passed:
        failure = f"verify `{verify.command}` failed (exit {verify.exit_code})"
    last = replace(last_round.attempts[-1], verify=verify, failure=failure)
    task.rounds[-1] = replace(last_round, attempts=(*last_round.attempts[:-1], last))


def _run_verify(batch: _Batch) -> VerifyResult:
    import contextlib

    from route.locking import project_lock
    from route.verify import run_verify

    defaults = batch.options.defaults
    assert defaults.verify is not None
    batch.events.notice(f"verifying: {defaults.verify.command}")
    lock: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if defaults.lock_home is not None:
        lock = project_lock(
            defaults.project_root,
            defaults.lock_home,
            timeout_seconds=defaults.lock_timeout_seconds,
            on_wait=batch.events.notice,
        )
    with lock:
        return run_verify(defaults.project_root, defaults.verify)


def _repair_message(batch: _Batch, verify: VerifyResult, written: Sequence[str]) -> Message:
    from route.prompt import build_repair_message

    if verify.timed_out:
        reason = f"verify `{verify.command}` timed out after {verify.duration_seconds:.0f} s"
    else:
        reason = f"verify `{verify.command}` failed (exit {verify.exit_code})"
    return build_repair_message(
        reason=f"{reason} after every task of the batch was written",
        verify_command=verify.command,
        verify_output=verify.output_tail,
        written=sorted(written),
        max_output_tokens=batch.options.defaults.verify_output_tokens,
    )


# --------------------------------------------------------------------------- combining


def _failed_result(
    options: GenOptions, status: RunStatus, exit_code: int, message: str
) -> RunResult:
    return RunResult(
        run_id=uuid.uuid4().hex,
        task=options.task,
        skill_refs=options.skill_refs,
        project_root=options.project_root,
        status=status,
        exit_code=exit_code,
        attempts=(),
        created=(),
        changed=(),
        refused=(),
        started_at=time.time(),
        duration_seconds=0.0,
        model=options.model,
        backend="",
        endpoint="",
        prompt_characters=0,
        output_characters=0,
        message=message,
    )


def merge_rounds(results: Sequence[RunResult]) -> RunResult:
    """One result for a task sent to the model several times: attempts renumbered, files as
    first created or changed, the last round's status."""
    first, last = results[0], results[-1]
    attempts: list[Attempt] = []
    for result in results:
        attempts.extend(replace(a, number=len(attempts) + 1) for a in result.attempts)
    created = tuple(dict.fromkeys(path for result in results for path in result.created))
    changed = tuple(dict.fromkeys(p for r in results for p in r.changed if p not in created))
    return replace(
        last,
        run_id=first.run_id,
        attempts=tuple(attempts),
        created=tuple(sorted(created)),
        changed=tuple(sorted(changed)),
        refused=tuple(refusal for result in results for refusal in result.refused),
        started_at=first.started_at,
        duration_seconds=sum(result.duration_seconds for result in results),
        prompt_characters=first.prompt_characters,
        warnings=tuple(dict.fromkeys(w for result in results for w in result.warnings)),
    )


def _with_verify(
    result: RunResult, rounds: Sequence[VerifyRound], task_id: str, conflicts: Sequence[str]
) -> RunResult:
    """The task's status once the batch's verify is known (and its write conflicts)."""
    if conflicts:
        paths = ", ".join(dict.fromkeys(conflicts))
        message = f"another task of this batch writes {paths}; this task may not write it"
        return replace(result, status="refused", exit_code=4, message=message)
    wrote = bool(result.created or result.changed)
    if not rounds or not wrote or result.status not in ("success", "no_files", "refused"):
        return result
    final = rounds[-1]
    verify = final.verify
    if verify.skipped_reason:
        warnings = (*result.warnings, f"verify skipped: {verify.skipped_reason}")
        return replace(result, warnings=warnings)
    if verify.passed:
        message = f"files written; `{verify.command}` passed in batch round {final.number}"
        return replace(result, status="success", exit_code=EXIT_OK, message=message)
    if task_id in final.blamed:
        failure = f"verify `{verify.command}` failed (exit {verify.exit_code})"
        return replace(
            result,
            status="verify_failed",
            exit_code=EXIT_VERIFY_FAILED,
            message=f"{failure} after {len(result.attempts)} attempt(s)",
        )
    message = f"files written; `{verify.command}` failed, but not in this task's files"
    return replace(result, message=message)


def _result(
    batch: _Batch, rounds: tuple[VerifyRound, ...], started: float, duration: float
) -> BatchResult:
    outcomes: list[TaskOutcome] = []
    for spec in batch.plan.tasks:
        task = batch.tasks[spec.id]
        if not task.rounds:
            message = task.skipped or "not started"
            outcomes.append(TaskOutcome(spec, "skipped", None, task.endpoint, 0, message))
            continue
        conflicts = batch.claims.conflicts.get(spec.id, [])
        result = _with_verify(merge_rounds(task.rounds), rounds, spec.id, conflicts)
        outcomes.append(TaskOutcome(spec, "done", result, task.endpoint, len(task.rounds)))
    exit_code, status = _batch_status(outcomes, rounds, batch.cancel.is_set())
    return BatchResult(
        batch_id=batch.options.batch_id,
        plan=batch.plan,
        tasks=tuple(outcomes),
        verify_rounds=rounds,
        endpoints=tuple(endpoint.use() for endpoint in batch.endpoints),
        status=status,
        exit_code=exit_code,
        message=_summary(outcomes, rounds, status),
        started_at=started,
        duration_seconds=duration,
    )


def _batch_status(
    outcomes: Sequence[TaskOutcome], rounds: Sequence[VerifyRound], interrupted: bool
) -> tuple[int, str]:
    if interrupted:
        return EXIT_INTERRUPTED, "interrupted"
    worst = max(outcomes, key=lambda outcome: outcome.exit_code)
    if worst.result is not None and worst.exit_code:
        return worst.exit_code, worst.result.status
    if rounds and not rounds[-1].verify.passed:
        return EXIT_VERIFY_FAILED, "verify_failed"
    if any(outcome.state == "skipped" for outcome in outcomes):
        return EXIT_USAGE, "error"
    if all(o.result is not None and o.result.status == "dry_run" for o in outcomes):
        return EXIT_OK, "dry_run"
    return EXIT_OK, "success"


def _summary(outcomes: Sequence[TaskOutcome], rounds: Sequence[VerifyRound], status: str) -> str:
    succeeded = sum(1 for o in outcomes if o.result is not None and o.result.status in OK_STATUSES)
    skipped = sum(1 for o in outcomes if o.state == "skipped")
    parts = [f"{len(outcomes)} task(s): {succeeded} succeeded"]
    failed = len(outcomes) - succeeded - skipped
    if failed:
        parts.append(f"{failed} failed")
    if skipped:
        parts.append(f"{skipped} skipped")
    text = ", ".join(parts)
    if rounds:
        verify = rounds[-1].verify
        if verify.skipped_reason:
            text += f"; verify skipped ({verify.skipped_reason})"
        else:
            verdict = "passed" if verify.passed else "failed"
            text += f"; `{verify.command}` {verdict} after {len(rounds)} round(s)"
    elif status == "dry_run":
        text += "; dry run: nothing was written"
    return text


# --------------------------------------------------------------------------- report


def finish_batch(
    result: BatchResult,
    config: Config,
    *,
    command_text: str,
    include_code: bool = False,
) -> tuple[BatchResult, dict[str, Any]]:
    """Price each task, record one ledger row per task (linked by the batch id), and build the
    combined report (``--json``'s shape)."""
    from route.delegate import finish

    outcomes: list[TaskOutcome] = []
    reports: list[dict[str, Any]] = []
    for outcome in result.tasks:
        if outcome.result is None:
            outcomes.append(outcome)
            reports.append(_skipped_dict(outcome))
            continue
        finished, report = finish(
            outcome.result,
            config,
            command_text=f"{command_text} [{outcome.spec.id}: {outcome.spec.task}]",
            include_code=include_code,
            batch_id=result.batch_id,
        )
        outcomes.append(replace(outcome, result=finished))
        reports.append({"id": outcome.spec.id, "endpoint_name": outcome.endpoint, **report})
    result = replace(result, tasks=tuple(outcomes))
    return result, batch_to_dict(result, reports)


def _skipped_dict(outcome: TaskOutcome) -> dict[str, Any]:
    return {
        "id": outcome.spec.id,
        "status": "skipped",
        "exit_code": None,
        "message": outcome.message,
        "task": outcome.spec.task,
        "skills": list(outcome.spec.skill_refs),
    }


def batch_to_dict(result: BatchResult, task_reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The combined report: tasks, verify rounds, endpoints and failover, tokens, cost."""
    from route.pipeline import total_usage

    runs = [outcome.result for outcome in result.tasks if outcome.result is not None]
    usages = [total_usage(run) for run in runs]
    output_tokens = sum(usage.output_tokens for usage in usages)
    return {
        "batch_id": result.batch_id,
        "status": result.status,
        "exit_code": result.exit_code,
        "message": result.message,
        "plan": result.plan.source,
        "tasks": list(task_reports),
        "verify_rounds": [_round_dict(verify_round) for verify_round in result.verify_rounds],
        "endpoints": [_endpoint_dict(use) for use in result.endpoints],
        "failover": [
            f"{use.name} was unreachable ({use.down}); "
            f"{', '.join(use.moved)} went to the other endpoints"
            for use in result.endpoints
            if use.down is not None
        ],
        "tokens": {
            "prompt": sum(usage.prompt_tokens for usage in usages),
            "output": output_tokens,
        },
        "duration_seconds": round(result.duration_seconds, 2),
        # Output tokens over wall time: what parallel slots buy.
        "tokens_per_second": round(output_tokens / result.duration_seconds, 1)
        if result.duration_seconds > 0
        else 0.0,
        "cost": combined_cost(runs),
    }


def _round_dict(verify_round: VerifyRound) -> dict[str, Any]:
    from route.report import tail_lines

    verify = verify_round.verify
    data: dict[str, Any] = {
        "round": verify_round.number,
        "command": verify.command,
        "passed": verify.passed,
        "exit_code": verify.exit_code,
        "duration_seconds": round(verify.duration_seconds, 2),
        "repair": list(verify_round.blamed),
        "output_named_tasks": verify_round.named,
    }
    if verify.skipped_reason:
        data["skipped"] = verify.skipped_reason
    if not verify.passed:
        data["output_tail"] = tail_lines(verify.output_tail)
    return data


def _endpoint_dict(use: EndpointUse) -> dict[str, Any]:
    return {
        "name": use.name,
        "url": use.url,
        "tasks": list(use.tasks),
        "down": use.down,
        "moved": list(use.moved),
    }


def combined_cost(runs: Sequence[RunResult]) -> dict[str, Any] | None:
    """The sum of every task's cost figures (all estimates)."""
    costs = [run.cost for run in runs if run.cost is not None]
    if not costs:
        return None
    cloud = sum(cost.cloud_only_dollars for cost in costs)
    saving = sum(cost.net_saving_dollars for cost in costs)
    return {
        "cloud_model": costs[0].cloud_model,
        "prices_date": costs[0].prices_date,
        "cloud_input_tokens": sum(cost.cloud_input_tokens_estimate for cost in costs),
        "cloud_output_tokens": sum(cost.cloud_output_tokens_estimate for cost in costs),
        "cloud_only_dollars": round(cloud, 6),
        "handoff_dollars": round(sum(cost.handoff_dollars for cost in costs), 6),
        "local_energy_dollars": round(sum(cost.local_energy_dollars for cost in costs), 6),
        "net_saving_dollars": round(saving, 6),
        "net_saving_percent": round(100.0 * saving / cloud, 1) if cloud > 0 else 0.0,
        "estimate": True,
    }
