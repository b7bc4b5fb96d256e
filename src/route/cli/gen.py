"""``route gen``: delegate one code-generation task to the local model."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from route.config import Config
    from route.pipeline import GenOptions

EPILOG = """\
Examples:

  route gen "service for Projects" --skill scaffold#3

  route gen "Projects resource: model, service and tests" --skill scaffold#1,3,5 --json

  route gen "add a delete endpoint" -s scaffold#routes -c app/routes/users.py --dry-run

  route gen "client for the billing API" --backend openai --base-url http://127.0.0.1:8080/v1

Exit codes: 0 success · 1 verify still failing (or no usable files) · 2 usage or configuration
error · 3 model server unreachable or model missing · 4 model output refused as unsafe ·
130 interrupted.
"""


def gen(
    task: Annotated[str, typer.Argument(help="What to write, in one sentence.")],
    skill: Annotated[
        list[str] | None,
        typer.Option(
            "--skill",
            "-s",
            help="Skill section(s) to follow: NAME#N, NAME#slug, NAME#1,3-5, NAME or "
            "path/SKILL.md#N. Repeatable.",
        ),
    ] = None,
    context: Annotated[
        list[str] | None,
        typer.Option(
            "--context",
            "-c",
            help="File(s) the model should see (globs allowed). Repeatable. Context files may "
            "be modified.",
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Local model (e.g. qwen2.5-coder:7b).")] = None,
    backend: Annotated[
        str | None, typer.Option(help="auto (default), ollama or openai (OpenAI-compatible).")
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Ollama server (else OLLAMA_HOST, else 127.0.0.1:11434).")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1."),
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="Name of an endpoint from the `endpoints` config.")
    ] = None,
    verify: Annotated[
        str | None, typer.Option("--verify", help="Verify command (default: make verify).")
    ] = None,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Do not run verify.")] = False,
    max_attempts: Annotated[
        int | None, typer.Option(help="Attempts including repair rounds (default 3).")
    ] = None,
    max_output_tokens: Annotated[
        int | None, typer.Option(help="Output budget per attempt (default 4096).")
    ] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed, for repeatable runs.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show a diff of what would change; write nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Allow replacing existing files not given with -c.")
    ] = False,
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="Let the model write this protected path. Repeatable."),
    ] = None,
    rollback: Annotated[
        bool,
        typer.Option("--rollback", help="Restore the previous files if the final verify fails."),
    ] = False,
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
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No live output; only the final summary.")
    ] = False,
    print_prompt: Annotated[
        bool,
        typer.Option("--print-prompt", help="Show the messages and token estimate; call nothing."),
    ] = False,
    cloud_model: Annotated[
        str | None, typer.Option(help="Cloud model to compare costs with (claude-sonnet-4-5).")
    ] = None,
    project: Annotated[
        Path | None, typer.Option(help="Project root (default: found from the current dir).")
    ] = None,
    skills_dir: Annotated[
        Path | None, typer.Option(help="Extra skills directory, searched first.")
    ] = None,
    ledger: Annotated[Path | None, typer.Option(help="Ledger file (default: user data).")] = None,
) -> None:
    """Generate code with the local model, write it safely, verify, repair, report.

    The task plus the cited skill sections become the prompt; the answer streams live; files
    are written only inside the project (never .git, the Makefile, CI or secrets); `make verify`
    runs; on failure the model gets the verify output and tries again.
    """
    from route import ui

    overrides: dict[str, Any] = {
        "model": model,
        "backend": backend,
        "host": host,
        "base_url": base_url,
        "endpoint": endpoint,
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
    options = _options(
        config,
        task=task,
        skills=tuple(skill or ()),
        context=tuple(context or ()),
        root=root,
        cwd=cwd,
        no_verify=no_verify,
        flags={
            "dry_run": dry_run,
            "force": force,
            "rollback": rollback,
            "keep_env": keep_env,
            "sandbox": sandbox,
        },
        allow=tuple(allow or ()),
    )
    if print_prompt:
        from route.pipeline import prepare

        prepared = prepare(options)
        for warning in prepared.warnings:
            ui.print_warning(warning)
        ui.print_prompt(
            [(m.role, m.content) for m in prepared.prompt.messages],
            prepared.prompt.estimated_tokens,
        )
        return
    _check_cloud_model(config)
    _run(options, config, quiet=quiet, json_output=json_output, include_code=include_code)


def _load(cwd: Path, project: Path | None, overrides: dict[str, Any]) -> tuple[Config, Path]:
    from route.config import find_project_root, load_config
    from route.errors import UsageError

    if project is not None and not project.is_dir():
        raise UsageError(f"--project {project} is not a directory")
    root = project.resolve() if project is not None else find_project_root(cwd)
    return load_config(root, overrides=overrides).config, root


def _options(
    config: Config,
    *,
    task: str,
    skills: tuple[str, ...],
    context: tuple[str, ...],
    root: Path,
    cwd: Path,
    no_verify: bool,
    flags: dict[str, bool],
    allow: tuple[str, ...],
) -> GenOptions:
    from route.errors import UsageError
    from route.paths import route_home
    from route.pipeline import GenOptions
    from route.verify import VerifySettings

    if not task.strip():
        raise UsageError("the task is empty: say what to write, e.g. route gen 'service for X'")
    if not skills and not context:
        raise UsageError(
            "give the model something to follow: --skill NAME#N (see `route skills list`) "
            "and/or --context PATH"
        )
    verify_settings = None
    if not no_verify:
        verify_settings = VerifySettings(
            command=config.verify_command,
            timeout_seconds=config.verify_timeout,
            keep_env=flags["keep_env"],
            sandbox=flags["sandbox"],
            extra_secret_patterns=tuple(config.scrub_env),
        )
    return GenOptions(
        task=task,
        skill_refs=skills,
        project_root=root,
        cwd=cwd,
        model=_endpoint_model(config),
        context_patterns=context,
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
        rollback=flags["rollback"],
        lock_home=route_home(),
        lock_timeout_seconds=config.verify_timeout + 300,
    )


def _endpoint_model(config: Config) -> str:
    if config.endpoint and config.endpoint in config.endpoints:
        named = config.endpoints[config.endpoint].model
        if named and "model" not in config.model_fields_set:
            return named
    return config.model


def _check_cloud_model(config: Config) -> None:
    """Fail before generating when the cloud model has no price (never a silent $0)."""
    from route.pricing import load_prices

    load_prices(config.prices).get(config.cloud_model)


def _run(
    options: GenOptions, config: Config, *, quiet: bool, json_output: bool, include_code: bool
) -> None:
    import signal

    from route import ui
    from route.delegate import delegate

    text_stream = sys.stderr if json_output else sys.stdout
    live = not quiet and ui.is_terminal(text_stream)
    view = ui.LiveView(
        model=options.model,
        text_stream=text_stream,
        status_stream=sys.stderr,
        show_text=live,
        show_status=live and ui.is_terminal(sys.stderr),
    )

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        result, report = delegate(
            options,
            config,
            command_text=shlex.join(["route", *sys.argv[1:]]),
            events=view,
            include_code=include_code,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    if json_output:
        ui.print_json(report)
    else:
        if "diff" in report:
            ui.print_text(report["diff"])
        ui.render_run_report(report)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
