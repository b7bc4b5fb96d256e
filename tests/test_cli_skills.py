"""``route skills list`` and ``route skills show`` through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from route.cli.main import app
from route.errors import SectionNotFound, SkillError, SkillNotFound
from route.prompting.skills import resolve_reference, skill_search_dirs
from route.prompting.tokens import estimate_tokens

SCAFFOLD = """\
---
name: scaffold
description: Conventions for adding a resource.
---
# Scaffold

Ids are ints.

## 1. Model

Model body.

## 2. Schema

Schema body.

## 3. Service Layer

Service body.
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with one good and one broken skill, as the working directory; HOME empty."""
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)
    for name, text in (("scaffold", SCAFFOLD), ("broken", "no headings\n")):
        (root / ".skills" / name).mkdir(parents=True)
        (root / ".skills" / name / "SKILL.md").write_text(text, encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_list_shows_skills_and_warns_about_broken_ones(project: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["skills", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["name", "description", "sections", "path"]
    assert lines[2].split()[0] == "scaffold"
    assert "Conventions for adding a resource." in lines[2]
    assert lines[2].split()[-2:] == ["3", ".skills/scaffold/SKILL.md"]
    assert "broken" not in result.stdout
    assert "route: warning: skipped a skill:" in result.stderr
    assert "no Markdown headings" in result.stderr


def test_list_shows_section_numbers_and_titles(project: Path, runner: CliRunner) -> None:
    (project / ".skills" / "plain").mkdir()
    (project / ".skills" / "plain" / "SKILL.md").write_text("# Plain\n\n## Setup\n\nx\n")
    result = runner.invoke(app, ["skills", "list"])
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert [line for line in lines if line.startswith("scaffold#")] == [
        "scaffold#1  1. Model",
        "scaffold#2  2. Schema",
        "scaffold#3  3. Service Layer",
    ]
    assert "plain#setup  Setup" in lines  # a heading without a number is cited by its slug


def test_list_json(project: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["skills", "list", "--json"])
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["skills"] == [
        {
            "name": "scaffold",
            "description": "Conventions for adding a resource.",
            "sections": 3,
            "outline": [
                {"ref": "scaffold#1", "number": 1, "slug": "model", "title": "1. Model"},
                {"ref": "scaffold#2", "number": 2, "slug": "schema", "title": "2. Schema"},
                {
                    "ref": "scaffold#3",
                    "number": 3,
                    "slug": "service-layer",
                    "title": "3. Service Layer",
                },
            ],
            "path": ".skills/scaffold/SKILL.md",
        }
    ]
    assert len(payload["problems"]) == 1
    assert payload["searched"] == [str(project / ".skills")]


def test_list_with_skills_dir_first(project: Path, runner: CliRunner, tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    (extra / "scaffold").mkdir(parents=True)
    (extra / "scaffold" / "SKILL.md").write_text("# Other\n\n## 1. Only\n")
    (extra / "routing").mkdir()
    (extra / "routing" / "SKILL.md").write_text("---\ndescription: when to delegate\n---\n## A\n")
    result = runner.invoke(app, ["skills", "list", "--json", "--skills-dir", str(extra)])
    payload = json.loads(result.stdout)
    by_name = {skill["name"]: skill for skill in payload["skills"]}
    assert by_name["scaffold"]["path"] == str(extra / "scaffold" / "SKILL.md")
    assert by_name["scaffold"]["sections"] == 1
    assert by_name["routing"]["description"] == "when to delegate"


def test_list_without_skills(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["skills", "list"])
    assert result.exit_code == 0
    assert "No skills found" in result.stdout


def test_show_prints_exactly_the_excerpt(project: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["skills", "show", "scaffold#3"])
    assert result.exit_code == 0, result.output
    expected = resolve_reference(
        "scaffold#3", skill_search_dirs(project, home=project / "none"), project
    ).text
    assert result.stdout == expected + "\n"
    assert "## 3. Service Layer" in result.stdout
    assert "## 2. Schema" not in result.stdout
    assert f"~{estimate_tokens(expected)} tokens" in result.stderr
    assert "scaffold#3" in result.stderr


def test_show_several_refs_of_one_skill_merges_them(project: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["skills", "show", "scaffold#3", "scaffold#model"])
    assert result.exit_code == 0
    assert result.stdout.count("Ids are ints.") == 1
    assert result.stdout.index("## 3. Service Layer") < result.stdout.index("## 1. Model")


def test_show_json_of_several_skills_is_one_object(project: Path, runner: CliRunner) -> None:
    (project / ".skills" / "other").mkdir()
    (project / ".skills" / "other" / "SKILL.md").write_text("# Other\n\n## 1. One\n\nx\n")
    result = runner.invoke(app, ["skills", "show", "scaffold#1", "other#1", "--json"])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    payload = json.loads(line)
    assert [item["skill"] for item in payload["excerpts"]] == ["scaffold", "other"]
    assert payload["estimated_tokens"] == sum(i["estimated_tokens"] for i in payload["excerpts"])


def test_show_json(project: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["skills", "show", "scaffold#1-2", "--json"])
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["ref"] == "scaffold#1-2"
    assert payload["skill"] == "scaffold"
    assert payload["path"] == ".skills/scaffold/SKILL.md"
    assert payload["sections"] == [
        {"number": 1, "slug": "model", "title": "1. Model"},
        {"number": 2, "slug": "schema", "title": "2. Schema"},
    ]
    assert payload["estimated_tokens"] == estimate_tokens(payload["text"])
    assert payload["warnings"] == []
    assert result.stderr == ""


def test_show_path_reference(project: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["skills", "show", ".skills/scaffold/SKILL.md#2"])
    assert result.exit_code == 0
    assert "## 2. Schema" in result.stdout


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["skills", "show", "missing#1"], SkillNotFound, "no skill named 'missing'"),
        (["skills", "show", "scaffold#9"], SectionNotFound, "1. model, 2. schema"),
        (["skills", "list", "--skills-dir", "nope"], SkillError, "skills directory nope"),
    ],
)
def test_errors_exit_2_with_one_line(
    project: Path, runner: CliRunner, args: list[str], error: type[Exception], message: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("route: error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    debug = runner.invoke(app, args, env={"ROUTE_DEBUG": "1"})
    assert isinstance(debug.exception, error)


def test_console_entry_prints_one_line_and_exit_code_2(project: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", "from route.cli.main import run; run()", "skills", "show", "x#1"],
        capture_output=True,
        text=True,
        check=False,
        cwd=project,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("route: error: no skill named 'x'")
    assert "scaffold (" in lines[0]
