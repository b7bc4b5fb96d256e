"""`route init` on the command line: dry run, idempotent JSON, user files left alone, errors.

The commands are registered here exactly as ``route.cli.main`` registers them, on an app using
its ``RouteGroup`` (which turns ``RouteError`` into a one-line message and an exit code)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from route.claude_code.project_setup import SHIPPED_SKILLS
from route.cli import init, mcp
from route.cli.main import RouteGroup
from tests.servers import free_port

ROUTING = ".claude/skills/model-routing/SKILL.md"


def make_app() -> typer.Typer:
    app = typer.Typer(cls=RouteGroup)
    app.command("init")(init.command)
    app.command("mcp")(mcp.command)
    return app


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "Makefile").write_text("verify:\n\tpytest -q\n")
    monkeypatch.chdir(root)
    return root


def invoke(*arguments: str) -> Any:
    # Nothing listens at this address: the server check reports "not running".
    environment = {"OLLAMA_HOST": f"http://127.0.0.1:{free_port()}"}
    return CliRunner().invoke(make_app(), ["init", *arguments], env=environment)


def files(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def test_dry_run_shows_the_plan_and_writes_nothing(project: Path) -> None:
    result = invoke("--dry-run")

    assert result.exit_code == 0, result.output
    assert "dry run: nothing written" in result.stdout
    assert f"would create   {ROUTING}" in result.stdout
    assert "would create   .mcp.json" in result.stdout
    assert "warn  ollama: not running at" in result.stdout
    assert "ok    verify: `make verify` exists (Makefile)" in result.stdout
    # The command it would register answers an MCP handshake (launched for real).
    assert f"ok    mcp: `{sys.executable} -m route mcp` answered initialize" in result.stdout
    assert files(project) == {"Makefile"}


def test_init_twice_in_json_the_second_run_changes_nothing(project: Path) -> None:
    first = invoke("--json", "--no-check-mcp")
    snapshot = {name: (project / name).read_bytes() for name in files(project)}
    second = invoke("--json", "--no-check-mcp")

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    created = json.loads(first.stdout)
    again = json.loads(second.stdout)
    assert created["dry_run"] is False
    assert {item["path"] for item in created["files"] if item["action"] == "create"} == {
        ROUTING,
        ".claude/skills/model-routing/reference.md",
        ".skills/model-routing/SKILL.md",
        ".skills/model-routing/reference.md",
        ".skills/scaffold/SKILL.md",
        ".mcp.json",
    }
    assert {item["action"] for item in again["files"]} == {"up_to_date"}
    assert again["next_steps"] == [
        f"to serve every project instead (user level): {again['claude_command']}"
    ]
    assert {name: (project / name).read_bytes() for name in files(project)} == snapshot
    checks = {check["name"]: check for check in again["checks"]}
    assert checks["ollama"]["ok"] is False
    assert checks["verify"]["ok"] is True


def test_a_user_modified_skill_is_left_alone_and_said_so(project: Path) -> None:
    target = project / ROUTING
    target.parent.mkdir(parents=True)
    target.write_text("---\nname: model-routing\n---\n# Our routing rules\n\n## 1. Rule\n\nX.\n")
    before = target.read_bytes()

    result = invoke("--no-scaffold", "--no-check-mcp")

    assert result.exit_code == 0, result.output
    assert f"left alone     {ROUTING}  (modified" in result.stdout
    assert target.read_bytes() == before
    assert (project / ".mcp.json").is_file()


def test_without_mcp_json_the_claude_command_is_printed(project: Path) -> None:
    result = invoke("--no-mcp-json", "--no-scaffold", "--no-check-server", "--no-check-mcp")

    assert result.exit_code == 0, result.output
    command = f"claude mcp add --scope user route -- {sys.executable} -m route mcp"
    assert f"register the MCP server: {command}" in result.stdout
    assert "ollama:" not in result.stdout  # --no-check-server
    assert not (project / ".mcp.json").exists()
    assert (project / ROUTING).read_text() == (
        SHIPPED_SKILLS / "model-routing/SKILL.md"
    ).read_text()


def test_a_missing_make_verify_prints_a_suggested_target(project: Path) -> None:
    (project / "Makefile").write_text("test:\n\tpytest -q\n")
    (project / "pyproject.toml").write_text('[project]\nname = "demo"\n')

    result = invoke("--dry-run", "--no-check-server", "--no-check-mcp")

    assert result.exit_code == 0, result.output
    assert "warn  verify: Makefile has no `verify` target" in result.stdout
    assert "        verify:\n        \truff check .\n        \tpytest -q" in result.stdout


def test_project_that_is_not_a_folder_is_a_usage_error(project: Path) -> None:
    result = invoke("--project", str(project / "Makefile"))

    assert result.exit_code == 2
    assert "route: error: --project" in result.stderr
    assert "is not a directory" in result.stderr
