"""``route batch``: run a plan of tasks concurrently across one or many model servers.

``load plan → validate (keys, ids, cycles, skills, declared files) → schedule by depends_on
on per-endpoint worker threads (failover when a server is unreachable) → each task through
``pipeline.run_generation`` without verify → verify once → route repair rounds to the tasks
whose files the failure names → one result``. Every task goes through the same safe writer;
a guard turns a write to a file another task (one that may run side by side) writes into a
refusal. Progress goes to the ``BatchEvents`` given; nothing here prints.

This module is the runner. Plans (loading, validation, order) are in ``route.batch.plan``;
result values, combining and the report in ``route.batch.result``. Their public names are
re-exported here.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from route.batch.plan import (
    TASK_KEYS,
    Plan,
    TaskSpec,
    check_skills,
    dependency_order,
    load_plan,
    parse_plan,
    plan_from_skill,
)
from route.batch.result import (
    OK_STATUSES,
    BatchResult,
    EndpointUse,
    TaskOutcome,
    TaskState,
    VerifyRound,
    batch_status,
    batch_summary,
    batch_to_dict,
    blame,
    combined_cost,
    failed_result,
    finish_batch,
    merge_rounds,
    task_after_verify,
)
from route.errors import BackendUnreachable, RouteError, UsageError
from route.values import (
    Attempt,
    ChatRequest,
    Completion,
    FileChange,
    Message,
    Prompt,
    Refusal,
    RunResult,
    VerifyResult,
    WritePlan,
)

if TYPE_CHECKING:
    from route.backends.base import Backend, TextSink
    from route.run.pipeline import GenOptions, Prepared, WriteGuard
    from route.settings.config import Config

__all__ = [
    "OK_STATUSES",
    "TASK_KEYS",
    "BatchEvents",
    "BatchOptions",
    "BatchResult",
    "EndpointSpec",
    "EndpointUse",
    "Plan",
    "SilentBatchEvents",
    "TaskOutcome",
    "TaskSpec",
    "TaskState",
    "VerifyRound",
    "batch_to_dict",
    "blame",
    "check_skills",
    "combined_cost",
    "dependency_order",
    "endpoints_from_config",
    "finish_batch",
    "load_plan",
    "merge_rounds",
    "parse_plan",
    "plan_from_skill",
    "run_batch",
]

CONFLICT_MARK = "of this batch writes this file"

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
    from route.backends.configured import backend_for

    slots = parallel if parallel is not None else config.parallel
    if slots < 1:
        raise UsageError(f"--parallel must be at least 1, not {slots}")
    chosen = list(names)
    if not chosen and config.endpoints:  # every configured one, the default endpoint first
        default = config.endpoint
        first = [default] if default is not None and default in config.endpoints else []
        chosen = [*first, *sorted(set(config.endpoints) - set(first))]
    unknown = [name for name in chosen if name not in config.endpoints]
    if unknown:
        known = ", ".join(sorted(config.endpoints)) or "none configured"
        raise UsageError(f"unknown endpoint '{unknown[0]}' (known: {known})")
    if not chosen:
        single = replace(config, endpoint=None)
        return (EndpointSpec("default", slots, lambda: backend_for(single)),)
    explicit_model = "model" in config.given
    specs: list[EndpointSpec] = []
    for name in dict.fromkeys(chosen):
        named = replace(config, endpoint=name)
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
        from route.safety.path_rules import normalize_path

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
                task.rounds.append(failed_result(options, "backend_error", 3, message))
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
        from route.run.pipeline import prepare, run_generation

        task.endpoint = endpoint.spec.name
        options = self._task_options(task, endpoint.spec)
        if task.prepared is None:
            try:
                task.prepared = prepare(options)
            except RouteError as error:
                result = failed_result(options, "error", error.exit_code, str(error))
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
            targets=spec.files,  # its declared files: named, the first prefilled, required
        )

    def _round_prompt(self, task: _Task) -> Prepared:
        from route.prompting.tokens import estimate_messages_tokens

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
    from route.safety.verify_step import verify_failure

    failure = None
    if blamed and not verify.passed:
        failure = verify_failure(verify)
    last = replace(last_round.attempts[-1], verify=verify, failure=failure)
    task.rounds[-1] = replace(last_round, attempts=(*last_round.attempts[:-1], last))


def _run_verify(batch: _Batch) -> VerifyResult:
    """The batch's one verify, through the same step as a run's (lock, run, skip)."""
    from route.safety.verify_step import project_locked, verify_project

    defaults = batch.options.defaults
    assert defaults.verify is not None
    with project_locked(
        defaults.project_root,
        defaults.lock_home,
        timeout_seconds=defaults.lock_timeout_seconds,
        on_wait=batch.events.notice,
    ):
        return verify_project(
            defaults.project_root,
            defaults.verify,
            on_start=lambda command: batch.events.notice(f"verifying: {command}"),
        )


def _repair_message(batch: _Batch, verify: VerifyResult, written: Sequence[str]) -> Message:
    from route.prompting.prompt import build_repair_message
    from route.safety.verify_step import verify_failure

    return build_repair_message(
        reason=f"{verify_failure(verify)} after every task of the batch was written",
        verify_command=verify.command,
        verify_output=verify.output_tail,
        written=sorted(written),
        max_output_tokens=batch.options.defaults.verify_output_tokens,
    )


# --------------------------------------------------------------------------- combining


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
        result = task_after_verify(merge_rounds(task.rounds), rounds, spec.id, conflicts)
        outcomes.append(TaskOutcome(spec, "done", result, task.endpoint, len(task.rounds)))
    exit_code, status = batch_status(outcomes, rounds, batch.cancel.is_set())
    return BatchResult(
        batch_id=batch.options.batch_id,
        plan=batch.plan,
        tasks=tuple(outcomes),
        verify_rounds=rounds,
        endpoints=tuple(endpoint.use() for endpoint in batch.endpoints),
        status=status,
        exit_code=exit_code,
        message=batch_summary(outcomes, rounds, status),
        started_at=started,
        duration_seconds=duration,
    )
