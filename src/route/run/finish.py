"""One delegation as the CLI, the MCP server and batches run it, and its one finish: price the
run once, record that one value as its ledger row, and report it. Frontends differ only in how
they show progress and which parts of the report they show."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from route.accounting.ledger import RunRecord
    from route.accounting.recording import Recorded
    from route.run.pipeline import GenOptions, Prepared, RunEvents
    from route.run.report import RunReport
    from route.settings.config import Config
    from route.values import RunResult


def delegate(
    options: GenOptions,
    config: Config,
    *,
    command_text: str,
    events: RunEvents | None = None,
    batch_id: str | None = None,
    prepared: Prepared | None = None,
) -> RunReport:
    """Run ``options`` against the configured backend and finish it (``finish``). ``prepared``
    is the run's resolved prompt when the caller built it first (to refuse bad input before a
    run, and its ledger row, exist)."""
    from route.backends.configured import backend_for
    from route.run.pipeline import run_generation

    result = run_generation(options, lambda: backend_for(config), events=events, prepared=prepared)
    return finish(result, config, command_text=command_text, batch_id=batch_id)


def finish(
    result: RunResult,
    config: Config,
    *,
    command_text: str,
    batch_id: str | None = None,
) -> RunReport:
    """Price a finished run once, record that as its ledger row, and return its report: the
    printed figures, ``--json``, the MCP answer and ``route cost show`` all read the same
    numbers (the hand-off size is measured once, ``handoff_characters``)."""
    from route.run.report import RunReport, handoff_characters

    handoff = handoff_characters(result)
    result = price_run(result, config, command_text=command_text, handoff_characters=handoff)
    result, recorded = record_run(
        result, config, command_text=command_text, handoff_characters=handoff, batch_id=batch_id
    )
    diff = None
    if result.status == "dry_run" and result.attempts:
        from route.safety.writer import render_diff

        diff = render_diff(result.attempts[-1].plan)
    return RunReport(result=result, ledger=recorded, diff=diff)


def price_run(
    result: RunResult, config: Config, *, command_text: str, handoff_characters: int
) -> RunResult:
    """The result with its cost: what the cloud model would have paid without routing, against
    what the hand-off (``command_text`` typed, ``handoff_characters`` read) costs it."""
    from route.accounting.pricing import estimate_cost, load_prices
    from route.run.pipeline import total_usage

    table = load_prices(config.prices)
    usage = total_usage(result)
    cost = estimate_cost(
        price=table.get(config.cloud_model),
        prices_date=table.date,
        prompt_characters=result.prompt_characters,
        output_characters=result.output_characters,
        handoff_input_characters=handoff_characters,
        handoff_output_characters=len(command_text),
        succeeded=result.status == "success",
        generation_seconds=usage.generation_seconds,
        power_watts=config.power_watts,
        price_per_kwh=config.price_per_kwh,
    )
    return replace(result, cost=cost)


def to_run_record(
    result: RunResult,
    *,
    cloud_model: str,
    command_text: str,
    summary_characters: int,
    batch_id: str | None = None,
) -> RunRecord:
    """A run's ledger row (the figures ``price_run`` priced)."""
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
        reasoning_tokens=usage.reasoning_tokens,
    )


def record_run(
    result: RunResult,
    config: Config,
    *,
    command_text: str,
    handoff_characters: int,
    batch_id: str | None = None,
) -> tuple[RunResult, Recorded]:
    """Write the ledger row: to the team ledger when one is configured, and to the local one
    (``accounting.recording``). A ledger failure never takes the run down: the result then
    carries a ``ledger_note`` saying where the row went, or why it could not be recorded."""
    from route.accounting.location import resolve_ledgers
    from route.accounting.recording import record_run as record_row

    ledgers = resolve_ledgers(config.ledger, config.ledger_url, project_root=result.project_root)
    record = to_run_record(
        result,
        cloud_model=config.cloud_model,
        command_text=command_text,
        summary_characters=handoff_characters,
        batch_id=batch_id,
    )
    recorded = record_row(record, ledgers)
    return replace(result, ledger_note=recorded.note), recorded
