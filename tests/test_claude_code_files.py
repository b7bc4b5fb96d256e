"""The files route installs for Claude Code agree with what route accepts: the model-routing
skill (small SKILL.md, details in reference.md, marked for the orchestrator), the local-coder
subagent in Claude Code's agent format, and `route init --agent` writing it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from route.claude_code.project_setup import (
    SHIPPED_AGENTS,
    SHIPPED_SKILLS,
    InitOptions,
    apply_plan,
    plan_init,
)
from route.claude_code.registration import LaunchCommand
from route.cli.main import app
from route.mcp.tools import BY_NAME, GENERATE
from route.prompting.skills import load_skill
from tests.conftest import REPOSITORY

ROUTING = SHIPPED_SKILLS / "model-routing"
AGENT = SHIPPED_AGENTS / "local-coder.md"
SKILL_BUDGET_BYTES = 4096
# Read-only tools of Claude Code the subagent may use besides route's MCP tools.
READ_ONLY_TOOLS = {"Read", "Grep", "Glob"}


def front_matter(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    head, _, body = text[4:].partition("\n---\n")
    data = yaml.safe_load(head)
    assert isinstance(data, dict)
    return data, body


def gen_options() -> set[str]:
    command: Any = typer.main.get_command(app)  # a click group of typer's own
    gen = command.get_command(command.context_class(command), "gen")
    assert gen is not None
    return {option for param in gen.params for option in (*param.opts, *param.secondary_opts)}


# --------------------------------------------------------------------------- the skill


def test_the_repository_copy_of_the_skill_is_the_shipped_one() -> None:
    shipped = {path.name: path.read_bytes() for path in ROUTING.iterdir()}
    copy_folder = REPOSITORY / ".skills" / "model-routing"
    copy = {path.name: path.read_bytes() for path in copy_folder.iterdir()}

    assert set(shipped) == {"SKILL.md", "reference.md"}
    assert copy == shipped


def test_the_skill_is_small_marked_for_the_orchestrator_and_points_to_its_reference() -> None:
    metadata, body = front_matter(ROUTING / "SKILL.md")

    assert len((ROUTING / "SKILL.md").read_bytes()) <= SKILL_BUDGET_BYTES
    assert metadata["name"] == "model-routing"
    assert metadata["audience"] == "orchestrator"
    assert "Use when" in metadata["description"]
    assert "(reference.md)" in body
    assert load_skill(ROUTING / "SKILL.md").audience == "orchestrator"


@pytest.mark.parametrize(
    "lesson",
    [
        "every field",  # the task as a complete spec
        "the conventions require",
        "Cite the convention sections with the code section",
        "Name the test file as a target",
        "dependency order",
        "thinking off for boilerplate",
        "`verify_failed`",
        "`refused`",
        "`verify.passed: null`",
        "Take the work back",
    ],
)
def test_the_skill_teaches(lesson: str) -> None:
    assert lesson.lower() in (ROUTING / "SKILL.md").read_text(encoding="utf-8").lower()


@pytest.mark.parametrize("name", ["SKILL.md", "reference.md"])
def test_the_skill_names_only_flags_route_gen_has(name: str) -> None:
    text = (ROUTING / name).read_text(encoding="utf-8")
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-z])(?=[\s`\]\)\"',])", text))

    assert named  # the shell column is there
    assert named <= gen_options() | {"--json"}, named - gen_options()


def test_the_reference_lists_exactly_the_generate_arguments() -> None:
    text = (ROUTING / "reference.md").read_text(encoding="utf-8")
    arguments_table = text.split("| argument |", 1)[1].split("\n\n", 1)[0]
    table = re.findall(r"^\| `([a-z_]+)`", arguments_table, re.MULTILINE)

    assert table == list(GENERATE.properties)


def test_the_mcp_column_names_only_arguments_the_tools_have() -> None:
    text = (ROUTING / "SKILL.md").read_text(encoding="utf-8")
    row_cells = [line.split("|")[2] for line in text.splitlines() if line.startswith("| ")]
    arguments = {name for cell in row_cells for name in re.findall(r"`([a-z_]+): ", cell)} | {
        name for cell in row_cells for name in re.findall(r"`([a-z_]+)`", cell)
    }
    known = {name for tool in BY_NAME.values() for name in tool.properties} | set(BY_NAME)

    assert arguments
    assert arguments <= known, arguments - known


# --------------------------------------------------------------------------- the subagent


def test_the_subagent_is_in_claude_codes_format() -> None:
    metadata, body = front_matter(AGENT)

    assert set(metadata) == {"name", "description", "tools", "model"}
    assert metadata["name"] == "local-coder"
    assert metadata["model"] == "haiku"
    assert "Use it for" in metadata["description"]
    tools = {tool.strip() for tool in metadata["tools"].split(",")}
    route_tools = {tool.removeprefix("mcp__route__") for tool in tools if "__" in tool}
    assert route_tools and route_tools <= set(BY_NAME)
    assert "generate" in route_tools
    assert tools - {f"mcp__route__{tool}" for tool in route_tools} <= READ_ONLY_TOOLS
    assert "`generate`" in body


def test_the_subagent_uses_only_arguments_generate_has() -> None:
    _, body = front_matter(AGENT)
    with_values = set(re.findall(r"`([a-z_]+): ", body))
    places = set(re.findall(r"in `([a-z_]+)`", body))

    assert {"think", "rollback"} <= with_values
    assert {"context_paths", "targets"} <= places
    assert with_values | places <= set(GENERATE.properties)


def test_init_agent_writes_the_subagent_once(tmp_path: Path) -> None:
    launch = LaunchCommand("/opt/route/bin/route", ("mcp",))
    options = InitOptions(check_server=False, agent=True)

    first = plan_init(tmp_path, options, launch=launch)
    apply_plan(first)
    second = plan_init(tmp_path, options, launch=launch)

    written = tmp_path / ".claude" / "agents" / "local-coder.md"
    assert written.read_bytes() == AGENT.read_bytes()
    agent_actions = [a.action for a in second.files if a.path.endswith("local-coder.md")]
    assert agent_actions == ["up_to_date"]
    without = plan_init(tmp_path / "..", InitOptions(check_server=False), launch=launch)
    assert not any(a.path.endswith("local-coder.md") for a in without.files)
