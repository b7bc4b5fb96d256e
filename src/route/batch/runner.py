"""``route batch``: run a plan of tasks concurrently across one or many model servers.

``load plan → validate (keys, ids, cycles, skills, declared files) → schedule by depends_on
on per-endpoint worker threads (failover when a server is unreachable) → each task through
``pipeline.run_generation`` without verify → verify once → route repair rounds to the tasks
whose files the failure names → one result``. Every task goes through the same safe writer;
a guard turns a write to a file another task (one that may run side by side) writes into a
refusal. Progress goes to the ``BatchEvents`` given; nothing here prints.

This module puts a batch in order (rounds, the one verify, repair rounds, the result). The
parts live beside it: plans (loading, validation, order) in ``route.batch.plan``; scheduling
and failover in ``route.batch.scheduler``; one task's options, prompt and run in
``route.batch.task_run``; which task writes which file in ``route.batch.claims``; result
values, combining and the report in ``route.batch.result``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from route.batch.claims import WriteClaims
from route.batch.result import (
    BatchResult,
    TaskOutcome,
    VerifyRound,
    batch_status,
    batch_summary,
    blame,
    merge_rounds,
    task_after_verify,
)
from route.batch.scheduler import Scheduler
from route.batch.task_run import TaskRun, TaskRunner
from route.errors import UsageError
from route.values import Message, VerifyResult

if TYPE_CHECKING:
    from route.backends.base import Backend
    from route.batch.plan import Plan
    from route.run.pipeline import GenOptions
    from route.settings.config import Config

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


# --------------------------------------------------------------------------- running


@dataclass(frozen=True, slots=True)
class _Batch:
    """The parts of one batch run: its tasks, who writes what, and the scheduler."""

    plan: Plan
    options: BatchOptions
    tasks: Mapping[str, TaskRun]
    claims: WriteClaims
    scheduler: Scheduler
    events: BatchEvents
    cancel: threading.Event


def _batch(
    plan: Plan,
    options: BatchOptions,
    endpoints: Sequence[EndpointSpec],
    *,
    events: BatchEvents,
    cancel: threading.Event,
) -> _Batch:
    tasks = {spec.id: TaskRun(spec) for spec in plan.tasks}
    claims = WriteClaims(plan)
    runner = TaskRunner(options, tasks, claims, events, cancel)
    scheduler = Scheduler(plan, endpoints, tasks, runner, events=events, cancel=cancel)
    return _Batch(plan, options, tasks, claims, scheduler, events, cancel)


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
    batch = _batch(
        plan,
        options,
        endpoints,
        events=events or SilentBatchEvents(),
        cancel=cancel or threading.Event(),
    )
    started = clock()
    batch.scheduler.run_round(plan.ids, first=True)
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
        if verify.tampered:  # verify changed what it must not: no repair round, the batch ends
            break
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
        batch.scheduler.run_round(retry, first=False)
    return rounds


def _attach_verify(task: TaskRun, verify: VerifyResult, *, blamed: bool) -> None:
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
    from route.repair.rounds import NameLookup, located_errors, located_section
    from route.safety.verify_step import verify_failure

    root = batch.options.defaults.project_root
    return build_repair_message(
        reason=f"{verify_failure(verify)} after every task of the batch was written",
        verify_command=verify.command,
        verify_output=verify.output_tail,
        written=sorted(written),
        max_output_tokens=batch.options.defaults.verify_output_tokens,
        located=located_section(
            located_errors(verify, sorted(written), root), root, NameLookup(root, None)
        ),
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
        endpoints=tuple(endpoint.use() for endpoint in batch.scheduler.endpoints),
        status=status,
        exit_code=exit_code,
        message=batch_summary(outcomes, rounds, status),
        started_at=started,
        duration_seconds=duration,
    )
