"""`route mcp` through the SDK's own client, in process, over JSON-RPC streams (the stdio wire
format), against a loopback fake Ollama server and a temporary copy of examples/projects-api."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

import route
from route.accounting.costs import GROUPINGS
from route.accounting.ledger import Ledger
from route.cli.mcp import project_root, require_mcp_sdk
from route.errors import UsageError
from route.local_models.hardware import Gpu, Hardware
from route.mcp.generate import GenerateRequest
from route.mcp.queries import check_skill_references
from route.mcp.results import SUCCESS_BUDGET_CHARACTERS, TAIL_CHARACTERS
from route.mcp.server import ProgressEvents, ServerSettings, build_server
from tests.conftest import EXAMPLE_PROJECT
from tests.servers import FakeModelServer, free_port

MODEL = "qwen2.5-coder:7b"
SERVICE = "app/services/project_service.py"
GOOD_SERVICE = f'''{SERVICE}
```python
"""Business rules for projects."""


def list_projects() -> list[str]:
    return []
```
'''
UNUSED_IMPORT_SERVICE = f'''{SERVICE}
```python
"""Business rules for projects."""

import os


def list_projects() -> list[str]:
    return []
```
'''
ESCAPING_ANSWER = """../escaped.py
```python
print("outside")
```

Makefile
```make
verify:
\ttrue
```
"""
TOOL_NAMES = {"generate", "list_skills", "show_skill", "recommend_models", "cost_summary"}
WORKSTATION = Hardware(
    gpus=(Gpu("nvidia", "NVIDIA GeForce RTX 4090", 24 * 10**9),),
    ram_total_bytes=64 * 10**9,
    ram_available_bytes=48 * 10**9,
)

Progress = list[tuple[float, float | None, str | None]]


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "projects-api"
    shutil.copytree(
        EXAMPLE_PROJECT,
        copy,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache"),
    )
    return copy


@pytest.fixture
def server() -> Any:
    with FakeModelServer(mode="ollama", models=[MODEL]) as fake:
        yield fake


def configure(project: Path, host: str, **extra: object) -> None:
    """route.yaml pointing at ``host``, verifying with this interpreter."""
    settings: dict[str, object] = {
        "host": host,
        "model": MODEL,
        "verify_command": f"make verify PYTHON={sys.executable}",
        **extra,
    }
    (project / "route.yaml").write_text(json.dumps(settings))


def settings_for(project: Path, **changes: Any) -> ServerSettings:
    return ServerSettings(project_root=project, detect_hardware=lambda: WORKSTATION, **changes)


def call(
    project: Path,
    name: str,
    arguments: dict[str, Any] | None = None,
    *,
    settings: ServerSettings | None = None,
    progress: Progress | None = None,
) -> CallToolResult:
    """Call one tool through an in-process MCP client session (legacy JSON-RPC handshake)."""
    server = build_server(settings or settings_for(project))

    async def record(value: float, total: float | None, message: str | None) -> None:
        if progress is not None:
            progress.append((value, total, message))

    async def main() -> CallToolResult:
        async with Client(server, mode="legacy") as client:
            return await client.call_tool(name, arguments or {}, progress_callback=record)

    return anyio.run(main)


def text_of(result: CallToolResult) -> str:
    assert len(result.content) == 1
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def payload(result: CallToolResult) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text_of(result))
    return data


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and ".pytest_cache" not in path.parts
    }


# --------------------------------------------------------------------------- tool listing


def list_tools_and_initialize(project: Path) -> tuple[Any, dict[str, Any]]:
    server = build_server(settings_for(project))

    async def main() -> tuple[Any, Any]:
        async with Client(server, mode="legacy") as client:
            return client.server_info, client.server_capabilities, await client.list_tools()

    info, capabilities, listed = anyio.run(main)
    return (info, capabilities), {tool.name: tool for tool in listed.tools}


def test_the_server_offers_five_tools_with_the_generate_arguments(project: Path) -> None:
    (info, capabilities), tools = list_tools_and_initialize(project)

    assert set(tools) == TOOL_NAMES
    generate = tools["generate"].input_schema
    assert generate["required"] == ["task"]
    assert set(generate["properties"]) == {
        "task",
        "skill",
        "context_paths",
        "targets",
        "verify",
        "verify_command",
        "rollback",
        "max_attempts",
        "model",
        "think",
        "dry_run",
        "include_code",
        "detail",
    }
    assert "context" not in generate["properties"]
    assert info.name == "route"
    assert info.version == route.__version__ == importlib.metadata.version("model-route")
    # Only what the server has: tools, no prompts, no resources.
    assert capabilities.tools is not None
    assert capabilities.prompts is None
    assert capabilities.resources is None


def test_every_schema_teaches_and_refuses_unknown_arguments(project: Path) -> None:
    _, tools = list_tools_and_initialize(project)

    for tool in tools.values():
        schema = tool.input_schema
        assert schema["additionalProperties"] is False, tool.name
        assert tool.title, tool.name
        assert tool.description and "\n" not in tool.description, tool.name
        assert "  " not in tool.description, tool.name  # no docstring indentation
        for name, prop in schema["properties"].items():
            assert len(prop.get("description", "")) > 15, (tool.name, name)
        annotations = tool.annotations
        assert annotations is not None
        assert annotations.destructive_hint is False
        assert annotations.open_world_hint is False
    generate = tools["generate"].input_schema["properties"]
    assert generate["think"]["enum"] == ["auto", "off", "on", "low", "medium", "high"]
    assert (generate["max_attempts"]["minimum"], generate["max_attempts"]["maximum"]) == (1, 10)
    cost = tools["cost_summary"].input_schema["properties"]
    assert cost["by"]["enum"] == list(GROUPINGS)
    assert {"day", "model", "skill", "status"} <= set(GROUPINGS)
    context = tools["recommend_models"].input_schema["properties"]["context"]
    assert context["minimum"] == 512
    read_only = {name for name, tool in tools.items() if tool.annotations.read_only_hint}
    idempotent = {name for name, tool in tools.items() if tool.annotations.idempotent_hint}
    assert read_only == idempotent == TOOL_NAMES - {"generate"}


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("list_skills", {"all": True}, "list_skills has no argument 'all'"),
        ("show_skill", {}, "'ref' is a required property"),
        ("recommend_models", {"context": 100}, "context: must be at least 512"),
        ("cost_summary", {"by": "colour"}, "by: must be one of day, week"),
        ("cost_summary", {"all_projects": "yes"}, "all_projects: must be true or false"),
        ("generate", {"task": "t", "skill": 3}, "skill: must be a string or a list"),
        ("nope", {}, "no tool named 'nope'"),
    ],
)
def test_arguments_outside_the_schema_are_one_line_errors(
    project: Path, name: str, arguments: dict[str, Any], expected: str
) -> None:
    result = call(project, name, arguments)

    assert result.is_error is True
    assert expected in text_of(result)
    assert "\n" not in text_of(result)
    assert result.structured_content == {
        "status": "error",
        "exit_code": 2,
        "message": text_of(result),
    }


# --------------------------------------------------------------------------- generate


def test_generate_writes_verifies_and_returns_the_compact_result_with_progress(
    project: Path, server: FakeModelServer, route_home: Path
) -> None:
    configure(project, server.url)
    server.enqueue(GOOD_SERVICE)
    progress: Progress = []
    settings = settings_for(project, progress_interval_seconds=0.0)

    result = call(
        project,
        "generate",
        {"task": "service for Projects", "skill": "scaffold#3"},
        settings=settings,
        progress=progress,
    )

    assert result.is_error is False
    report = payload(result)
    assert report == {
        "status": "success",
        "exit_code": 0,
        "run_id": report["run_id"],
        "files": {"created": [SERVICE], "changed": []},
        "verify": {"passed": True},
        "attempts": 1,
    }
    assert result.structured_content == report
    assert "list_projects" not in text_of(result)  # the code never reaches the orchestrator
    assert (project / SERVICE).read_text().startswith('"""Business rules for projects."""')
    # The answer is one line of compact JSON within the success budget.
    assert len(text_of(result)) <= SUCCESS_BUDGET_CHARACTERS
    assert "\n" not in text_of(result)

    values = [value for value, _, _ in progress]
    messages = [message or "" for _, _, message in progress]
    assert values == sorted(set(values)), "progress must strictly increase"
    assert any("tokens/s" in message for message in messages)
    assert any("running make verify" in message for message in messages)
    assert messages[0] == "attempt 1/3: generating"

    with Ledger.open(route_home / "ledger.sqlite3") as ledger:
        rows = ledger.runs(since=None, until=None, project=None, limit=None)
    assert [row.run_id for row in rows] == [report["run_id"]]
    assert rows[0].project == str(project.resolve())
    command = (
        '{"name":"generate","arguments":{"task":"service for Projects","skill":["scaffold#3"]}}'
    )
    assert rows[0].handoff_output_characters == len(command)


def test_generate_with_include_code_returns_the_files_text(
    project: Path, server: FakeModelServer
) -> None:
    configure(project, server.url)
    server.enqueue(GOOD_SERVICE)

    result = call(
        project,
        "generate",
        {"task": "service for Projects", "skill": ["scaffold#3"], "include_code": True},
    )

    report = payload(result)
    assert report["status"] == "success"
    assert report["code"][SERVICE] == (project / SERVICE).read_text()


def test_a_verify_failure_returns_the_tail_and_is_marked_as_an_error(
    project: Path, server: FakeModelServer
) -> None:
    configure(project, server.url, fix_command=None)  # no fix step to remove the import
    server.enqueue(UNUSED_IMPORT_SERVICE)
    # The repair answer changes the file but keeps the unused import.
    server.enqueue(UNUSED_IMPORT_SERVICE.replace("return []", "return list()"))

    result = call(
        project,
        "generate",
        {"task": "service for Projects", "skill": "scaffold#3", "max_attempts": 2},
    )

    assert result.is_error is True
    report = payload(result)
    assert report["status"] == "verify_failed"
    assert report["exit_code"] == 1
    assert report["files"]["created"] == [SERVICE]
    assert report["verify"]["passed"] is False
    # The hand-back (issue 20) carries the located error and the next step, in place of the
    # verify tail and the generic step.
    assert "F401" in report["handback"] and "Next:" in report["handback"]
    assert SERVICE in report["handback"]
    assert len(report["handback"]) <= TAIL_CHARACTERS
    assert "tail" not in report["verify"] and "next" not in report
    assert report["attempts"] == 2
    assert result.structured_content == report
    # The verify output is read once: the final tail, not one per attempt.
    assert text_of(result).count("imported but unused") == 1
    # The repair round sent the verify output back to the local model.
    assert "F401" in server.requests[1]["messages"][-1]["content"]


def test_the_configured_fix_step_mends_what_verify_would_fail(
    project: Path, server: FakeModelServer
) -> None:
    fix = f"{sys.executable} -m ruff check --fix --exit-zero --no-cache {{files}}"
    configure(project, server.url, fix_command=fix)
    server.enqueue(UNUSED_IMPORT_SERVICE)

    arguments = {"task": "service for Projects", "skill": "scaffold#3", "detail": True}
    result = call(project, "generate", arguments)

    report = payload(result)
    assert report["status"] == "success"
    assert report["strategy"] == "first"
    assert report["attempts"][0]["fix"]["changed"] == [SERVICE]
    assert "import os" not in (project / SERVICE).read_text()
    assert len(server.requests) == 1


def test_an_unsafe_answer_is_refused_and_nothing_is_written_outside_or_protected(
    project: Path, server: FakeModelServer
) -> None:
    configure(project, server.url)
    for _ in range(3):
        server.enqueue(ESCAPING_ANSWER)
    before = snapshot(project.parent)

    result = call(project, "generate", {"task": "service for Projects", "skill": "scaffold#3"})

    assert result.is_error is True
    report = payload(result)
    assert report["status"] == "refused"
    assert report["exit_code"] == 4
    assert [item["path"] for item in report["files"]["refused"]] == ["../escaped.py", "Makefile"]
    # Each reason is read once, not once per attempt and again in the message.
    assert text_of(result).count("the path must stay inside the project") == 1
    assert "--allow" not in text_of(result)
    assert not (project.parent / "escaped.py").exists()
    after = snapshot(project.parent)
    assert {path for path in after if before.get(path) != after[path]} == set()


def test_a_dry_run_writes_nothing_and_returns_the_diff(
    project: Path, server: FakeModelServer
) -> None:
    configure(project, server.url)
    server.enqueue(GOOD_SERVICE)
    before = snapshot(project)

    result = call(
        project,
        "generate",
        {"task": "service for Projects", "skill": "scaffold#3", "dry_run": True},
    )

    report = payload(result)
    assert report["status"] == "dry_run"
    assert report["verify"] == {"passed": None}  # nothing was written, nothing verified
    assert payload(call(project, "cost_summary", {"since": "all"}))["total"]["runs"] == 0
    assert f"+++ b/{SERVICE}" in report["diff"]
    assert "+def list_projects() -> list[str]:" in report["diff"]
    assert "code" not in report
    assert snapshot(project) == before


def ledger_runs(route_home: Path) -> list[Any]:
    path = route_home / "ledger.sqlite3"
    if not path.exists():
        return []
    with Ledger.open(path) as ledger:
        return ledger.runs(since=None, until=None, project=None, limit=None)


def test_a_dry_run_or_a_prompt_too_large_is_not_a_ledger_row(
    project: Path, route_home: Path
) -> None:
    with FakeModelServer(mode="ollama", models=[MODEL], context_length=8192) as small:
        configure(project, small.url)
        small.enqueue(GOOD_SERVICE)
        dry = call(project, "generate", {"task": "service", "skill": "scaffold#3", "dry_run": True})
        huge = call(project, "generate", {"task": "x" * 200_000, "skill": "scaffold#3"})
    assert payload(dry)["status"] == "dry_run"
    assert huge.is_error is True
    assert "does not fit" in text_of(huge)
    assert ledger_runs(route_home) == []


def test_an_unwritable_ledger_folder_is_a_tool_error_before_the_model_is_asked(
    project: Path, server: FakeModelServer, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    configure(project, server.url, ledger=str(blocker / "ledger.sqlite3"))
    server.enqueue(GOOD_SERVICE)

    result = call(project, "generate", {"task": "service", "skill": "scaffold#3"})

    assert result.is_error is True
    assert "route cannot write its ledger in" in text_of(result)
    assert server.requests == []


def test_a_skipped_verify_is_reported_as_not_passed_nor_failed(
    project: Path, server: FakeModelServer
) -> None:
    configure(project, server.url)
    server.enqueue(GOOD_SERVICE)

    result = call(project, "generate", {"task": "service", "skill": "scaffold#3", "verify": False})

    report = payload(result)
    assert report["status"] == "success"
    assert report["verify"] == {"passed": None, "skipped": "verify: false"}
    assert len(text_of(result)) <= SUCCESS_BUDGET_CHARACTERS


def test_detail_returns_the_full_report_on_request(project: Path, server: FakeModelServer) -> None:
    configure(project, server.url)
    server.enqueue(GOOD_SERVICE)

    result = call(project, "generate", {"task": "service", "skill": "scaffold#3", "detail": True})

    report = payload(result)
    assert report["status"] == "success"
    assert report["tokens"]["output"] > 0
    assert report["cost"]["estimate"] is True
    assert report["attempts"][0]["number"] == 1
    assert "code" not in report


def test_server_down_is_a_tool_error_with_the_cli_message(project: Path) -> None:
    configure(project, f"http://127.0.0.1:{free_port()}")

    result = call(project, "generate", {"task": "service for Projects", "skill": "scaffold#3"})

    assert result.is_error is True
    message = text_of(result)
    assert "not reachable" in message
    assert "ollama serve" in message
    assert "\n" not in message
    assert result.structured_content is not None
    assert result.structured_content["status"] == "backend_error"
    assert result.structured_content["exit_code"] == 3
    assert not (project / SERVICE).exists()


def test_a_failed_hand_off_costs_what_was_sent_and_read(project: Path, route_home: Path) -> None:
    configure(project, f"http://127.0.0.1:{free_port()}")
    task = "service for Projects. " + "Each project has a name. " * 4000  # ~100 KB

    result = call(project, "generate", {"task": task, "skill": "scaffold#3"})

    assert result.is_error is True
    (row,) = ledger_runs(route_home)
    assert row.status == "backend_error"
    # What the orchestrator read back is the one-line message, not a report echoing the task.
    assert row.handoff_input_characters == len(text_of(result))
    assert row.handoff_output_characters == len(
        GenerateRequest(task=task, skills=("scaffold#3",)).command_text()
    )


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"task": "service", "skill": "nope#1"}, "no skill named 'nope'"),
        ({"task": "service", "skill": "scaffold#99"}, "scaffold"),
        ({"task": "service", "context_paths": ["../outside.py"]}, "outside.py"),
        ({"task": "service", "skill": "../elsewhere/SKILL.md#1"}, "points outside the project"),
        ({"task": "  ", "skill": "scaffold#3"}, "the task is empty"),
        ({"task": "service"}, "give the model something to follow"),
        ({"task": "service", "skill": "scaffold#3", "max_attempts": 0}, "max_attempts"),
        ({"task": "service", "skill": "scaffold#3", "colour": "red"}, "no argument 'colour'"),
        ({"task": "service", "skill": "scaffold#3", "think": "hard"}, "one of auto, off"),
    ],
)
def test_bad_requests_are_tool_errors_before_any_generation(
    project: Path, server: FakeModelServer, arguments: dict[str, Any], expected: str
) -> None:
    configure(project, server.url)
    (project.parent / "outside.py").write_text("SECRET = 1\n")
    elsewhere = project.parent / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "SKILL.md").write_text("# Elsewhere\n\n## 1. Rule\n\nText.\n")

    result = call(project, "generate", arguments)

    assert result.is_error is True
    assert expected in text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["status"] == "error"
    assert result.structured_content["exit_code"] == 2
    assert "--" not in text_of(result)  # no command-line flag: the caller has none
    assert server.requests == []  # the model was never asked


# --------------------------------------------------------------------------- skills


def test_list_skills_names_each_skill_with_its_sections(project: Path) -> None:
    result = call(project, "list_skills")

    assert result.is_error is False
    skills = {skill["name"]: skill for skill in payload(result)["skills"]}
    scaffold = skills["scaffold"]
    assert scaffold["path"] == ".skills/scaffold/SKILL.md"
    assert scaffold["sections"][:3] == ["1. Model", "2. Schema", "3. Service Layer"]
    assert scaffold["description"].startswith("Conventions and file templates")


def test_list_skills_leaves_out_the_skills_meant_for_the_orchestrator(project: Path) -> None:
    from route.claude_code.project_setup import InitOptions, apply_plan, plan_init
    from route.claude_code.registration import LaunchCommand

    launch = LaunchCommand("/opt/route/bin/route", ("mcp",))
    apply_plan(plan_init(project, InitOptions(check_server=False), launch=launch))
    assert (project / ".skills" / "model-routing" / "SKILL.md").is_file()

    names = [skill["name"] for skill in payload(call(project, "list_skills"))["skills"]]

    assert "scaffold" in names
    assert "model-routing" not in names


def test_messages_name_the_tool_arguments_not_command_line_flags(
    project: Path, server: FakeModelServer
) -> None:
    configure(project, server.url)
    (project / ".env").write_text("TOKEN=1\n")

    secret = call(
        project, "generate", {"task": "t", "skill": "scaffold#3", "context_paths": ".env"}
    )
    target = call(project, "generate", {"task": "t", "skill": "scaffold#3", "targets": "../x.py"})

    assert "looks like a secret" in text_of(secret)
    assert "leave it out of context_paths" in text_of(secret)
    assert "outside the project" in text_of(target)
    for result in (secret, target):
        assert "--" not in text_of(result), text_of(result)
    assert server.requests == []


def test_show_skill_returns_the_text_sent_and_its_estimate(project: Path) -> None:
    result = call(project, "show_skill", {"ref": "scaffold#3"})

    excerpt = payload(result)
    assert excerpt["skill"] == "scaffold"
    assert excerpt["sections"] == ["3. Service Layer"]
    assert "## 3. Service Layer" in excerpt["text"]
    assert "## 4. Routes" not in excerpt["text"]
    assert excerpt["estimated_tokens"] > 100


def test_show_skill_errors_list_what_exists(project: Path) -> None:
    result = call(project, "show_skill", {"ref": "scaffold#99"})

    assert result.is_error is True
    assert "3" in text_of(result)
    assert "service-layer" in text_of(result)


# --------------------------------------------------------------------------- models and costs


def test_recommend_models_ranks_for_the_given_hardware_and_marks_installed(
    project: Path, server: FakeModelServer
) -> None:
    configure(project, server.url)

    result = call(project, "recommend_models", {"context": 16384})

    data = payload(result)
    assert data["hardware"]["gpus"] == [{"name": "NVIDIA GeForce RTX 4090", "memory_gb": 24.0}]
    assert data["installed_known"] is True
    assert data["top"] is not None
    assert 0 < len(data["models"]) <= 5
    assert all(model["fit"] != "does_not_fit" for model in data["models"])
    installed = {model["tag"] for model in data["models"] if model["installed"]}
    assert installed <= {MODEL}


def test_recommend_models_leaves_out_unsuitable_models_and_says_why(project: Path) -> None:
    configure(project, f"http://127.0.0.1:{free_port()}")

    data = payload(call(project, "recommend_models", {"context": 32768}))

    unsuitable = {item["tag"]: item["why"] for item in data["unsuitable"]}
    assert "8,192" in unsuitable["codegemma:2b"]
    assert "chat instructions" in unsuitable["starcoder2:15b"]
    assert not {model["tag"] for model in data["models"]} & set(unsuitable)


def test_recommend_models_without_a_server_still_ranks(project: Path) -> None:
    configure(project, f"http://127.0.0.1:{free_port()}")

    data = payload(call(project, "recommend_models"))

    assert data["installed_known"] is False
    assert "not reachable" in data["installed_problem"]
    assert data["models"]


def test_cost_summary_counts_this_projects_runs(project: Path, server: FakeModelServer) -> None:
    configure(project, server.url)
    server.enqueue(GOOD_SERVICE)
    call(project, "generate", {"task": "service for Projects", "skill": "scaffold#3"})

    summary = payload(call(project, "cost_summary", {"since": "7d", "by": "status"}))
    elsewhere = payload(call(project.parent, "cost_summary", {"since": "all"}))
    everywhere = payload(call(project.parent, "cost_summary", {"all_projects": True}))

    assert summary["total"]["runs"] == 1
    assert summary["total"]["succeeded"] == 1
    assert summary["total"]["output_tokens"] > 0
    assert [group["key"] for group in summary["groups"]] == ["success"]
    assert summary["estimate"] is True
    assert elsewhere["total"]["runs"] == 0
    assert everywhere["total"]["runs"] == 1


def test_cost_summary_with_a_period_out_of_range_is_a_clear_error(project: Path) -> None:
    result = call(project, "cost_summary", {"since": "999999999d"})

    assert result.is_error is True
    assert "since '999999999d' lies outside 1970-9999" in text_of(result)
    assert "--" not in text_of(result)


@pytest.mark.parametrize("ref", ["scaffold#③", "scaffold#²"])
def test_show_skill_with_a_digit_int_cannot_read_is_a_clear_error(project: Path, ref: str) -> None:
    result = call(project, "show_skill", {"ref": ref})

    assert result.is_error is True
    assert f"has no section '{ref.partition('#')[2]}'" in text_of(result)


# --------------------------------------------------------------------------- units


class StepClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_throttled_while_text_streams_and_always_increases() -> None:
    sent: list[tuple[float, str]] = []
    clock = StepClock()
    events = ProgressEvents(lambda value, message: sent.append((value, message)), clock=clock)

    events.attempt_started(1, 2)
    for _ in range(10):  # ten chunks within a second of the last notification: none sent
        clock.now += 0.05
        events.text("abc")
    clock.now += 1.0
    events.text("def")  # a second later: one
    clock.now += 0.5
    events.text("ghi")  # half a second after that: none
    events.verify_started("make verify")  # steps are always sent

    messages = [message for _, message in sent]
    assert messages == [
        "attempt 1/2: generating",
        "attempt 1/2: 11 tokens, 7.3 tokens/s",
        "attempt 1/2: running make verify",
    ]
    values = [value for value, _ in sent]
    assert values == sorted(set(values))


def test_generate_request_command_text_is_what_the_orchestrator_wrote() -> None:
    request = GenerateRequest.from_arguments(
        {"task": "service", "skill": "scaffold#3", "dry_run": True, "think": "off"}
    )

    assert json.loads(request.command_text()) == {
        "name": "generate",
        "arguments": {"task": "service", "skill": ["scaffold#3"], "think": "off", "dry_run": True},
    }


def test_skill_paths_inside_the_project_or_skill_folders_are_accepted(tmp_path: Path) -> None:
    skills = tmp_path / "home-skills"
    skills.mkdir()

    check_skill_references(
        ("scaffold#1", ".skills/scaffold/SKILL.md#2", f"{skills}/x/SKILL.md#1"),
        tmp_path,
        (skills,),
    )
    with pytest.raises(UsageError, match="points outside the project"):
        check_skill_references(("/etc/SKILL.md#1",), tmp_path / "project", (skills,))


# --------------------------------------------------------------------------- the real stdio


def test_route_mcp_serves_over_stdio_and_prints_nothing_else_on_stdout(
    project: Path, server: FakeModelServer, route_home: Path
) -> None:
    """The command itself, in a child process: stdout carries only protocol messages, even
    while verify runs and the model streams."""
    configure(project, server.url)
    server.enqueue(GOOD_SERVICE)
    launch = "from route.cli.mcp import command; command(project=None)"
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-c", launch],
        cwd=project,
        env={"ROUTE_HOME": str(route_home)},
    )
    progress: Progress = []

    async def record(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async def main() -> tuple[set[str], CallToolResult]:
        async with Client(parameters) as client:
            tools = await client.list_tools()
            result = await client.call_tool(
                "generate",
                {"task": "service for Projects", "skill": "scaffold#3"},
                progress_callback=record,
            )
            return {tool.name for tool in tools.tools}, result

    names, result = anyio.run(main)

    assert names == TOOL_NAMES
    assert payload(result)["status"] == "success"
    assert (project / SERVICE).is_file()
    assert progress


def test_route_mcp_without_the_sdk_says_how_to_install_it() -> None:
    with pytest.raises(UsageError, match=r"pip install 'model-route\[mcp\]'"):
        require_mcp_sdk(lambda name: None)


def test_route_mcp_project_must_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")

    assert project_root(tmp_path, Path("/")) == tmp_path.resolve()
    with pytest.raises(UsageError, match="is not a directory"):
        project_root(tmp_path / "file.txt", tmp_path)


def test_generate_with_targets_prefills_the_answer_and_names_them(
    project: Path, server: FakeModelServer, route_home: Path
) -> None:
    configure(project, server.url)
    prefill = f"{SERVICE}\n```python\n"
    assert GOOD_SERVICE.startswith(prefill)
    server.enqueue(GOOD_SERVICE[len(prefill) :])  # Ollama returns the continuation only

    result = call(
        project,
        "generate",
        {"task": "service for Projects", "skill": "scaffold#3", "targets": SERVICE},
    )

    report = payload(result)
    assert report["status"] == "success", report
    assert report["files"]["created"] == [SERVICE]
    assert server.requests[0]["messages"][-1] == {"role": "assistant", "content": prefill}
    with Ledger.open(route_home / "ledger.sqlite3") as ledger:
        (row,) = ledger.runs(since=None, until=None, project=None, limit=None)
    assert row.status == "success"
    command = json.loads(GenerateRequest(task="t", targets=(SERVICE,)).command_text())
    assert command["arguments"]["targets"] == [SERVICE]  # its hand-off cost counts them


def test_generate_refuses_a_target_outside_the_project(
    project: Path, server: FakeModelServer
) -> None:
    configure(project, server.url)
    result = call(
        project, "generate", {"task": "service", "skill": "scaffold#3", "targets": ["../x.py"]}
    )
    assert result.is_error is True
    assert "outside the project root" in text_of(result)
    assert server.requests == []


def test_generate_with_think_off_sends_it_and_keeps_reasoning_out_of_the_result(
    project: Path, server: FakeModelServer, route_home: Path
) -> None:
    configure(project, server.url)
    draft = "draft.py\n```python\nDRAFT = 1\n```\n"
    server.enqueue(GOOD_SERVICE, reasoning=draft)
    progress: Progress = []

    result = call(
        project,
        "generate",
        {"task": "service for Projects", "skill": "scaffold#3", "think": "off", "detail": True},
        settings=settings_for(project, progress_interval_seconds=0.0),
        progress=progress,
    )

    report = payload(result)
    assert report["status"] == "success", report
    assert server.requests[0]["think"] is False
    assert "DRAFT" not in text_of(result) and not (project / "draft.py").exists()
    assert report["tokens"]["reasoning"] > 0
    assert any("thinking" in (message or "") for _, _, message in progress)
    assert "DRAFT" not in " ".join(message or "" for _, _, message in progress)
    command = json.loads(GenerateRequest(task="t", think="off").command_text())
    assert command["arguments"]["think"] == "off"


def test_generate_with_a_bad_think_value_is_a_tool_error(
    project: Path, server: FakeModelServer
) -> None:
    configure(project, server.url)
    result = call(
        project, "generate", {"task": "service", "skill": "scaffold#3", "think": "maximal"}
    )
    assert result.is_error is True
    assert "auto, off, on, low, medium, high" in text_of(result)
    assert server.requests == []


def test_an_unexpected_failure_is_a_structured_error_not_a_crash(project: Path) -> None:
    def broken() -> Hardware:
        raise RuntimeError("sensor exploded")

    settings = ServerSettings(project_root=project, detect_hardware=broken)

    result = call(project, "recommend_models", settings=settings)

    assert result.is_error is True
    assert "route failed unexpectedly (RuntimeError: sensor exploded)" in text_of(result)
    assert result.structured_content == {"status": "internal_error", "exit_code": 70}


@pytest.mark.parametrize(
    "message",
    [
        "context file '.env' looks like a secret and was not sent — pass --allow .env if it "
        "holds nothing secret",
        "protected (matches 'Makefile'); pass --allow Makefile to let the model change it",
        "a top-level module named 'pytest' would replace the tool or standard-library module "
        "verify may run; pass --allow pytest.py if that is intended",
        "would shadow the existing app/x.py (a module and a package of the same name); pass "
        "--force to let the model do that",
        "exists; pass it with -c/--context or use --force to let the model replace it",
        "exists and was neither given with -c/--context nor named as a target: SEARCH/REPLACE "
        "edits apply only to those (or use --force)",
        "the verify command is blank: give one with --verify CMD (or verify_command in "
        "route.yaml), or skip verify with --no-verify",
        "no Makefile in /p: add a `verify` target or pass --verify CMD",
        "--sandbox-best-effort: this system cannot isolate verify; it ran unisolated",
        "skills directory /s does not exist — check --skills-dir (it should hold ...)",
        "no skill named 'x' — Create .skills/x/SKILL.md or pass --skills-dir",
        "--target ../x.py is outside the project root /p",
        "Ollama is not reachable — or point route at an OpenAI-compatible server with "
        "--backend openai --base-url URL",
        "--since '9d' lies outside 1970-9999",
        "verify failed; --rollback restored the previous files",
    ],
)
def test_core_messages_reach_an_mcp_caller_without_command_line_flags(message: str) -> None:
    from route.mcp.wording import for_mcp

    worded = for_mcp(message)

    assert not re.search(r"(?<![\w-])--?[a-z]", worded), worded
