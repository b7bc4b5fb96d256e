"""``route init``: set a project up for Claude Code (skill, MCP server, checks)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from route.claude_code.project_setup import Check, FileAction, InitPlan


EPILOG = """\
Examples:

  route init

  route init --dry-run

  route init --json
"""


def command(
    project: Annotated[
        Path | None,
        typer.Option("--project", help="Project root (default: found from the current dir)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be done; write nothing.")
    ] = False,
    scaffold: Annotated[
        bool,
        typer.Option(
            "--with-scaffold/--no-scaffold",
            help="Add a starter .skills/scaffold/SKILL.md when the project has no scaffold skill.",
        ),
    ] = True,
    mcp_json: Annotated[
        bool,
        typer.Option(
            "--mcp-json/--no-mcp-json",
            help="Register the MCP server in .mcp.json (else print the `claude mcp add` command).",
        ),
    ] = True,
    check_server: Annotated[
        bool,
        typer.Option(
            "--check-server/--no-check-server", help="Ask the model server if it answers."
        ),
    ] = True,
    agent: Annotated[
        bool,
        typer.Option(
            "--agent",
            help="Also add the local-coder subagent (.claude/agents/local-coder.md): a small "
            "Claude model that turns requests into `generate` calls and reviews the results.",
        ),
    ] = False,
    check_mcp: Annotated[
        bool,
        typer.Option(
            "--check-mcp/--no-check-mcp",
            help="Launch the registered MCP command and complete a handshake with it.",
        ),
    ] = True,
    check_only: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing: launch the command .mcp.json registers, complete an MCP "
            "handshake and tools/list, and run the other checks (exit 1 if the handshake fails).",
        ),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the plan and results as one JSON object.")
    ] = False,
) -> None:
    """Set this project up for Claude Code: install the model-routing skill, offer a starter
    scaffold skill, register `route mcp` in .mcp.json, check the model server and
    `make verify`.

    .mcp.json names route by its absolute path (Claude Code's PATH may not hold route's
    environment, and may find the network tool `route` first); the command is then launched
    and must answer an MCP handshake. For every project at once, run the `claude mcp add
    --scope user` command it prints.

    Safe to run again: files identical to route's are up to date, files you changed are left
    alone, other MCP servers are kept; a registration that named a bare `route` is updated.
    """
    from route import ui
    from route.claude_code.project_setup import (
        InitOptions,
        apply_plan,
        check_registration,
        plan_dict,
        plan_init,
        with_check,
    )
    from route.cli.mcp import project_root

    root = project_root(project, Path.cwd())
    options = InitOptions(
        scaffold=scaffold, mcp_json=mcp_json, check_server=check_server, agent=agent
    )
    plan = plan_init(root, options)
    if not (dry_run or check_only):
        apply_plan(plan)
    if check_mcp or check_only:
        plan = with_check(plan, check_registration(plan.project_root, plan.launch))
    if json_output:
        ui.print_json(plan_dict(plan, dry_run=dry_run or check_only))
    elif check_only:
        _print_checks(plan)
    else:
        _print_plan(plan, dry_run=dry_run)
    if check_only and not all(check.ok for check in plan.checks if check.name == "mcp"):
        raise typer.Exit(1)


def _print_plan(plan: InitPlan, *, dry_run: bool) -> None:
    from route import ui
    from route.claude_code.project_setup import next_steps

    heading = "route init (dry run: nothing written)" if dry_run else "route init"
    ui.print_text(f"{heading} in {plan.project_root}")
    for action in plan.files:
        ui.print_text(_file_line(action, dry_run=dry_run))
    _print_checks(plan)
    steps = next_steps(plan)
    if steps:
        ui.print_text("next:")
        for step in steps:
            ui.print_text(f"  - {step}")


def _print_checks(plan: InitPlan) -> None:
    from route import ui

    ui.print_text("checks:")
    for check in plan.checks:
        ui.print_text(_check_lines(check))


def _file_line(action: FileAction, *, dry_run: bool) -> str:
    from route.claude_code.project_setup import ACTION_LABELS

    label = ACTION_LABELS[action.action]
    if dry_run and action.writes:
        label = f"would {label}"
    return f"  {label:<14} {action.path}  ({action.reason})"


def _check_lines(check: Check) -> str:
    text = f"  {'ok' if check.ok else 'warn':<5} {check.name}: {check.detail}"
    if check.suggestion:
        suggestion = "".join(f"        {line}\n" for line in check.suggestion.splitlines())
        text = f"{text}\n{suggestion.rstrip()}"
    return text
