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
    from route.accounting.location import LedgerChoice
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

  route cost --team --by user         the team ledger (`ledger: postgresql://...`)

  route cost --team --by project --since 4w

  route cost push --dry-run           what would go to the team ledger

  route cost forget 3f9c2a 77b01e     drop rows (a refused run, a test)

  route cost forget --before 2026-01-01 --dry-run
"""

PUSH_EPILOG = """\
Examples:

  route cost push --dry-run

  route cost push --json
"""

FORGET_EPILOG = """\
Examples:

  route cost forget 3f9c2a

  route cost forget --before 2026-01-01 --dry-run

  route cost forget 3f9c2a --team
"""

RUNS_EPILOG = """\
Examples:

  route cost runs

  route cost runs -n 5 --project .

  route cost runs --cloud-model claude-opus-4-7 --json
"""

SHOW_EPILOG = """\
Examples:

  route cost show 3f9c2a

  route cost show 3f9c2a --json
"""

PRICES_EPILOG = """\
Examples:

  route cost prices

  route cost prices --json
"""

app = typer.Typer(
    help="What delegation saved: totals, per period/model/skill/project/user, single runs, "
    "prices; the team ledger with --team.",
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
    user = "user"
    machine = "machine"


LedgerOption = Annotated[
    str | None,
    typer.Option(
        "--ledger",
        help="Ledger file or postgresql:// URL (default: the local ledger in ROUTE_HOME or the "
        "user data folder).",
    ),
]
TeamOption = Annotated[
    bool,
    typer.Option(
        "--team", help="Read the team ledger (`ledger: postgresql://...`) instead of the local one."
    ),
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
    team: TeamOption = False,
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
        if csv_output:
            raise UsageError("--explain is text, not a table — drop --csv (or use --json)")
        explanation = costs.explain_savings(table, cloud_model or config.cloud_model)
        if json_output:
            model = table.get(cloud_model or config.cloud_model).model
            ui.print_json(
                {"cloud_model": model, "prices_date": table.date, "explanation": explanation}
            )
        else:
            ui.print_text(explanation)
        return
    period = costs.parse_period(since, until, now=time.time())
    project_text = str(project.expanduser().resolve()) if project is not None else None
    choice = _choose(ledger, team, config, root)
    records = costs.read_runs(
        choice.target,
        since=period.since,
        until=period.until,
        project=project_text,
        must_exist=choice.named,
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
        if isinstance(choice.target, str):
            ui.print_text(f"Ledger: {choice.where}")
        ui.print_text("Cloud figures are estimates; `route cost --explain` shows how.")


@app.command("runs", epilog=RUNS_EPILOG)
def runs(
    count: Annotated[
        int, typer.Option("-n", "--count", min=1, max=1_000_000, help="How many runs.")
    ] = 20,
    project: Annotated[Path | None, typer.Option(help="Only runs in this project folder.")] = None,
    cloud_model: CloudModelOption = None,
    json_output: JsonOption = False,
    ledger: LedgerOption = None,
    team: TeamOption = False,
) -> None:
    """List recent runs, newest first."""
    from route import ui
    from route.accounting import costs

    config, root = _settings()
    table = _prices(config)
    choice = _choose(ledger, team, config, root)
    records = costs.read_runs(
        choice.target,
        project=str(project.expanduser().resolve()) if project is not None else None,
        limit=count,
        must_exist=choice.named,
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


@app.command("show", epilog=SHOW_EPILOG)
def show(
    run_id: Annotated[str, typer.Argument(help="A run id or a unique prefix of one.")],
    cloud_model: CloudModelOption = None,
    json_output: JsonOption = False,
    ledger: LedgerOption = None,
    team: TeamOption = False,
) -> None:
    """Show one run in full, with its cost."""
    from route import ui
    from route.accounting import costs

    config, root = _settings()
    table = _prices(config)
    record = costs.find_run(_choose(ledger, team, config, root).target, run_id)
    run = _price([record], table, config, cloud_model)[0]
    if json_output:
        ui.print_json(costs.priced_run_dict(run))
        return
    ui.print_table(f"run {record.run_id}", ("field", "value"), costs.run_detail_rows(run))


@app.command("prices", epilog=PRICES_EPILOG)
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


@app.command("push", epilog=PUSH_EPILOG)
def push(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list the runs that would be sent.")
    ] = False,
    json_output: JsonOption = False,
    ledger: Annotated[
        Path | None,
        typer.Option("--ledger", help="The local ledger file to push from (default: ROUTE_HOME)."),
    ] = None,
) -> None:
    """Copy the local ledger's runs the team ledger lacks (recorded while it was down).

    Idempotent: a run id is unique in the team ledger, and pushed runs are marked locally, so
    pushing twice adds nothing."""
    from route import ui
    from route.accounting import costs
    from route.accounting.location import resolve_ledger_path, team_url
    from route.accounting.sharing import push as push_runs
    from route.errors import UsageError

    config, root = _settings()
    url = team_url(config.ledger, config.ledger_url)
    if url is None:
        raise UsageError(
            "no team ledger is configured — set `ledger: postgresql://user@host/database` "
            "in route.yaml (README: Team ledger)"
        )
    local = resolve_ledger_path(ledger, config.ledger, project_root=root)
    result = push_runs(local, url, dry_run=dry_run)
    if json_output:
        ui.print_json(result.to_dict())
        return
    if dry_run:
        title = f"would push {len(result.to_send)} run(s) from {result.local} to {result.team}"
    else:
        title = f"pushed {result.added} run(s) from {result.local} to {result.team}"
    if result.to_send:
        table = _prices(config)
        priced = _price(list(result.to_send), table, config, None)
        ui.print_table(title, costs.RUN_COLUMNS, costs.run_rows(priced))
    else:
        ui.print_text(f"{title}: the team ledger has every local run")
    if result.already_there:
        ui.print_text(f"{result.already_there} run(s) were already there (skipped).")


@app.command("forget", epilog=FORGET_EPILOG)
def forget(
    run_ids: Annotated[
        list[str] | None, typer.Argument(help="Run ids or unique prefixes (`route cost runs`).")
    ] = None,
    before: Annotated[
        str | None,
        typer.Option("--before", help="Also every run started before this date (or duration)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list the runs that would go.")
    ] = False,
    json_output: JsonOption = False,
    ledger: LedgerOption = None,
    team: TeamOption = False,
) -> None:
    """Drop runs from the ledger (a refused run, a test): the only way a row leaves it.

    Every id must name one run, or nothing is removed. The local and the team ledger are
    separate: forget in each (--team) where the run is."""
    from route import ui
    from route.accounting import costs
    from route.accounting.forgetting import forget as forget_runs

    config, root = _settings()
    choice = _choose(ledger, team, config, root)
    cutoff = costs.parse_before(before, now=time.time()) if before is not None else None
    result = forget_runs(choice.target, run_ids or [], before=cutoff, dry_run=dry_run)
    if json_output:
        ui.print_json(
            {
                "ledger": result.ledger,
                "dry_run": result.dry_run,
                "runs": [record.run_id for record in result.runs],
                "removed": result.removed,
            }
        )
        return
    verb = "would forget" if dry_run else "forgot"
    count = len(result.runs) if dry_run else result.removed
    if result.runs:
        table = _prices(config)
        priced = _price(list(result.runs), table, config, None)
        ui.print_table(
            f"{verb} {count} run(s) in {result.ledger}", costs.RUN_COLUMNS, costs.run_rows(priced)
        )
    else:
        ui.print_text(f"no run in {result.ledger} started before {before}; nothing removed")


def _settings() -> tuple[Config, Path]:
    """The resolved config (its ``ledger`` made absolute where it was set) and project root."""
    from route.settings.resolve import resolve_context

    context = resolve_context(Path.cwd())
    return context.config, context.project_root


def _prices(config: Config) -> PriceTable:
    from route.accounting.pricing import load_prices

    return load_prices(config.prices)


def _choose(flag: str | None, team: bool, config: Config, root: Path) -> LedgerChoice:
    from route.accounting.location import choose_ledger

    return choose_ledger(
        flag, team=team, ledger=config.ledger, ledger_url=config.ledger_url, project_root=root
    )


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
