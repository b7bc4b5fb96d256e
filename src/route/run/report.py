"""A finished run's report: one typed value (``RunReport``) that ``ui`` renders and that
``report_json`` serializes for ``--json`` and the MCP tool; each shows what it chooses, none
edits it. The same compact JSON sizes the hand-off (the summary the orchestrator reads is part
of what routing costs: ``handoff_characters``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from route.values import Attempt, FixResult, RunResult, Usage, VerifyResult

if TYPE_CHECKING:
    from route.accounting.recording import Recorded

# The orchestrator reads at most this much verify output per run (the tail, where errors are).
JSON_TAIL_LINES = 40
# The cost section adds about this many characters to the summary the orchestrator reads.
COST_SECTION_CHARACTERS = 220
# The summary echoes at most this much of the task: the orchestrator wrote it and knows it, so
# reading it back would only cost (a 1 MB task would cost a second megabyte in the hand-off).
TASK_ECHO_CHARACTERS = 200


@dataclass(frozen=True, slots=True)
class RunReport:
    """A finished run: its priced result, where its ledger row went, and a dry run's diff."""

    result: RunResult
    ledger: Recorded | None  # the local file, and the team ledger when one is configured
    diff: str | None = None  # a dry run's unified diff (code: shown where code is shown)


def report_json(
    report: RunReport, *, include_code: bool = False, include_diff: bool = True
) -> dict[str, Any]:
    """The compact JSON of ``report`` (``route gen --json``'s shape): the generated files only
    with ``include_code``, a dry run's ``diff`` unless ``include_diff`` is False."""
    data = result_to_dict(report.result, include_code=include_code, recorded=report.ledger)
    if include_diff and report.diff is not None:
        data["diff"] = report.diff
    return data


def tail_lines(text: str, lines: int = JSON_TAIL_LINES) -> str:
    kept = text.splitlines()[-lines:]
    return "\n".join(kept)


def verify_dict(verify: VerifyResult | None, *, full: bool) -> dict[str, Any] | None:
    """A verify result as JSON (a run's and a batch round's alike); ``full`` keeps the whole
    output tail rather than its last lines."""
    if verify is None:
        return None
    data: dict[str, Any] = {
        # A skipped verify proved nothing: null, never true.
        "passed": None if verify.skipped_reason else verify.passed,
        "command": verify.command,
        "exit_code": verify.exit_code,
        "duration_seconds": round(verify.duration_seconds, 2),
    }
    if verify.skipped_reason:
        data["skipped"] = verify.skipped_reason
    if verify.timed_out:
        data["timed_out"] = True
    if verify.sandbox is not None:
        data["sandbox"] = verify.sandbox
    if verify.tampered:
        data["tampered"] = list(verify.tampered)
        data["unrestored"] = list(verify.unrestored)
    if verify.redactions:
        data["redacted"] = verify.redactions
    if not verify.passed:
        data["output_tail"] = verify.output_tail if full else tail_lines(verify.output_tail)
    return data


def _attempt_dict(attempt: Attempt) -> dict[str, Any]:
    usage = attempt.completion.usage
    data: dict[str, Any] = {
        "number": attempt.number,
        "strategy": attempt.strategy,
        "failure": attempt.failure,
        # What this attempt wrote: an attempt that was refused or failed wrote nothing.
        "files": [change.path for change in attempt.plan.changes] if attempt.written else [],
        "prompt_tokens": usage.prompt_tokens,
        "output_tokens": usage.output_tokens,
        "tokens_per_second": round(usage.tokens_per_second, 1),
        "verify": verify_dict(attempt.verify, full=False),
        "fix": _fix_dict(attempt.fix),
    }
    if attempt.imports:
        data["imports_added"] = list(attempt.imports)
    if usage.reasoning_tokens:
        data["reasoning_tokens"] = usage.reasoning_tokens
    return data


def _fix_dict(fix: FixResult | None) -> dict[str, Any] | None:
    if fix is None:
        return None
    return {
        "command": fix.command,
        "exit_code": fix.exit_code,
        "changed": [change.path for change in fix.changes],
        "problem": fix.problem,
    }


def passing_strategy(result: RunResult) -> str | None:
    """How the passing answer was asked for ("first", "repair", "focused"), or None."""
    if result.status != "success" or not result.attempts:
        return None
    return result.attempts[-1].strategy


