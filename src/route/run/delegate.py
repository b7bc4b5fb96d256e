"""One delegation as the CLI, the MCP server and batches run it: pipeline, cost, ledger row,
compact report. Frontends differ only in how they show progress and the result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from route.run.pipeline import GenOptions, Prepared, RunEvents
    from route.settings.config import Config
    from route.values import RunResult


def delegate(
    options: GenOptions,
    config: Config,
    *,
    command_text: str,
    events: RunEvents | None = None,
    include_code: bool = False,
    batch_id: str | None = None,
    prepared: Prepared | None = None,
) -> tuple[RunResult, dict[str, Any]]:
    """Run ``options`` against the configured backend and return the final result (with its
    cost and ledger note) and the compact report dictionary (``--json``'s shape). ``prepared``
    is the run's resolved prompt when the caller built it first (to refuse bad input before a
    run, and its ledger row, exist)."""
    from route.backends.configured import backend_for
    from route.run.pipeline import run_generation

    result = run_generation(options, lambda: backend_for(config), events=events, prepared=prepared)
    return finish(
        result, config, command_text=command_text, include_code=include_code, batch_id=batch_id
    )


def finish(
    result: RunResult,
    config: Config,
    *,
    command_text: str,
    include_code: bool = False,
    batch_id: str | None = None,
) -> tuple[RunResult, dict[str, Any]]:
    """Price a finished run, record its ledger row, and build its report."""
    from route.run.record import record_run
    from route.run.report import attach_cost, result_to_dict

    result = attach_cost(
        result,
        cloud_model=config.cloud_model,
        command_text=command_text,
        price_overrides=config.prices,
        power_watts=config.power_watts,
        price_per_kwh=config.price_per_kwh,
    )
    result, ledger_path = record_run(result, config, command_text=command_text, batch_id=batch_id)
    report = result_to_dict(result, include_code=include_code, ledger_path=ledger_path)
    if result.status == "dry_run" and result.attempts:
        from route.safety.writer import render_diff

        report["diff"] = render_diff(result.attempts[-1].plan)
    return result, report
