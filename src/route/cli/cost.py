"""``route cost``: what delegation saved, from the ledger, with dated and overridable prices."""

from __future__ import annotations

import enum
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from route.accounting.costs import PricedRun
    from route.accounting.ledger import RunRecord
    from route.accounting.pricing import PriceTable
    from route.settings.config import Config

EPILOG = """\
Examples:

  route cost                          last 30 days

  route cost --by week --since 12w

  route cost --by skill --cloud-model claude-opus-4-7 --json

  route cost runs -n 5

  route cost show 3f9c2a

  route cost prices
"""

app = typer.Typer(
    help="What delegation saved: totals, per period/model/skill/project, single runs, prices.",
    epilog=EPILOG,
    rich_markup_mode=None,
    no_args_is_help=False,
)


class GroupBy(enum.StrEnum):
    day = "day"
    week = "week"
    month = "month"
    model = "model"
    skill = "skill"
    project = "project"
    status = "status"


LedgerOption = Annotated[
    Path | None,
    typer.Option("--ledger", help="Ledger file (default: ROUTE_HOME or the user data folder)."),
]
CloudModelOption = Annotated[
    str | None,
    typer.Option("--cloud-model", help="Re-price as if this cloud model had been the alternative."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")]


@app.callback(invoke_without_command=True)
def summary(
    context: typer.Context,
    by: Annotated[GroupBy | None, typer.Option("--by", help="Group the figures.")] = None,
    since: Annotated[
        str, typer.Option(help="Start: a duration back (7d, 12h, 2w), a date, or `all`.")
    ] = "30d",
    until: Annotated[
        str | None, typer.Option(help="End: a duration back, a date (inclusive) or a time.")
    ] = None,
    project: Annotated[Path | None, typer.Option(help="Only runs in this project folder.")] = None,
    cloud_model: CloudModelOption = None,
    json_output: JsonOption = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="CSV on stdout.")] = False,
    ledger: LedgerOption = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Explain how savings are estimated.")
    ] = False,
) -> None:
    """Summary for a period (default: the last 30 days). All cloud figures are estimates."""
    if context.invoked_subcommand is not None:
        return
    from route import ui
    from route.accounting import costs
    from route.errors import UsageError

    if json_output and csv_output:
        raise UsageError("--json and --csv cannot be used together — pick one")
    config, root = _settings()
    table = _prices(config)
    if explain:
        ui.print_text(costs.explain_savings(table, cloud_model or config.cloud_model))
        return
    period = costs.parse_period(since, until, now=time.time())
    project_text = str(project.expanduser().resolve()) if project is not None else None
    records = costs.read_runs(
        _ledger_path(ledger, config, root),
        since=period.since,
        until=period.until,
        project=project_text,
    )
    result = costs.summarize(
        _price(records, table, config, cloud_model),
        prices_date=table.date,
        period=period,
        by=by.value if by is not None else None,
        project=project_text,
        cloud_model=cloud_model,
    )
    if json_output:
        ui.print_json(result.to_dict())
    elif csv_output:
        ui.print_text(costs.summary_csv(result).rstrip("\n"))
    else:
        title = costs.summary_title(result)
        if result.groups:
            ui.print_table(title, costs.GROUP_COLUMNS, costs.group_rows(result))
        else:
            ui.print_table(title, ("figure", "value"), costs.summary_rows(result.total))
        ui.print_text("Cloud figures are estimates; `route cost --explain` shows how.")


@app.command("runs")
def runs(
    count: Annotated[int, typer.Option("-n", "--count", min=1, help="How many runs.")] = 20,
    project: Annotated[Path | None, typer.Option(help="Only runs in this project folder.")] = None,
    cloud_model: CloudModelOption = None,
    json_output: JsonOption = False,
    ledger: LedgerOption = None,
) -> None:
    """List recent runs, newest first."""
    from route import ui
    from route.accounting import costs

    config, root = _settings()
    table = _prices(config)
    records = costs.read_runs(
        _ledger_path(ledger, config, root),
        project=str(project.expanduser().resolve()) if project is not None else None,
        limit=count,
    )
    priced = _price(records, table, config, cloud_model)
    if json_output:
        ui.print_json(
            {"prices_date": table.date, "runs": [costs.priced_run_dict(run) for run in priced]}
        )
        return
    ui.print_table(
        f"route runs (newest first, {len(priced)})", costs.RUN_COLUMNS, costs.run_rows(priced)
    )


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="A run id or a unique prefix of one.")],
    cloud_model: CloudModelOption = None,
    json_output: JsonOption = False,
    ledger: LedgerOption = None,
) -> None:
    """Show one run in full, with its cost."""
    from route import ui
    from route.accounting import costs

    config, root = _settings()
    table = _prices(config)
    record = costs.find_run(_ledger_path(ledger, config, root), run_id)
    run = _price([record], table, config, cloud_model)[0]
    if json_output:
        ui.print_json(costs.priced_run_dict(run))
        return
    ui.print_table(f"run {record.run_id}", ("field", "value"), costs.run_detail_rows(run))


@app.command("prices")
def prices(json_output: JsonOption = False) -> None:
    """The prices in force: package date and source, and config overrides."""
    from route import ui
    from route.accounting import costs

    config, _ = _settings()
    table = _prices(config)
    if json_output:
        ui.print_json(costs.prices_dict(table))
        return
    ui.print_table(
        f"cloud prices (USD per million tokens; package prices of {table.date})",
        costs.PRICE_COLUMNS,
        costs.price_rows(table),
    )
    if table.source:
        ui.print_text(f"Source: {table.source}")
    if table.note:
        ui.print_text(f"Note: {table.note}")


def _settings() -> tuple[Config, Path]:
    """The resolved config (its ``ledger`` made absolute where it was set) and project root."""
    from route.settings.resolve import resolve_context

    context = resolve_context(Path.cwd())
    return context.config, context.project_root


def _prices(config: Config) -> PriceTable:
    from route.accounting.pricing import load_prices

    return load_prices(config.prices)


def _ledger_path(flag: Path | None, config: Config, root: Path) -> Path:
    """``--ledger`` (relative to the current folder), else the resolved config's ledger."""
    from route.accounting.ledger import resolve_ledger_path

    return resolve_ledger_path(flag, config.ledger, project_root=root)


def _price(
    records: list[RunRecord], table: PriceTable, config: Config, cloud_model: str | None
) -> list[PricedRun]:
    from route.accounting.costs import price_runs

    return price_runs(
        records,
        table,
        cloud_model=cloud_model,
        power_watts=config.power_watts,
        price_per_kwh=config.price_per_kwh,
    )
