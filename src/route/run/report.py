"""A run's result as data: the compact JSON for orchestrators, and the cost figures.

Kept apart from ``ui`` so the same dictionary feeds ``--json``, the MCP tool and the hand-off
size estimate (the summary the orchestrator reads is part of what routing costs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from route.values import Attempt, RunResult, VerifyResult

# The orchestrator reads at most this much verify output per run (the tail, where errors are).
JSON_TAIL_LINES = 40
# The cost section adds about this many characters to the summary the orchestrator reads.
COST_SECTION_CHARACTERS = 220


def tail_lines(text: str, lines: int = JSON_TAIL_LINES) -> str:
    kept = text.splitlines()[-lines:]
    return "\n".join(kept)


def _verify_dict(verify: VerifyResult | None, *, full: bool) -> dict[str, Any] | None:
    if verify is None:
        return None
    data: dict[str, Any] = {
        "passed": verify.passed,
        "command": verify.command,
        "exit_code": verify.exit_code,
        "duration_seconds": round(verify.duration_seconds, 2),
    }
    if verify.skipped_reason:
        data["skipped"] = verify.skipped_reason
    if verify.timed_out:
        data["timed_out"] = True
    if not verify.passed:
        data["output_tail"] = verify.output_tail if full else tail_lines(verify.output_tail)
    return data


def _attempt_dict(attempt: Attempt) -> dict[str, Any]:
    usage = attempt.completion.usage
    return {
        "number": attempt.number,
        "failure": attempt.failure,
        "files": [change.path for change in attempt.plan.changes],
        "prompt_tokens": usage.prompt_tokens,
        "output_tokens": usage.output_tokens,
        "tokens_per_second": round(usage.tokens_per_second, 1),
        "verify": _verify_dict(attempt.verify, full=False),
    }


def final_verify(result: RunResult) -> VerifyResult | None:
    for attempt in reversed(result.attempts):
        if attempt.verify is not None:
            return attempt.verify
    return None


def result_to_dict(
    result: RunResult,
    *,
    include_code: bool = False,
    ledger_path: Path | None = None,
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
        "task": result.task,
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
        "verify": _verify_dict(verify, full=False),
        "tokens": {
            "prompt": usage.prompt_tokens,
            "output": usage.output_tokens,
            "cached": usage.cached_prompt_tokens,
        },
        "duration_seconds": round(result.duration_seconds, 2),
        "tokens_per_second": round(usage.tokens_per_second, 1),
        "cost": cost_dict(result),
        "ledger": {
            "path": str(ledger_path) if ledger_path is not None else None,
            "recorded": result.ledger_note is None,
            "note": result.ledger_note,
        },
        "warnings": list(result.warnings),
    }
    if include_code:
        data["code"] = _final_code(result)
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


def summary_characters(result: RunResult) -> int:
    """How many characters the orchestrator reads back for this run (the compact JSON)."""
    import json

    text = json.dumps(result_to_dict(result), separators=(",", ":"), ensure_ascii=False)
    return len(text) + (COST_SECTION_CHARACTERS if result.cost is None else 0)


def attach_cost(
    result: RunResult,
    *,
    cloud_model: str,
    command_text: str,
    price_overrides: Mapping[str, Mapping[str, object]] | None = None,
    power_watts: float | None = None,
    price_per_kwh: float | None = None,
) -> RunResult:
    """The result with its cost report: what the cloud model would have paid without routing,
    against what the hand-off (``command_text`` typed, the summary read) costs it."""
    from route.accounting.pricing import estimate_cost, load_prices
    from route.run.pipeline import total_usage

    table = load_prices(price_overrides)
    price = table.get(cloud_model)
    usage = total_usage(result)
    cost = estimate_cost(
        price=price,
        prices_date=table.date,
        prompt_characters=result.prompt_characters,
        output_characters=result.output_characters,
        handoff_input_characters=summary_characters(result),
        handoff_output_characters=len(command_text),
        succeeded=result.status == "success",
        generation_seconds=usage.generation_seconds,
        power_watts=power_watts,
        price_per_kwh=price_per_kwh,
    )
    return replace(result, cost=cost)
