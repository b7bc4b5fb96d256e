"""What a batch produced: its result values, how a task's rounds and the batch's verify combine
into one result per task (``blame`` finds the tasks a failing verify names), and the combined
report (one ledger row per task, ``route batch --json``'s shape, the summed cost).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from route.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_UNSAFE, EXIT_USAGE, EXIT_VERIFY_FAILED
from route.values import Attempt, RunResult, RunStatus, VerifyResult

if TYPE_CHECKING:
    from route.batch.plan import Plan, TaskSpec
    from route.run.pipeline import GenOptions
    from route.settings.config import Config

OK_STATUSES: frozenset[str] = frozenset({"success", "dry_run"})

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


# --------------------------------------------------------------------------- combining


def failed_result(
    options: GenOptions, status: RunStatus, exit_code: int, message: str
) -> RunResult:
    """The result of a task that failed before any attempt (nothing sent, nothing written)."""
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


def task_after_verify(
    result: RunResult, rounds: Sequence[VerifyRound], task_id: str, conflicts: Sequence[str]
) -> RunResult:
    """The task's status once the batch's verify is known (and its write conflicts)."""
    if conflicts:
        paths = ", ".join(dict.fromkeys(conflicts))
        message = f"another task of this batch writes {paths}; this task may not write it"
        return replace(result, status="refused", exit_code=EXIT_UNSAFE, message=message)
    wrote = bool(result.created or result.changed)
    if not rounds or not wrote or result.status not in ("success", "no_files", "refused"):
        return result
    final = rounds[-1]
    verify = final.verify
    if verify.skipped_reason:
        warnings = (*result.warnings, f"verify skipped: {verify.skipped_reason}")
        return replace(result, warnings=warnings)
    if verify.tampered:
        from route.safety.verify_step import verify_failure

        return replace(
            result, status="tampered", exit_code=EXIT_UNSAFE, message=verify_failure(verify)
        )
    if verify.passed:
        message = f"files written; `{verify.command}` passed in batch round {final.number}"
        return replace(result, status="success", exit_code=EXIT_OK, message=message)
    if task_id in final.blamed:
        from route.safety.verify_step import verify_failure

        failure = verify_failure(verify)
        return replace(
            result,
            status="verify_failed",
            exit_code=EXIT_VERIFY_FAILED,
            message=f"{failure} after {len(result.attempts)} attempt(s)",
        )
    message = f"files written; `{verify.command}` failed, but not in this task's files"
    return replace(result, message=message)


def batch_status(
    outcomes: Sequence[TaskOutcome], rounds: Sequence[VerifyRound], interrupted: bool
) -> tuple[int, str]:
    """``(exit code, status)`` of the batch: its worst task's; exit codes rank failures
    (130 > 4 > 3 > 2 > 1)."""
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


def batch_summary(
    outcomes: Sequence[TaskOutcome], rounds: Sequence[VerifyRound], status: str
) -> str:
    """One line: how many tasks succeeded, failed and were skipped, and the final verify."""
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
    from route.run.finish import finish
    from route.run.report import report_json

    outcomes: list[TaskOutcome] = []
    reports: list[dict[str, Any]] = []
    for outcome in result.tasks:
        if outcome.result is None:
            outcomes.append(outcome)
            reports.append(_skipped_dict(outcome))
            continue
        report = finish(
            outcome.result,
            config,
            command_text=f"{command_text} [{outcome.spec.id}: {outcome.spec.task}]",
            batch_id=result.batch_id,
        )
        outcomes.append(replace(outcome, result=report.result))
        task_json = report_json(report, include_code=include_code)
        reports.append({"id": outcome.spec.id, "endpoint_name": outcome.endpoint, **task_json})
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
    from route.run.pipeline import total_usage

    runs = [outcome.result for outcome in result.tasks if outcome.result is not None]
    usages = [total_usage(run) for run in runs]
    output_tokens = sum(usage.output_tokens for usage in usages)
    generation_seconds = sum(usage.generation_seconds for usage in usages)
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
        # Output tokens over the server's generation time, as the ledger counts them
        # (`route cost runs`, `route cost summary`): one figure for one speed.
        "tokens_per_second": round(output_tokens / generation_seconds, 1)
        if generation_seconds > 0
        else 0.0,
        "cost": combined_cost(runs),
    }


def _round_dict(verify_round: VerifyRound) -> dict[str, Any]:
    from route.run.report import verify_dict

    data = verify_dict(verify_round.verify, full=False)
    assert data is not None  # a round always has its verify result
    return {
        "round": verify_round.number,
        **data,
        "repair": list(verify_round.blamed),
        "output_named_tasks": verify_round.named,
    }


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
