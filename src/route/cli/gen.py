"""``route gen``: delegate one code-generation task to the local model."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from route.cli import options

if TYPE_CHECKING:
    from route.run.options import RunChoices
    from route.run.pipeline import GenOptions, Prepared
    from route.settings.config import Config
    from route.settings.resolve import RunContext

EPILOG = """\
Examples:

  route gen "service for Projects" --skill scaffold#3

  route gen "Projects resource: model, service and tests" --skill scaffold#1,3,5 --json

  route gen "add a delete endpoint" -s scaffold#routes -c app/routes/users.py --dry-run

  route gen "tests for the service" -s scaffold#5 -t tests/test_service.py

  route gen "client for the billing API" --backend openai --base-url http://127.0.0.1:8080/v1

  route gen --task-file task.md -s scaffold#3        (a long task; or: route gen - < task.md)

Exit codes: 0 success · 1 verify still failing (or no usable files) · 2 usage or configuration
error · 3 model server unreachable or model missing · 4 model output refused as unsafe, or
verify changed files it must not (tampered) · 130 interrupted.
"""


def gen(
    task: Annotated[
        str | None,
        typer.Argument(
            help="What to write, in one sentence; `-` reads it from stdin.", show_default=False
        ),
    ] = None,
    task_file: Annotated[
        Path | None,
        typer.Option(
            "--task-file",
            help="Read the task from this file (for a task too long for the command line).",
            dir_okay=False,
        ),
    ] = None,
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
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            "-t",
            help="A file the answer must write (new, or existing: then it may be replaced). "
            "The prompt names it and the answer starts with its path, which keeps small models "
            "from rewriting a context file instead. Repeatable; an answer that leaves one out "
            "fails.",
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Local model (e.g. qwen2.5-coder:7b).")] = None,
    backend: options.BackendOption = None,
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
    verify: options.VerifyOption = None,
    no_verify: options.NoVerifyOption = False,
    fix: options.FixOption = None,
    no_fix: options.NoFixOption = False,
    max_attempts: Annotated[
        int | None, typer.Option(help="Attempts including repair rounds (default 3).")
    ] = None,
    max_output_tokens: options.MaxOutputTokensOption = None,
    temperature: options.TemperatureOption = None,
    seed: options.SeedOption = None,
    think: options.ThinkOption = None,
    show_thinking: options.ShowThinkingOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show a diff of what would change; write nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Allow replacing existing files not given with -c.")
    ] = False,
    allow: options.AllowOption = None,
    rollback: Annotated[
        bool,
        typer.Option("--rollback", help="Restore the previous files if the final verify fails."),
    ] = False,
    keep_env: options.KeepEnvOption = None,
    sandbox: options.SandboxOption = False,
    sandbox_best_effort: options.SandboxBestEffortOption = False,
    json_output: options.JsonOutputOption = False,
    include_code: options.IncludeCodeOption = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No live output; only the final summary.")
    ] = False,
    print_prompt: Annotated[
        bool,
        typer.Option("--print-prompt", help="Show the messages and token estimate; call nothing."),
    ] = False,
    cloud_model: options.CloudModelOption = None,
    project: options.ProjectOption = None,
    skills_dir: options.SkillsDirOption = None,
    ledger: options.LedgerOption = None,
) -> None:
    """Generate code with the local model, write it safely, verify, repair, report.

    The task plus the cited skill sections become the prompt; the answer streams live; files
    are written only inside the project (never .git, the Makefile, CI or secrets); the fix
    command (if any) tidies them; `make verify` runs; on failure the model gets the verify
    output with the lines it points to, and tries again.
    """
    from route import ui
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
    overrides["endpoint"] = endpoint
    overrides["fix_command"] = fix
    cwd = Path.cwd()
    resolved = options.load_project_config(cwd, project, overrides)
    config = resolved.config
    choices = RunChoices(
        verify=not no_verify,
        fix=not no_fix,
        keep_env=tuple(keep_env or ()),
        sandbox=options.sandbox_mode(sandbox, sandbox_best_effort),
        allow=tuple(allow or ()),
        force=force,
        dry_run=dry_run,
        rollback=rollback,
    )
    run_options = _options(
        resolved,
        choices,
        task=read_task(task, task_file),
        skills=tuple(skill or ()),
        context=tuple(context or ()),
        targets=tuple(target or ()),
    )
    from route.run.pipeline import prepare

    # An unknown skill or section or a missing context file is a usage error before any run
    # starts: no request, and no ledger row for a run that never ran.
    prepared = prepare(run_options)
    if print_prompt:
        for warning in prepared.warnings:
            ui.print_warning(warning)
        messages: list[tuple[str, str]] = [(m.role, m.content) for m in prepared.prompt.messages]
        if prepared.prefill:  # the start of the answer, sent as a final assistant message
            messages.append(("assistant (prefill)", prepared.prefill))
        if json_output:
            ui.print_json(
                {
                    "status": "prompt",
                    "messages": [{"role": role, "content": text} for role, text in messages],
                    "estimated_prompt_tokens": prepared.prompt.estimated_tokens,
                    "warnings": list(prepared.warnings),
                }
            )
        else:
            ui.print_prompt(messages, prepared.prompt.estimated_tokens)
        return
    options.check_cloud_model(config)
    _run(
        run_options,
        prepared,
        config,
        quiet=quiet,
        json_output=json_output,
        include_code=include_code,
        show_thinking=show_thinking,
    )


def read_task(task: str | None, task_file: Path | None) -> str:
    """The task: the argument, stdin for ``-``, or the text of ``--task-file``."""
    from route.errors import UsageError

    if task_file is not None:
        if task is not None:
            raise UsageError("give the task as an argument or with --task-file, not both")
        try:
            return task_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise UsageError(f"cannot read --task-file {task_file}: {reason}") from error
    if task == "-":
        try:
            return sys.stdin.read()
        except UnicodeDecodeError as error:
            raise UsageError("the task on stdin is not UTF-8 text") from error
    if task is None:
        raise UsageError(
            "give the task: route gen 'service for X' -s NAME#N, --task-file PATH, "
            "or - to read it from stdin"
        )
    return task


def _options(
    run_context: RunContext,
    choices: RunChoices,
    *,
    task: str,
    skills: tuple[str, ...],
    context: tuple[str, ...],
    targets: tuple[str, ...],
) -> GenOptions:
    from route.errors import UsageError
    from route.run.options import gen_options
    from route.settings.locations import route_home

    if not task.strip():
        raise UsageError("the task is empty: say what to write, e.g. route gen 'service for X'")
    if not skills and not context:
        raise UsageError(
            "give the model something to follow: --skill NAME#N (see `route skills list`) "
            "and/or --context PATH"
        )
    return gen_options(
        run_context,
        choices,
        task=task,
        skill_refs=skills,
        context_patterns=context,
        targets=targets,
        lock_home=route_home(),
    )


def _run(
    run_options: GenOptions,
    prepared: Prepared,
    config: Config,
    *,
    quiet: bool,
    json_output: bool,
    include_code: bool,
    show_thinking: bool = False,
) -> None:
    import signal

    from route import ui
    from route.run.finish import delegate
    from route.run.pipeline import RunEvents, SilentEvents

    text_stream = sys.stderr if json_output else sys.stdout
    live = not quiet and ui.is_terminal(text_stream)
    # Nothing is shown live without a terminal: no per-token work at all then.
    view: RunEvents = (
        ui.LiveView(
            model=run_options.model,
            text_stream=text_stream,
            status_stream=sys.stderr,
            show_text=True,
            show_status=ui.is_terminal(sys.stderr),
            show_thinking=show_thinking,
        )
        if live
        else SilentEvents()
    )

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        report = delegate(
            run_options,
            config,
            command_text=shlex.join(["route", *sys.argv[1:]]),
            events=view,
            prepared=prepared,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    if json_output:
        from route.run.report import report_json

        ui.print_json(report_json(report, include_code=include_code))
    else:
        if report.diff is not None:
            ui.print_text(report.diff)
        ui.render_run_report(report)
    if report.result.exit_code:
        raise typer.Exit(report.result.exit_code)