def final_verify(result: RunResult) -> VerifyResult | None:
    for attempt in reversed(result.attempts):
        if attempt.verify is not None:
            return attempt.verify
    return None


def result_to_dict(
    result: RunResult,
    *,
    include_code: bool = False,
    recorded: Recorded | None = None,
) -> dict[str, Any]:
    """The compact result: everything an orchestrator needs, no generated code by default."""
    from route.run.pipeline import total_usage

    usage = total_usage(result)
    verify = final_verify(result)
    data: dict[str, Any] = {
        "run_id": result.run_id,
        "status": result.status,
        "exit_code": result.exit_code,
        "message": result.message,
        "task": task_echo(result.task),
        "skills": list(result.skill_refs),
        "model": result.model,
        "backend": result.backend,
        "endpoint": result.endpoint,
        "files": {
            "created": list(result.created),
            "changed": list(result.changed),
            "refused": [{"path": r.path, "reason": r.reason} for r in result.refused],
        },
        "attempts": [_attempt_dict(attempt) for attempt in result.attempts],
        "strategy": passing_strategy(result),
        "verify": verify_dict(verify, full=False),
        "tokens": _tokens_dict(usage),
        "duration_seconds": round(result.duration_seconds, 2),
        "tokens_per_second": round(usage.tokens_per_second, 1),
        "cost": cost_dict(result),
        "ledger": _ledger_dict(result, recorded),
        "warnings": list(result.warnings),
    }
    if result.handback:
        data["handback"] = result.handback
    if include_code:
        data["code"] = _final_code(result)
    return data


def _ledger_dict(result: RunResult, recorded: Recorded | None) -> dict[str, Any]:
    """Where the row went: the local file, and the team ledger when one is configured."""
    if recorded is None:
        return {"path": None, "recorded": result.ledger_note is None, "note": result.ledger_note}
    ledger: dict[str, Any] = {
        "path": str(recorded.local),
        "recorded": recorded.recorded,
        "note": result.ledger_note,
    }
    if recorded.team is not None:
        ledger.update(team=recorded.team, team_recorded=recorded.team_recorded)
    return ledger


def task_echo(task: str) -> str:
    """The task as the summary shows it: whole when short, else its start and its length."""
    if len(task) <= TASK_ECHO_CHARACTERS:
        return task
    return f"{task[:TASK_ECHO_CHARACTERS].rstrip()}… ({len(task):,} characters)"


def _tokens_dict(usage: Usage) -> dict[str, Any]:
    """Server token counts; for a reasoning model also how long it reasoned and what share of
    the model's time that was (never the reasoning itself)."""
    data: dict[str, Any] = {
        "prompt": usage.prompt_tokens,
        "output": usage.output_tokens,
        "cached": usage.cached_prompt_tokens,
        "reasoning": usage.reasoning_tokens,
    }
    if usage.reasoning_tokens:
        data["reasoning_seconds"] = round(usage.reasoning_seconds, 1)
        data["reasoning_share"] = round(usage.reasoning_share, 2)
    return data


def _final_code(result: RunResult) -> dict[str, str]:
    code: dict[str, str] = {}
    for attempt in result.attempts:
        for change in attempt.plan.changes:
            code[change.path] = change.after.decode("utf-8", errors="replace")
    return code


def cost_dict(result: RunResult) -> dict[str, Any] | None:
    cost = result.cost
    if cost is None:
        return None
    return {
        "cloud_model": cost.cloud_model,
        "prices_date": cost.prices_date,
        "cloud_input_tokens": cost.cloud_input_tokens_estimate,
        "cloud_output_tokens": cost.cloud_output_tokens_estimate,
        "cloud_only_dollars": round(cost.cloud_only_dollars, 6),
        "handoff_dollars": round(cost.handoff_dollars, 6),
        "local_energy_dollars": round(cost.local_energy_dollars, 6),
        "net_saving_dollars": round(cost.net_saving_dollars, 6),
        "net_saving_percent": round(cost.net_saving_percent, 1),
        "estimate": True,
    }


def handoff_characters(result: RunResult) -> int:
    """How many characters the orchestrator reads back for this run: the compact JSON of the
    unpriced result plus the cost section's usual size. Measured once per run (``finish``), so
    the price printed and the ledger row's ``handoff_input_characters`` are the same figure."""
    import json

    text = json.dumps(result_to_dict(result), separators=(",", ":"), ensure_ascii=False)
    return len(text) + (COST_SECTION_CHARACTERS if result.cost is None else 0)
