"""route init's fix-step proposal, from the fixers a project already uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from route.claude_code.fix_proposal import (
    BLACK,
    GOFMT,
    PRETTIER,
    RUFF,
    RUFF_THEN_BLACK,
    RUSTFMT,
    check_fix,
    propose_fix_command,
)
from route.claude_code.project_setup import InitOptions, plan_init
from route.claude_code.registration import LaunchCommand

LAUNCH = LaunchCommand("/opt/venvs/route/bin/route", ("mcp",))


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"pyproject.toml": "[tool.ruff]\nline-length = 100\n"}, RUFF),
        ({"ruff.toml": ""}, RUFF),
        ({"requirements-dev.txt": "Ruff==0.6\n"}, RUFF),
        ({"pyproject.toml": "[tool.ruff.lint]\n[tool.black]\n"}, RUFF_THEN_BLACK),
        ({"pyproject.toml": "[tool.black]\n"}, BLACK),
        ({"package.json": '{"devDependencies": {"prettier": "^3"}}'}, PRETTIER),
        ({".prettierrc.json": "{}"}, PRETTIER),
        ({"go.mod": "module x\n"}, GOFMT),
        ({"Cargo.toml": "[package]\n"}, RUSTFMT),
        ({"package.json": "not json"}, None),
        ({"package.json": "[]"}, None),
        ({"README.md": "ruff"}, None),
    ],
)
def test_proposal_follows_the_project(tmp_path: Path, files: dict[str, str],
                                      expected: str | None) -> None:  # fmt: skip
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert propose_fix_command(tmp_path) == expected


def test_check_shows_the_config_or_the_line_to_add(tmp_path: Path) -> None:
    assert check_fix(tmp_path, "make fix").detail == "fix command from the config: make fix"
    assert check_fix(tmp_path, None).suggestion is None
    (tmp_path / "go.mod").write_text("module x\n")
    assert check_fix(tmp_path, None).suggestion == 'fix_command: "gofmt -w {files}"'


def test_route_init_plans_the_proposal(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\n")
    plan = plan_init(tmp_path, InitOptions(check_server=False), launch=LAUNCH)
    (fix,) = [check for check in plan.checks if check.name == "fix"]
    assert fix.suggestion == f'fix_command: "{RUFF}"'
    (tmp_path / "route.yaml").write_text("fix_command: ruff format {files}\n")
    plan = plan_init(tmp_path, InitOptions(check_server=False), launch=LAUNCH)
    (fix,) = [check for check in plan.checks if check.name == "fix"]
    assert fix.detail == "fix command from the config: ruff format {files}"
