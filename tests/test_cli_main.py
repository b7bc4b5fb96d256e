"""The route group: lazily loaded sub-commands, their listing, plain help, and light start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from route.cli.main import COMMANDS, LazyCommands, app, load_command

runner = CliRunner()

# What `route --help` and `route --version` must not import (start-up, issue 8).
HEAVY = ("httpx", "pydantic", "rich", "yaml", "mcp", "route.cli.gen", "route.cli.models")


@pytest.mark.parametrize("name", sorted(COMMANDS))
@pytest.mark.parametrize("limit", [30, 45, 68, 200])
def test_listed_summary_matches_the_commands_own_help(name: str, limit: int) -> None:
    table = LazyCommands(COMMANDS)
    loaded = load_command(name, COMMANDS[name])
    assert table.short_help(name, limit) == loaded.get_short_help_str(limit)


def test_help_lists_every_command_in_table_order() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    listing = result.output.split("Commands:", 1)[1].split("Examples:", 1)[0].splitlines()
    names = [line.split()[0] for line in listing if line.startswith("  ") and line.split()]
    assert names == list(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_help_is_plain_text(name: str) -> None:
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: route {name}" in result.output
    assert "╭" not in result.output and "│" not in result.output


def test_a_sub_command_loads_only_its_own_module() -> None:
    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    assert isinstance(commands, LazyCommands)
    assert commands.short_help("gen", 80) is not None
    assert commands.short_help("nope", 80) is None
    assert "gen" in commands and "nope" not in commands
    assert len(commands) == len(COMMANDS)


def test_a_typo_gets_a_suggestion() -> None:
    result = runner.invoke(app, ["gn"])
    assert result.exit_code == 2
    assert "Did you mean 'gen'?" in result.output


def _modules_after(
    arguments: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> list[str]:
    script = (
        "import json, sys\n"
        "from route.cli.main import app\n"
        "try:\n"
        f"    app({arguments!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(k for k, v in sys.modules.items() if v is not None)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=cwd,
        env=env,
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("arguments", [["--help"], ["--version"]])
def test_help_and_version_import_nothing_heavy(arguments: list[str]) -> None:
    modules = _modules_after(arguments)
    loaded = [name for name in HEAVY if name in modules or f"{name}." in " ".join(modules)]
    assert loaded == []


def test_gen_help_loads_gen_but_not_the_other_commands() -> None:
    modules = _modules_after(["gen", "--help"])
    assert "route.cli.gen" in modules
    assert "route.cli.models" not in modules and "route.cli.cost" not in modules


def test_httpx_never_loads_its_command_line_client() -> None:
    """httpx imports click, rich and pygments for its own CLI when click is installed (it is,
    in the dev environment: uvicorn needs it); route's entry point stops that."""
    script = (
        "import sys\n"
        "import route.cli.main\n"
        "import httpx\n"
        "loaded = [k for k, v in sys.modules.items() if v is not None]\n"
        "print(any(k == 'rich' or k.startswith(('rich.', 'pygments')) for k in loaded))\n"
        "print('httpx._main' in loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "False"]


def test_gen_imports_no_pydantic(tmp_path: Path) -> None:
    """Config validation is route's own (route.settings.config), and typer is kept below 0.29, which
    builds a pydantic TypeAdapter for every option: pydantic costs ~100 ms of every call.
    (The run fails on the closed port after parsing every option and loading the config.)"""
    (tmp_path / "Makefile").write_text("verify:\n\ttrue\n")
    (tmp_path / "route.yaml").write_text("max_attempts: 2\n")
    env = {**os.environ, "ROUTE_HOME": str(tmp_path / "home")}
    arguments = ["gen", "write x.py", "--host", "http://127.0.0.1:9", "--model", "m", "--json"]
    modules = _modules_after(arguments, cwd=tmp_path, env=env)
    assert "route.settings.config" in modules and "route.cli.gen" in modules
    assert [name for name in modules if name.split(".")[0] in ("pydantic", "pydantic_core")] == []


def test_skills_list_loads_no_ledger(tmp_path: Path) -> None:
    """The run context works out the ledger path only when asked: a command that never records
    a run does not pay for sqlite3 at start-up (it reads route.yaml, for ``skills_dir``)."""
    (tmp_path / "Makefile").write_text("verify:\n\ttrue\n")
    (tmp_path / "route.yaml").write_text("max_attempts: 2\n")
    env = {**os.environ, "ROUTE_HOME": str(tmp_path / "home")}
    modules = _modules_after(["skills", "list"], cwd=tmp_path, env=env)
    assert "route.settings.resolve" in modules and "route.cli.skills" in modules
    assert [name for name in modules if name.startswith(("sqlite3", "route.accounting"))] == []


def _command_paths() -> list[tuple[str, ...]]:
    """Every command and sub-command of route, as the words that invoke it."""
    paths: list[tuple[str, ...]] = [()]
    for name, where in COMMANDS.items():
        command = load_command(name, where)
        paths.append((name,))
        paths.extend((name, sub) for sub in getattr(command, "commands", {}))
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=" ".join)
def test_every_help_ends_with_examples(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    before, found, examples = result.stdout.partition("Examples:")
    assert found, f"`route {' '.join(path)} --help` has no examples"
    assert "Options:" in before  # the examples come after the options
    commands = [line.strip() for line in examples.splitlines() if line.strip()]
    assert commands and commands[0].startswith(" ".join(("route", *path)))


def test_sandbox_modes_take_the_issue_spelling() -> None:
    from route.cli.main import spelled_arguments

    assert spelled_arguments(["gen", "t", "--sandbox=best-effort"]) == [
        "gen", "t", "--sandbox-best-effort",
    ]  # fmt: skip
    assert spelled_arguments(["gen", "--sandbox=strict", "--", "--sandbox=best-effort"]) == [
        "gen", "--sandbox", "--", "--sandbox=best-effort",
    ]  # fmt: skip


def test_sandbox_best_effort_spelling_reaches_the_command(tmp_path: Path) -> None:
    """Through the real console entry point: ``--sandbox=best-effort`` is accepted, an unknown
    mode is a usage error (exit 2)."""
    (tmp_path / "route.yaml").write_text("verify_command: 'true'\n", encoding="utf-8")
    (tmp_path / "notes.py").write_text("x = 1\n", encoding="utf-8")
    command = [sys.executable, "-m", "route", "gen", "task", "-c", "notes.py", "--print-prompt"]
    accepted = subprocess.run(
        [*command, "--sandbox=best-effort"], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "ROUTE_HOME": str(tmp_path / "home")}, check=False,
    )  # fmt: skip
    assert accepted.returncode == 0, accepted.stderr
    refused = subprocess.run(
        [*command, "--sandbox=sometimes"], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "ROUTE_HOME": str(tmp_path / "home")}, check=False,
    )  # fmt: skip
    assert refused.returncode == 2
