"""``route batch``: a plan of tasks in parallel, across one or many model servers."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from route.batch import BatchEvents, BatchOptions, EndpointSpec, Plan
    from route.config import Config

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
same file) · 130 interrupted.
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
    backend: Annotated[
        str | None, typer.Option(help="auto (default), ollama or openai (OpenAI-compatible).")
    ] = None,
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
    verify: Annotated[
        str | None, typer.Option("--verify", help="Verify command (default: make verify).")
    ] = None,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Do not run verify.")] = False,
    verify_each: Annotated[
        bool, typer.Option("--verify-each", help="Verify after each task instead of once.")
    ] = False,
    max_attempts: Annotated[
        int | None, typer.Option(help="Attempts per task including repair rounds (default 3).")
    ] = None,
    max_output_tokens: Annotated[
        int | None, typer.Option(help="Output budget per attempt (default 4096).")
    ] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Allow replacing existing files not given as context.")
    ] = False,
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="Let the model write this protected path. Repeatable."),
    ] = None,
    keep_env: Annotated[
        bool, typer.Option("--keep-env", help="Do not remove secrets from verify's environment.")
    ] = False,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Run verify without network access (Linux).")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one compact JSON object (for orchestrators).")
    ] = False,
    include_code: Annotated[
        bool, typer.Option("--include-code", help="With --json: include the generated files.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live display.")] = False,
    cloud_model: Annotated[
        str | None, typer.Option(help="Cloud model to compare costs with.")
    ] = None,
    project: Annotated[
        Path | None, typer.Option(help="Project root (default: found from the current dir).")
    ] = None,
    skills_dir: Annotated[
        Path | None, typer.Option(help="Extra skills directory, searched first.")
    ] = None,
    ledger: Annotated[Path | None, typer.Option(help="Ledger file (default: user data).")] = None,
) -> None:
    """Run a plan of generation tasks concurrently, verify once, repair, report once.

    Tasks run side by side (--parallel per endpoint, across every configured endpoint; an
    unreachable one hands its tasks to the others), each written through the same safe writer.
    Verify runs once at the end; on failure the tasks whose files the output names get a
    repair round.
    """
    overrides: dict[str, Any] = {
        "model": model,
        "backend": backend,
        "host": host,
        "base_url": base_url,
        "verify_command": verify,
        "max_attempts": max_attempts,
        "max_output_tokens": max_output_tokens,
        "temperature": temperature,
        "seed": seed,
        "cloud_model": cloud_model,
        "ledger": str(ledger) if ledger is not None else None,
        "skills_dir": str(skills_dir) if skills_dir is not None else None,
    }
    cwd = Path.cwd()
    config, root = _load(cwd, project, overrides)
    the_plan = _plan(plan, skill, resource, sections, config=config, cwd=cwd)
    one_server = (host is not None or base_url is not None) and not endpoint
    endpoints = _endpoints(config, tuple(endpoint or ()), parallel, one_server=one_server)
    options = _options(
        config,
        root=root,
        cwd=cwd,
        no_verify=no_verify,
        verify_each=verify_each,
        flags={"dry_run": dry_run, "force": force, "keep_env": keep_env, "sandbox": sandbox},
        allow=tuple(allow or ()),
    )
    _check_cloud_model(config)
    _run(
        the_plan,
        options,
        endpoints,
        config,
        quiet=quiet,
        json_output=json_output,
        code=include_code,
    )


def _load(cwd: Path, project: Path | None, overrides: dict[str, Any]) -> tuple[Config, Path]:
    from route.config import find_project_root, load_config
    from route.errors import UsageError

    if project is not None and not project.is_dir():
        raise UsageError(f"--project {project} is not a directory")
    root = project.resolve() if project is not None else find_project_root(cwd)
    return load_config(root, overrides=overrides).config, root


def _plan(
    plan: Path | None,
    skill: str | None,
    resource: str | None,
    sections: str | None,
    *,
    config: Config,
    cwd: Path,
) -> Plan:
    from route.batch import check_skills, load_plan, plan_from_skill
    from route.errors import UsageError

    skills_dir = Path(config.skills_dir) if config.skills_dir else None
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
    from route.batch import endpoints_from_config

    if one_server:  # --host / --base-url name one server: the configured endpoints stay out
        config = config.model_copy(update={"endpoints": {}, "endpoint": None})
    return endpoints_from_config(config, names, parallel=parallel)


def _options(
    config: Config,
    *,
    root: Path,
    cwd: Path,
    no_verify: bool,
    verify_each: bool,
    flags: dict[str, bool],
    allow: tuple[str, ...],
) -> BatchOptions:
    from route.batch import BatchOptions
    from route.paths import route_home
    from route.pipeline import GenOptions
    from route.verify import VerifySettings

    verify_settings = None
    if not no_verify:
        verify_settings = VerifySettings(
            command=config.verify_command,
            timeout_seconds=config.verify_timeout,
            keep_env=flags["keep_env"],
            sandbox=flags["sandbox"],
            extra_secret_patterns=tuple(config.scrub_env),
        )
    defaults = GenOptions(
        task="",
        skill_refs=(),
        project_root=root,
        cwd=cwd,
        model=config.model,
        skills_dir=Path(config.skills_dir) if config.skills_dir else None,
        max_attempts=config.max_attempts,
        max_output_tokens=config.max_output_tokens,
        temperature=config.temperature,
        seed=config.seed,
        keep_alive=config.keep_alive,
        verify=verify_settings,
        verify_output_tokens=config.verify_output_tokens,
        allow=allow,
        protected_extra=tuple(config.protected),
        force=flags["force"],
        dry_run=flags["dry_run"],
        lock_home=route_home(),
        lock_timeout_seconds=config.verify_timeout + 300,
    )
    return BatchOptions(defaults=defaults, verify_each=verify_each)


def _check_cloud_model(config: Config) -> None:
    """Fail before generating when the cloud model has no price (never a silent $0)."""
    from route.pricing import load_prices

    load_prices(config.prices).get(config.cloud_model)


def _run(
    plan: Plan,
    options: BatchOptions,
    endpoints: tuple[EndpointSpec, ...],
    config: Config,
    *,
    quiet: bool,
    json_output: bool,
    code: bool,
) -> None:
    import signal

    from route import ui
    from route.batch import SilentBatchEvents, finish_batch, run_batch

    view = None
    events: BatchEvents = SilentBatchEvents()
    if not quiet and not json_output and ui.is_terminal(sys.stderr):
        view = ui.BatchView(plan.ids, stream=sys.stderr)
        events = view

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        result = run_batch(plan, options, endpoints, events=events)
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
