"""Build the pipeline's ``GenOptions`` from a loaded ``Config`` and a run's own choices.

One builder serves ``route gen``, ``route batch`` (its per-task defaults) and the MCP server's
``generate`` tool, so a setting read from ``route.yaml`` means the same in all three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from route.run.pipeline import GenOptions
    from route.safety.fix_step import FixSettings
    from route.safety.verify import SandboxMode, VerifySettings
    from route.settings.config import Config
    from route.settings.resolve import RunContext

# How much longer than verify a run waits for another run's project lock.
LOCK_WAIT_MARGIN_SECONDS = 300


@dataclass(frozen=True, slots=True)
class RunChoices:
    """What a run chooses beyond the config: flags of ``route gen`` and ``route batch``, or the
    arguments of the MCP ``generate`` tool (which never sets ``force``, ``allow`` or the
    environment flags)."""

    verify: bool = True  # False: --no-verify
    fix: bool = True  # False: --no-fix (the config's fix_command is not run)
    keep_env: tuple[str, ...] = ()  # --keep-env NAME: variables verify keeps
    sandbox: SandboxMode = "off"  # --sandbox: "strict"; --sandbox-best-effort: "best-effort"
    allow: tuple[str, ...] = ()
    force: bool = False
    dry_run: bool = False
    rollback: bool = False


def verify_settings(config: Config, choices: RunChoices) -> VerifySettings | None:
    """How verify runs for these choices, or None when it does not run. A blank verify command
    is a ``UsageError`` (``--no-verify`` is the way to skip)."""
    from route.safety.path_rules import DEFAULT_PROTECTED
    from route.safety.verify import VerifySettings, check_verify_command

    if not choices.verify:
        return None
    return VerifySettings(
        command=check_verify_command(config.verify_command),
        timeout_seconds=config.verify_timeout,
        keep_env=choices.keep_env,
        sandbox=choices.sandbox,
        extra_secret_patterns=tuple(config.scrub_env),
        protected=(*DEFAULT_PROTECTED, *config.protected),
    )


def fix_settings(config: Config, choices: RunChoices) -> FixSettings | None:
    """How the fix step runs for these choices, or None when there is none. A blank fix command
    is a ``UsageError``, as a blank verify command is (``--no-fix`` is the way to skip)."""
    from route.errors import UsageError
    from route.safety.fix_step import FixSettings

    if not choices.fix or config.fix_command is None:
        return None
    if not config.fix_command.strip():
        raise UsageError(
            "the fix command is blank: give one with --fix CMD (or fix_command in route.yaml), "
            "or skip the fix step with --no-fix"
        )
    from route.safety.path_rules import DEFAULT_PROTECTED

    return FixSettings(
        command=config.fix_command,
        timeout_seconds=config.verify_timeout,
        keep_env=choices.keep_env,
        sandbox=choices.sandbox,
        extra_secret_patterns=tuple(config.scrub_env),
        protected=(*DEFAULT_PROTECTED, *config.protected),
    )


def gen_options(
    context: RunContext,
    choices: RunChoices,
    *,
    task: str,
    skill_refs: tuple[str, ...],
    lock_home: Path | None,
    context_patterns: tuple[str, ...] = (),
    targets: tuple[str, ...] = (),
    model: str | None = None,
) -> GenOptions:
    """The options of one run: the resolved settings, the run's choices and its inputs.
    ``targets`` are the ``--target`` paths as given (relative to the context's ``cwd``); a
    target no answer could write (outside the project, protected) is a ``UsageError``.
    ``model`` replaces the context's model (a batch's default is the config's own)."""
    from route.errors import UsageError
    from route.local_models.catalog import catalog_thinks
    from route.run.pipeline import GenOptions
    from route.safety.path_rules import target_paths
    from route.safety.verify import check_sandbox

    config = context.config
    project_root, cwd = context.project_root, context.cwd
    model = model if model is not None else context.model
    try:
        checked_targets = target_paths(
            targets,
            project_root,
            cwd,
            protected=context.protected,
            allow=choices.allow,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    verify = verify_settings(config, choices)
    check_sandbox(verify)
    raised = thinking_output_tokens(config)
    return GenOptions(
        task=task,
        skill_refs=skill_refs,
        project_root=project_root,
        cwd=cwd,
        model=model,
        context_patterns=context_patterns,
        skills_dir=context.skills_dir,
        max_attempts=config.max_attempts,
        max_output_tokens=config.max_output_tokens,
        temperature=config.temperature,
        seed=config.seed,
        keep_alive=config.keep_alive,
        verify=verify,
        fix=fix_settings(config, choices),
        verify_output_tokens=config.verify_output_tokens,
        allow=choices.allow,
        protected_extra=tuple(config.protected),
        force=choices.force,
        dry_run=choices.dry_run,
        rollback=choices.rollback,
        lock_home=lock_home,
        lock_timeout_seconds=config.verify_timeout + LOCK_WAIT_MARGIN_SECONDS,
        targets=checked_targets,
        think=config.think,
        thinking_output_tokens=raised,
        # Read only to raise the budget for think=auto: skip the catalog when it cannot matter.
        model_thinks=catalog_thinks(model)
        if raised is not None and config.think == "auto"
        else None,
    )


def thinking_output_tokens(config: Config) -> int | None:
    """The output budget for a model that reasons, or None to never raise it: an explicit
    ``max_output_tokens`` (flag or file) always wins, and ``think: off`` raises nothing."""
    if "max_output_tokens" in config.given or config.think == "off":
        return None
    return config.thinking_output_tokens
