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

    check_destinations(options, config)
    result = run_generation(options, lambda: backend_for(config), events=events, prepared=prepared)
    return finish(result, config, command_text=command_text, batch_id=batch_id)


def check_destinations(options: GenOptions, config: Config) -> None:
    """Check, before the model is asked, that route can write where a run writes outside the
    project: its ledger and its project locks (``UsageError`` naming the folder otherwise)."""
    from route.accounting.location import resolve_ledgers
    from route.settings.locations import check_writable

    if not options.dry_run:  # a dry run writes no ledger row and takes no lock
        ledgers = resolve_ledgers(
            config.ledger, config.ledger_url, project_root=options.project_root
        )
        check_writable(
            ledgers.local.parent,
            "its ledger",
            "point --ledger (or ROUTE_LEDGER, or ROUTE_HOME) at a writable folder",
        )
    if options.lock_home is not None and not options.dry_run:
        check_writable(
            options.lock_home / "locks",
            "its project locks",
            "point ROUTE_HOME at a writable folder",
        )


def finish(
    result: RunResult,
    config: Config,
    *,
    command_text: str,
    batch_id: str | None = None,
    summary_characters: int | None = None,
) -> RunReport:
    """Price a finished run once, record that as its ledger row, and return its report: the
    printed figures, ``--json``, the MCP answer and ``route cost show`` all read the same
    numbers (the hand-off size is measured once, ``handoff_characters``).

    The hand-off is what the orchestrator really sent (``command_text``) and read back: the
    compact report, or ``summary_characters`` when the frontend returns less (the MCP server
    answers a run that failed before writing with its one-line message)."""
    from route.run.report import RunReport, handoff_characters

    if not is_a_run(result):
        # Input refused before the model was asked, and dry runs: nothing was delegated, so
        # nothing is priced or recorded (README: such a run is not a ledger row).
        return RunReport(
            result=replace(result, ledger_note=NOT_A_RUN),
            ledger=None,
            diff=_dry_run_diff(result),
        )
    handoff = summary_characters if summary_characters is not None else handoff_characters(result)
    result = price_run(result, config, command_text=command_text, handoff_characters=handoff)
    result, recorded = record_run(
        result, config, command_text=command_text, handoff_characters=handoff, batch_id=batch_id
    )
    return RunReport(result=result, ledger=recorded, diff=_dry_run_diff(result))


NOT_A_RUN = "not a run: refused before the model was asked, or a dry run"


def is_a_run(result: RunResult) -> bool:
    """Whether ``result`` is a delegation the ledger counts. A dry run writes nothing, and input
    refused before the model was asked (bad settings, a context file that cannot be read, a
    prompt too large for the model) delegated nothing: neither is a run. A run the model server
    failed (unreachable, an error mid-stream) or that was interrupted is one."""
    from route.errors import EXIT_USAGE

    if result.status == "dry_run":
        return False
    return bool(result.attempts) or result.exit_code != EXIT_USAGE


def _dry_run_diff(result: RunResult) -> str | None:
    if result.status != "dry_run" or not result.attempts:
        return None
    from route.safety.writer import render_diff

    return render_diff(result.attempts[-1].plan)


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
