"""`route init` as plan and apply: idempotence, files the user changed, .mcp.json merging,
and the read-only checks (model server over loopback, `make verify`)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from route.claude_code.project_setup import (
    SHIPPED_SKILLS,
    InitOptions,
    InitPlan,
    apply_plan,
    check_model_server,
    check_registration,
    check_verify,
    plan_dict,
    plan_init,
)
from route.claude_code.registration import (
    HandshakeResult,
    LaunchCommand,
    claude_mcp_add,
    is_route_launch,
    launch_of,
)
from route.errors import UsageError
from route.prompting.skills import load_skill
from route.settings.config import Config
from tests.conftest import EXAMPLE_PROJECT, REPOSITORY
from tests.servers import FakeModelServer, free_port

ROUTING_CLAUDE = ".claude/skills/model-routing/SKILL.md"
ROUTING_SKILLS = ".skills/model-routing/SKILL.md"
SCAFFOLD = ".skills/scaffold/SKILL.md"
ROUTING_REFERENCE = ".claude/skills/model-routing/reference.md"
ROUTING_SKILLS_REFERENCE = ".skills/model-routing/reference.md"
OFFLINE = InitOptions(check_server=False)
# The route init registers: an absolute path, as when it runs from a virtual environment.
LAUNCH = LaunchCommand("/opt/venvs/route/bin/route", ("mcp",))
MCP_ENTRY = LAUNCH.entry()
MCP_ADD_COMMAND = "claude mcp add --scope user route -- /opt/venvs/route/bin/route mcp"


def shipped(name: str, file: str = "SKILL.md") -> str:
    return (SHIPPED_SKILLS / name / file).read_text(encoding="utf-8")


def actions(plan: InitPlan) -> dict[str, str]:
    return {action.path: action.action for action in plan.files}


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    return root


# --------------------------------------------------------------------------- files


def test_init_twice_creates_everything_once_then_reports_up_to_date(project: Path) -> None:
    first = plan_init(project, OFFLINE, launch=LAUNCH)

    assert actions(first) == {
        ROUTING_CLAUDE: "create",
        ROUTING_REFERENCE: "create",
        ROUTING_SKILLS: "create",  # the scaffold starter puts the project on .skills/
        ROUTING_SKILLS_REFERENCE: "create",
        SCAFFOLD: "create",
        ".mcp.json": "create",
    }
    written = apply_plan(first)
    assert {action.path for action in written} == set(actions(first))
    assert (project / ROUTING_CLAUDE).read_text() == shipped("model-routing")
    assert (project / ROUTING_SKILLS).read_text() == shipped("model-routing")
    assert (project / ROUTING_REFERENCE).read_text() == shipped("model-routing", "reference.md")
    assert (project / SCAFFOLD).read_text() == shipped("scaffold")
    assert json.loads((project / ".mcp.json").read_text()) == {"mcpServers": {"route": MCP_ENTRY}}
    after_first = tree(project)

    second = plan_init(project, OFFLINE, launch=LAUNCH)

    assert set(actions(second).values()) == {"up_to_date"}
    assert second.changes == ()
    assert second.mcp_command is None
    assert apply_plan(second) == ()
    assert tree(project) == after_first


def test_a_skill_file_the_user_changed_is_left_alone(project: Path) -> None:
    apply_plan(plan_init(project, OFFLINE, launch=LAUNCH))
    edited = shipped("model-routing") + "\n## 8. Our own rule\n\nAlways cite scaffold#6.\n"
    (project / ROUTING_CLAUDE).write_text(edited)

    plan = plan_init(project, OFFLINE, launch=LAUNCH)
    apply_plan(plan)

    action = next(action for action in plan.files if action.path == ROUTING_CLAUDE)
    assert action.action == "left_alone"
    assert action.reason.startswith("modified")
    assert (project / ROUTING_CLAUDE).read_text() == edited
    assert actions(plan)[ROUTING_SKILLS] == "up_to_date"


def test_a_file_differing_only_in_line_endings_is_up_to_date(project: Path) -> None:
    target = project / ROUTING_CLAUDE
    target.parent.mkdir(parents=True)
    target.write_bytes(shipped("model-routing").replace("\n", "\r\n").encode())

    plan = plan_init(project, OFFLINE, launch=LAUNCH)

    assert actions(plan)[ROUTING_CLAUDE] == "up_to_date"


def test_without_scaffold_and_without_a_skills_folder_only_claude_gets_the_skill(
    project: Path,
) -> None:
    options = InitOptions(scaffold=False, check_server=False)

    plan = plan_init(project, options, launch=LAUNCH)
    apply_plan(plan)

    assert actions(plan) == {
        ROUTING_CLAUDE: "create",
        ROUTING_REFERENCE: "create",
        SCAFFOLD: "skip",
        ".mcp.json": "create",
    }
    assert not (project / ".skills").exists()


def test_a_project_with_its_own_scaffold_keeps_it_and_gets_the_skill_in_dot_skills(
    tmp_path: Path,
) -> None:
    project = Path(shutil.copytree(EXAMPLE_PROJECT, tmp_path / "projects-api"))
    own = (project / SCAFFOLD).read_bytes()

    plan = plan_init(project, OFFLINE, launch=LAUNCH)
    apply_plan(plan)

    by_path = {action.path: action for action in plan.files}
    assert by_path[SCAFFOLD].action == "left_alone"
    assert by_path[SCAFFOLD].reason == "the project's own scaffold skill"
    assert by_path[ROUTING_SKILLS].action == "create"
    assert (project / SCAFFOLD).read_bytes() == own


def test_a_scaffold_skill_kept_elsewhere_is_not_duplicated(project: Path) -> None:
    elsewhere = project / ".claude" / "skills" / "scaffold" / "SKILL.md"
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_text("---\nname: scaffold\n---\n# Ours\n\n## 1. Model\n\nText.\n")

    plan = plan_init(project, OFFLINE, launch=LAUNCH)

    by_path = {action.path: action for action in plan.files}
    assert by_path[SCAFFOLD].action == "skip"
    assert ".claude/skills/scaffold/SKILL.md" in by_path[SCAFFOLD].reason
    assert ROUTING_SKILLS not in by_path  # no .skills/ folder, none created


def test_dry_run_plans_without_writing(project: Path) -> None:
    before = tree(project)

    plan = plan_init(project, OFFLINE, launch=LAUNCH)
    report = plan_dict(plan, dry_run=True)

    assert tree(project) == before
    assert report["dry_run"] is True
    assert {item["action"] for item in report["files"]} == {"create"}
    assert any("restart Claude Code" in step for step in report["next_steps"])


def test_apply_never_writes_through_a_link_out_of_the_project(
    project: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, project / ".claude")
    plan = plan_init(project, InitOptions(scaffold=False, check_server=False), launch=LAUNCH)

    with pytest.raises(UsageError, match="outside the project"):
        apply_plan(plan)

    assert list(outside.rglob("*")) == []


# --------------------------------------------------------------------------- .mcp.json


def test_mcp_json_is_merged_keeping_other_servers_and_keys(project: Path) -> None:
    github = {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"]}
    original = {"mcpServers": {"github": github}, "note": "team servers"}
    (project / ".mcp.json").write_text(json.dumps(original, indent=4))

    plan = plan_init(project, OFFLINE, launch=LAUNCH)
    apply_plan(plan)

    merged = json.loads((project / ".mcp.json").read_text())
    assert merged == {"mcpServers": {"github": github, "route": MCP_ENTRY}, "note": "team servers"}
    assert "1 other server kept" in next(a.reason for a in plan.files if a.path == ".mcp.json")
    assert actions(plan_init(project, OFFLINE, launch=LAUNCH))[".mcp.json"] == "up_to_date"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            json.dumps({"mcpServers": {"route": {"command": "node", "args": ["route.js"]}}}),
            "runs something else",
        ),
        ("{not json", "not valid JSON"),
        (json.dumps({"mcpServers": ["route"]}), "no `mcpServers` object"),
    ],
)
def test_an_mcp_json_route_cannot_use_is_left_alone_with_the_command_to_run(
    project: Path, content: str, reason: str
) -> None:
    (project / ".mcp.json").write_text(content)

    plan = plan_init(project, OFFLINE, launch=LAUNCH)
    apply_plan(plan)

    action = next(action for action in plan.files if action.path == ".mcp.json")
    assert action.action == "left_alone"
    assert reason in action.reason
    assert plan.mcp_command == MCP_ADD_COMMAND
    assert (project / ".mcp.json").read_text() == content


def test_no_mcp_json_prints_the_claude_command_instead(project: Path) -> None:
    plan = plan_init(project, InitOptions(mcp_json=False, check_server=False), launch=LAUNCH)
    apply_plan(plan)

    assert actions(plan)[".mcp.json"] == "skip"
    assert plan.mcp_command == MCP_ADD_COMMAND
    assert not (project / ".mcp.json").exists()
    assert (
        f"register the MCP server: {MCP_ADD_COMMAND}"
        in plan_dict(plan, dry_run=False)["next_steps"]
    )


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (MCP_ENTRY, True),
        ({"command": "route", "args": ["mcp"]}, True),
        ({"command": "/opt/bin/model-route", "args": ["mcp", "--project", "."]}, True),
        ({"command": "/venv/bin/python", "args": ["-m", "route", "mcp"]}, True),
        ({"command": "route", "args": ["gen"]}, False),
        ({"command": "python", "args": ["-m", "routes", "mcp"]}, False),
        ({"command": "route", "args": ["mcp", 3]}, False),
        ("route mcp", False),
    ],
)
def test_route_entries_are_recognised_by_command_and_arguments(
    entry: object, expected: bool
) -> None:
    launch = launch_of(entry)
    assert (launch is not None and is_route_launch(launch)) is expected


@pytest.mark.parametrize(
    "old",
    [
        {"command": "route", "args": ["mcp"]},  # what route init wrote before: PATH decides
        {"command": "/gone/venv/bin/route", "args": ["mcp"]},
    ],
)
def test_a_route_entry_that_starts_another_program_is_updated_keeping_its_env(
    project: Path, old: dict[str, Any]
) -> None:
    entry = {**old, "env": {"OLLAMA_HOST": "http://127.0.0.1:11434"}}
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"route": entry}}))

    plan = plan_init(project, OFFLINE, launch=LAUNCH)
    apply_plan(plan)

    action = next(action for action in plan.files if action.path == ".mcp.json")
    assert action.action == "update"
    assert f"was `{LaunchCommand(old['command'], ('mcp',)).shell_text()}`" in action.reason
    written = json.loads((project / ".mcp.json").read_text())["mcpServers"]["route"]
    assert written == {**MCP_ENTRY, "env": entry["env"]}


def test_the_same_installation_registered_another_way_is_up_to_date(
    project: Path, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("route", "python"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    registered = {"command": str(bin_dir / "python"), "args": ["-m", "route", "mcp"]}
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"route": registered}}))

    plan = plan_init(project, OFFLINE, launch=LaunchCommand(str(bin_dir / "route"), ("mcp",)))

    assert actions(plan)[".mcp.json"] == "up_to_date"


def test_the_user_level_command_is_always_offered(project: Path) -> None:
    plan = plan_init(project, OFFLINE, launch=LAUNCH)

    assert plan.claude_command == MCP_ADD_COMMAND == claude_mcp_add(LAUNCH)
    assert plan.mcp_command is None  # .mcp.json registers it
    report = plan_dict(plan, dry_run=True)
    assert report["mcp_server"] == MCP_ENTRY
    assert any(MCP_ADD_COMMAND in step for step in report["next_steps"])


def test_the_registration_check_launches_what_mcp_json_registers(project: Path) -> None:
    registered = {"command": "/srv/route", "args": ["mcp"], "env": {"A": "1"}}
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"route": registered}}))
    launched: list[tuple[LaunchCommand, Path, dict[str, str]]] = []

    def handshake(launch: LaunchCommand, cwd: Path, *, environment: dict[str, str]) -> Any:
        launched.append((launch, cwd, environment))
        return HandshakeResult(False, "`/srv/route mcp` not found", "not_found")

    check = check_registration(project, LAUNCH, handshake=handshake)

    assert launched == [(LaunchCommand("/srv/route", ("mcp",)), project.resolve(), {"A": "1"})]
    assert check.name == "mcp"
    assert check.ok is False
    assert check.detail == "`/srv/route mcp` not found (.mcp.json)"


# --------------------------------------------------------------------------- checks


def test_model_server_check_lists_models_and_flags_a_missing_one() -> None:
    import httpx

    with (
        FakeModelServer(mode="ollama", models=["qwen2.5-coder:7b", "llama3"]) as server,
        httpx.Client(timeout=2.0) as client,
    ):
        found = check_model_server(Config(host=server.url), client)
        missing = check_model_server(Config(host=server.url, model="devstral:24b"), client)
        latest = check_model_server(Config(host=server.url, model="llama3:latest"), client)

    assert found.ok is True
    assert found.detail == f"Ollama 0.12.6 at {server.url}; models: qwen2.5-coder:7b, llama3"
    assert missing.ok is False
    assert "ollama pull devstral:24b" in missing.detail
    assert latest.ok is True


def test_model_server_check_reports_not_running_without_failing() -> None:
    import httpx

    url = f"http://127.0.0.1:{free_port()}"
    with httpx.Client(timeout=2.0) as client:
        check = check_model_server(Config(host=url), client)

    assert check.ok is False
    assert (
        check.detail == f"not running at {url} — start it with `ollama serve` (route gen needs it)"
    )


def test_model_server_check_asks_an_openai_compatible_server_for_its_models() -> None:
    import httpx

    with (
        FakeModelServer(mode="openai", models=["coder"]) as server,
        httpx.Client(timeout=2.0) as client,
    ):
        check = check_model_server(Config(base_url=server.openai_url, model="coder"), client)

    assert check.ok is True
    assert "models: coder" in check.detail


def test_plan_runs_the_server_check_through_the_given_client(project: Path) -> None:
    import httpx

    with FakeModelServer(mode="ollama", models=["qwen2.5-coder:7b"]) as server:
        (project / "route.yaml").write_text(f"host: {server.url}\n")
        with httpx.Client(timeout=2.0) as client:
            plan = plan_init(project, client=client, launch=LAUNCH)

    checks = {check.name: check for check in plan.checks}
    assert checks["ollama"].ok is True
    assert "mcp" not in checks  # the handshake runs after the files are written


def test_a_broken_config_is_reported_and_the_checks_use_the_defaults(project: Path) -> None:
    (project / "route.yaml").write_text("modle: x\n")

    plan = plan_init(project, OFFLINE, launch=LAUNCH)

    config_check = plan.checks[0]
    assert config_check.name == "config"
    assert config_check.ok is False
    assert "did you mean 'model'" in config_check.detail


@pytest.mark.parametrize(
    ("makefile", "ok"),
    [
        ("verify: lint test\n", True),
        (".PHONY: verify\nlint verify:\n\truff check .\n", True),
        ("verify:\n\tpytest\n", True),
        ("VERIFY_FLAGS := -q\ntest:\n\tpytest\n", False),
        ("verify := yes\nall:\n\ttrue\n", False),
        ("# verify: not a target\n", False),
    ],
)
def test_verify_check_finds_a_verify_target(project: Path, makefile: str, ok: bool) -> None:
    (project / "Makefile").write_text(makefile)

    check = check_verify(project, "make verify")

    assert check.ok is ok
    assert (check.suggestion is None) is ok


def test_verify_check_suggests_a_target_for_the_kind_of_project(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module demo\n")

    check = check_verify(tmp_path, "make verify")

    assert check.ok is False
    assert "no Makefile" in check.detail
    assert check.suggestion == ".PHONY: verify\nverify:\n\tgo vet ./...\n\tgo test ./...\n"


def test_a_configured_verify_command_needs_no_makefile(tmp_path: Path) -> None:
    check = check_verify(tmp_path, "npm test")

    assert check.ok is True
    assert "npm test" in check.detail


# --------------------------------------------------------------------------- shipped skills


def test_the_shipped_model_routing_skill_is_the_repositorys() -> None:
    repository_copy = REPOSITORY / ".skills" / "model-routing" / "SKILL.md"

    assert shipped("model-routing") == repository_copy.read_text(encoding="utf-8")


def test_the_shipped_scaffold_starter_has_the_five_layer_sections() -> None:
    skill = load_skill(SHIPPED_SKILLS / "scaffold" / "SKILL.md")

    assert skill.name == "scaffold"
    assert "scaffold#1,2,3,5" in skill.description
    assert [(section.number, section.slug) for section in skill.sections] == [
        (1, "model"),
        (2, "schema"),
        (3, "service"),
        (4, "routes"),
        (5, "tests"),
    ]
