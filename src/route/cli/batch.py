"""``route batch``: a plan of tasks in parallel, across one or many model servers."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from route.cli import options

if TYPE_CHECKING:
    from route.batch.plan import Plan
    from route.batch.runner import BatchEvents, BatchOptions, EndpointSpec
    from route.run.options import RunChoices
    from route.settings.config import Config
    from route.settings.resolve import RunContext

EPILOG = """\
Examples:

  route batch plan.yaml --parallel 4

  route batch --skill scaffold --resource Projects --sections 1-5 --json

  route batch plan.yaml --endpoint gpu1 --endpoint gpu2 --no-verify

A plan is a YAML list of tasks: task, skill (NAME#N), and optionally id, context, model,
depends_on (ids whose files must exist first; their files become context) and files (what the
task writes, checked up front). See docs/batch-example.yaml.

Exit codes: the worst task's code — 0 success · 1 verify still failing · 2 usage or
configuration error · 3 model server unreachable · 4 output refused (or two tasks writing the
same file), or verify changed files it must not (tampered) · 130 interrupted.
"""


def command(
    plan: Annotated[
        Path | None, typer.Argument(help="Plan file (YAML list of tasks).", show_default=False)
    ] = None,
    skill: Annotated[
        str | None,
        typer.Option(help="Without a plan: one task per numbered section of this skill."),
    ] = None,
    resource: Annotated[
        str | None, typer.Option(help="With --skill: the resource to scaffold, e.g. Projects.")
    ] = None,
    sections: Annotated[
        str | None, typer.Option(help="With --skill: the sections to run, e.g. 1-5 or 1,3.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Local model for every task.")] = None,
    backend: options.BackendOption = None,
    host: Annotated[str | None, typer.Option(help="Ollama server (one server).")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible base URL (one server).")
    ] = None,
    endpoint: Annotated[
        list[str] | None,
        typer.Option(help="Endpoint(s) from the `endpoints` config (default: all). Repeatable."),
    ] = None,
    parallel: Annotated[
        int | None,
        typer.Option(help="Requests at once per endpoint (match the server's slots)."),
    ] = None,
    verify: options.VerifyOption = None,
    no_verify: options.NoVerifyOption = False,
    verify_each: Annotated[
        bool, typer.Option("--verify-each", help="Verify after each task instead of once.")
    ] = False,
    max_attempts: Annotated[
        int | None, typer.Option(help="Attempts per task including repair rounds (default 3).")
    ] = None,
    max_output_tokens: options.MaxOutputTokensOption = None,
    temperature: options.TemperatureOption = None,
    seed: options.SeedOption = None,
    think: options.ThinkOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Allow replacing existing files not given as context.")
    ] = False,
    allow: options.AllowOption = None,
    keep_env: options.KeepEnvOption = None,
    sandbox: options.SandboxOption = False,
    sandbox_best_effort: options.SandboxBestEffortOption = False,
    json_output: options.JsonOutputOption = False,
    include_code: options.IncludeCodeOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live display.")] = False,
    cloud_model: options.CloudModelOption = None,
    project: options.ProjectOption = None,
    skills_dir: options.SkillsDirOption = None,
    ledger: options.LedgerOption = None,
) -> None:
    """Run a plan of generation tasks concurrently, verify once, repair, report once.

    Tasks run side by side (--parallel per endpoint, across every configured endpoint; an
    unreachable one hands its tasks to the others), each written through the same safe writer.
    Verify runs once at the end; on failure the tasks whose files the output names get a
    repair round.
    """
    from route.run.options import RunChoices

    overrides = options.config_overrides(
        model=model,
        backend=backend,
        host=host,
        base_url=base_url,
        verify=verify,
        max_attempts=max_attempts,
        max_output_tokens=max_output_tokens,
        temperature=temperature,
        seed=seed,
        cloud_model=cloud_model,
        ledger=ledger,
        skills_dir=skills_dir,
        think=think,
    )
    cwd = Path.cwd()
    resolved = options.load_project_config(cwd, project, overrides)
    config = resolved.config
    the_plan = _plan(plan, skill, resource, sections, skills_dir=resolved.skills_dir, cwd=cwd)
    one_server = (host is not None or base_url is not None) and not endpoint
    endpoints = _endpoints(config, tuple(endpoint or ()), parallel, one_server=one_server)
    choices = RunChoices(
        verify=not no_verify,
        keep_env=tuple(keep_env or ()),
        sandbox=options.sandbox_mode(sandbox, sandbox_best_effort),
        allow=tuple(allow or ()),
        force=force,
        dry_run=dry_run,
    )
    run_options = _options(resolved, choices, verify_each=verify_each)
    options.check_cloud_model(config)
    _run(
        the_plan,
        run_options,
        endpoints,
        config,
        quiet=quiet,
        json_output=json_output,
        code=include_code,
    )


def _plan(
    plan: Path | None,
    skill: str | None,
    resource: str | None,
    sections: str | None,
    *,
    skills_dir: Path | None,
    cwd: Path,
) -> Plan:
    from route.batch.plan import check_skills, load_plan, plan_from_skill
    from route.errors import UsageError

    if plan is not None:
        if skill or resource or sections:
            raise UsageError("give a plan file or --skill/--resource, not both")
        loaded = load_plan(plan)
        check_skills(loaded, cwd=cwd, skills_dir=skills_dir)
        return loaded
    if not skill or not resource:
        raise UsageError(
            "give a plan file (route batch plan.yaml) or --skill NAME --resource NAME "
            "(one task per numbered section)"
        )
    return plan_from_skill(skill, resource, cwd=cwd, skills_dir=skills_dir, sections=sections)


def _endpoints(
    config: Config, names: tuple[str, ...], parallel: int | None, *, one_server: bool
) -> tuple[EndpointSpec, ...]:
    from dataclasses import replace

    from route.batch.runner import endpoints_from_config

    if one_server:  # --host / --base-url name one server: the configured endpoints stay out
        config = replace(config, endpoints={}, endpoint=None)
    return endpoints_from_config(config, names, parallel=parallel)


def _options(resolved: RunContext, choices: RunChoices, *, verify_each: bool) -> BatchOptions:
    from route.batch.runner import BatchOptions
    from route.run.options import gen_options
    from route.settings.locations import route_home

    defaults = gen_options(
        resolved,
        choices,
        task="",
        skill_refs=(),
        model=resolved.config.model,
        lock_home=route_home(),
    )
    return BatchOptions(defaults=defaults, verify_each=verify_each)


def _run(
    plan: Plan,
    batch_options: BatchOptions,
    endpoints: tuple[EndpointSpec, ...],
    config: Config,
    *,
    quiet: bool,
    json_output: bool,
    code: bool,
) -> None:
    import signal

    from route import ui
    from route.batch.result import finish_batch
    from route.batch.runner import SilentBatchEvents, run_batch
    from route.run.finish import check_destinations

    check_destinations(batch_options.defaults, config)

    view = None
    events: BatchEvents = SilentBatchEvents()
    if not quiet and not json_output and ui.is_terminal(sys.stderr):
        view = ui.BatchView(plan.ids, stream=sys.stderr)
        events = view

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        result = run_batch(plan, batch_options, endpoints, events=events)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if view is not None:
            view.close()
    result, report = finish_batch(
        result,
        config,
        command_text=shlex.join(["route", *sys.argv[1:]]),
        include_code=code,
    )
    if json_output:
        ui.print_json(report)
    else:
        ui.render_batch_report(report)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
