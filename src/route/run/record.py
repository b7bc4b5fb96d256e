"""Turn a run's result into its ledger row, and record it without ever failing the run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from route.values import RunResult

if TYPE_CHECKING:
    from route.accounting.ledger import RunRecord
    from route.settings.config import Config


def to_run_record(
    result: RunResult,
    *,
    cloud_model: str,
    command_text: str,
    summary_characters: int,
    batch_id: str | None = None,
) -> RunRecord:
    from route import __version__
    from route.accounting.ledger import RunRecord, join_skill_refs
    from route.run.pipeline import total_usage
    from route.run.report import final_verify

    usage = total_usage(result)
    verify = final_verify(result)
    return RunRecord(
        run_id=result.run_id,
        batch_id=batch_id,
        started_at=result.started_at,
        duration_seconds=result.duration_seconds,
        task=result.task,
        skill_refs=join_skill_refs(result.skill_refs),
        project=str(result.project_root),
        model=result.model,
        backend=result.backend,
        endpoint=result.endpoint,
        cloud_model=cloud_model,
        status=result.status,
        exit_code=result.exit_code,
        attempts=len(result.attempts),
        prompt_tokens=usage.prompt_tokens,
        output_tokens=usage.output_tokens,
        cached_prompt_tokens=usage.cached_prompt_tokens,
        prompt_characters=result.prompt_characters,
        output_characters=result.output_characters,
        handoff_input_characters=summary_characters,
        handoff_output_characters=len(command_text),
        generation_seconds=usage.generation_seconds,
        prompt_seconds=usage.prompt_seconds,
        load_seconds=usage.load_seconds,
        files_created=len(result.created),
        files_changed=len(result.changed),
        files_refused=len(result.refused),
        verify_passed=None if verify is None or verify.skipped_reason else verify.passed,
        route_version=__version__,
        message=" ".join(result.message.split())[:500],
    )


def record_run(
    result: RunResult, config: Config, *, command_text: str, batch_id: str | None = None
) -> tuple[RunResult, Path]:
    """Write the ledger row. A broken ledger never takes the run down: the result then carries
    a ``ledger_note`` saying why the row could not be recorded."""
    from route.accounting.ledger import Ledger, resolve_ledger_path
    from route.errors import RouteError
    from route.run.report import summary_characters

    path = resolve_ledger_path(None, config.ledger, project_root=result.project_root)
    record = to_run_record(
        result,
        cloud_model=config.cloud_model,
        command_text=command_text,
        summary_characters=summary_characters(result),
        batch_id=batch_id,
    )
    try:
        with Ledger.open(path) as ledger:
            ledger.record(record)
    except (RouteError, OSError) as error:
        return replace(result, ledger_note=f"could not record the run: {error}"), path
    return result, path
