"""The command-line options ``route gen`` and ``route batch`` share, and how they become a loaded
``Config``: ``Annotated`` aliases (one help text each), the overrides they make, the config load
and the checks both commands run before generating.

Only typer and the standard library are imported here (``route --help`` stays fast).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

if TYPE_CHECKING:
    from route.settings.config import Config
    from route.settings.resolve import RunContext

BackendOption = Annotated[
    str | None, typer.Option(help="auto (default), ollama or openai (OpenAI-compatible).")
]
VerifyOption = Annotated[
    str | None, typer.Option("--verify", help="Verify command (default: make verify).")
]
NoVerifyOption = Annotated[bool, typer.Option("--no-verify", help="Do not run verify.")]
FixOption = Annotated[
    str | None,
    typer.Option(
        "--fix",
        help="Fix command run on the files route wrote before verify ({files} becomes them), "
        "e.g. 'ruff check --fix --exit-zero {files} && ruff format {files}' (default: "
        "fix_command from the config).",
    ),
]
NoFixOption = Annotated[bool, typer.Option("--no-fix", help="Do not run the fix command.")]
MaxOutputTokensOption = Annotated[
    int | None,
    typer.Option(
        help="Output budget per attempt (default 4096; for a model that reasons, "
        "thinking_output_tokens, 16384)."
    ),
]
TemperatureOption = Annotated[float | None, typer.Option(help="Sampling temperature.")]
ThinkOption = Annotated[
    str | None,
    typer.Option(
        help="Reasoning models: auto (default: the model decides), off, on, or low|medium|high "
        "for models that take levels (gpt-oss). off speeds up template boilerplate.",
    ),
]
ShowThinkingOption = Annotated[
    bool,
    typer.Option("--show-thinking", help="Also print the model's reasoning (dimmed, on stderr)."),
]
SeedOption = Annotated[int | None, typer.Option(help="Sampling seed, for repeatable runs.")]
AllowOption = Annotated[
    list[str] | None,
    typer.Option("--allow", help="Let the model write this protected path. Repeatable."),
]
KeepEnvOption = Annotated[
    list[str] | None,
    typer.Option(
        "--keep-env",
        metavar="NAME",
        help="Keep this variable in verify's environment although it looks like a secret "
        "(its value is still redacted from verify's output). Repeatable.",
    ),
]
SandboxOption = Annotated[
    bool,
    typer.Option(
        "--sandbox",
        help="Run verify isolated (Linux: own network with only loopback, own PID namespace); "
        "exit 2 where this system cannot.",
    ),
]
SandboxBestEffortOption = Annotated[
    bool,
    typer.Option(
        "--sandbox-best-effort",
        help="Like --sandbox, but where verify cannot be isolated run it anyway and warn "
        "(also spelled --sandbox=best-effort).",
    ),
]
JsonOutputOption = Annotated[
    bool, typer.Option("--json", help="Print one compact JSON object (for orchestrators).")
]
IncludeCodeOption = Annotated[
    bool, typer.Option("--include-code", help="With --json: include the generated files.")
]
CloudModelOption = Annotated[
    str | None, typer.Option(help="Cloud model to compare costs with (claude-sonnet-4-5).")
]
ProjectOption = Annotated[
    Path | None, typer.Option(help="Project root (default: found from the current dir).")
]
SkillsDirOption = Annotated[
    Path | None, typer.Option(help="Extra skills directory, searched first.")
]
LedgerOption = Annotated[
    str | None,
    typer.Option(help="Ledger file or postgresql:// URL (default: user data)."),
]


def config_overrides(
    *,
    model: str | None,
    backend: str | None,
    host: str | None,
    base_url: str | None,
    verify: str | None,
    max_attempts: int | None,
    max_output_tokens: int | None,
    temperature: float | None,
    seed: int | None,
    cloud_model: str | None,
    ledger: str | None,
    skills_dir: Path | None,
    think: str | None = None,
) -> dict[str, Any]:
    """The config keys the shared options set (None: not given, the config decides)."""
    return {
        "think": think,
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
        "ledger": ledger,
        "skills_dir": str(skills_dir) if skills_dir is not None else None,
    }


def load_project_config(cwd: Path, project: Path | None, overrides: dict[str, Any]) -> RunContext:
    """The run context with ``overrides`` applied, in the project root (``--project`` or
    found from ``cwd``): ``route.settings.resolve.resolve_context``."""
    from route.settings.resolve import resolve_context

    return resolve_context(cwd, project=project, flags=overrides)


def check_cloud_model(config: Config) -> None:
    """Fail before generating when the cloud model has no price (never a silent $0)."""
    from route.accounting.pricing import load_prices

    load_prices(config.prices).get(config.cloud_model)


def sandbox_mode(sandbox: bool, best_effort: bool) -> Literal["off", "strict", "best-effort"]:
    """``--sandbox`` is strict; ``--sandbox-best-effort`` degrades with a warning."""
    if sandbox:
        return "strict"
    return "best-effort" if best_effort else "off"
