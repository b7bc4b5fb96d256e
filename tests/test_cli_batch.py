"""`route batch` through typer's CliRunner against a loopback Ollama-like server: JSON report,
ledger rows linked by a batch id, plan errors, the skill shortcut, and the live view."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from route import ui
from route.accounting.ledger import Ledger
from route.cli import batch
from route.cli.main import RouteGroup
from tests.servers import FakeModelServer

SKILL = """# Scaffold

Conventions: docstrings everywhere.

## 1. Model

Models go in `app/<name>.py`.

## 2. Service

Services go in `app/<name>_service.py`.

## 3. Routes

Routes go in `app/routes_<name>.py`.
"""

PLAN = """\
- id: model
  task: Projects model
  skill: scaffold#1
- id: service
  task: Projects service
  skill: scaffold#2
"""

CHECK = """
import pathlib, sys
missing = [name for name in ("model.py", "service.py") if not pathlib.Path("app", name).exists()]
print("missing: " + ", ".join(missing) if missing else "ok")
sys.exit(1 if missing else 0)
"""


def answer(name: str) -> str:
    return f'app/{name}.py\n```python\n"""{name}."""\n```\n'


@pytest.fixture
def app() -> typer.Typer:
    """The batch command on its own group, as cli/main.py registers it."""
    application = typer.Typer(cls=RouteGroup)

    @application.callback()
    def main() -> None:
        """route."""

    application.command("batch", epilog=batch.EPILOG)(batch.command)
    return application


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    (root / ".skills" / "scaffold").mkdir(parents=True)
    (root / ".skills" / "scaffold" / "SKILL.md").write_text(SKILL)
    (root / "check.py").write_text(CHECK)
    (root / "app").mkdir()
    (root / ".git").mkdir()
    (root / "plan.yaml").write_text(PLAN)
    monkeypatch.chdir(root)
    return root


def test_a_plan_runs_verifies_once_and_records_linked_ledger_rows(
    app: typer.Typer, project: Path, route_home: Path
) -> None:
    with FakeModelServer(mode="ollama", parallel=2) as server:
        server.enqueue(answer("model"))
        server.enqueue(answer("service"))
        result = CliRunner().invoke(
            app,
            [
                "batch",
                "plan.yaml",
                "--host",
                server.url,
                "--model",
                "coder",
                "--parallel",
                "2",
                "--verify",
                f"{sys.executable} check.py",
                "--json",
            ],
        )
        chats = len(server.requests)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "success"
    assert [task["id"] for task in report["tasks"]] == ["model", "service"]
    assert all(task["status"] == "success" for task in report["tasks"])
    assert [r["passed"] for r in report["verify_rounds"]] == [True]
    assert chats == 2
    assert report["endpoints"][0]["name"] == "default"
    assert report["failover"] == []
    assert report["cost"]["estimate"] is True
    assert report["tokens"]["output"] > 0

    with Ledger.open(route_home / "ledger.sqlite3") as ledger:
        rows = ledger.runs()
    assert len(rows) == 2
    assert {row.batch_id for row in rows} == {report["batch_id"]}
    assert {row.run_id for row in rows} == {task["run_id"] for task in report["tasks"]}
    assert all(row.verify_passed is True for row in rows)


def test_a_task_whose_context_file_is_missing_is_not_a_ledger_row(
    app: typer.Typer, project: Path, route_home: Path
) -> None:
    (project / "plan.yaml").write_text(
        PLAN + "- id: broken\n  task: Projects routes\n  skill: scaffold#2\n"
        "  context: [app/missing.py]\n"
    )
    with FakeModelServer(mode="ollama", parallel=2) as server:
        server.enqueue(answer("model"))
        server.enqueue(answer("service"))
        result = CliRunner().invoke(
            app,
            ["batch", "plan.yaml", "--host", server.url, "--model", "coder", "--no-verify"],
        )
    assert result.exit_code == 2, result.output
    assert "missing.py" in result.stderr
    with Ledger.open(route_home / "ledger.sqlite3") as ledger:
        rows = ledger.runs()
    assert sorted(row.task for row in rows) == ["Projects model", "Projects service"]


def test_an_unwritable_ledger_folder_stops_a_batch_before_any_request(
    app: typer.Typer, project: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with FakeModelServer(mode="ollama", parallel=2) as server:
        result = CliRunner().invoke(
            app,
            ["batch", "plan.yaml", "--host", server.url, "--ledger", str(blocker / "l.sqlite3")],
        )
        chats = len(server.requests)
    assert result.exit_code == 2, result.output
    assert chats == 0
    assert "route cannot write its ledger in" in result.stderr


def test_the_human_report_lists_tasks_verify_and_cost(
    app: typer.Typer, project: Path, route_home: Path
) -> None:
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(answer("model"))
        server.enqueue(answer("service"))
        result = CliRunner().invoke(
            app,
            ["batch", "plan.yaml", "--host", server.url, "--verify", f"{sys.executable} check.py"],
        )
    assert result.exit_code == 0, result.output
    assert "route batch: success — 2 task(s): 2 succeeded" in result.stderr
    assert "verify round 1:" in result.stderr
    assert "passed" in result.stderr
    assert "net saving" in result.stderr
    assert result.stdout == ""


def test_a_bad_plan_fails_before_any_request(
    app: typer.Typer, project: Path, route_home: Path
) -> None:
    (project / "plan.yaml").write_text(PLAN.replace("scaffold#2", "scaffold#7"))
    with FakeModelServer(mode="ollama") as server:
        result = CliRunner().invoke(app, ["batch", "plan.yaml", "--host", server.url])
        paths = list(server.paths)
    assert result.exit_code == 2
    assert "task 'service'" in result.stderr
    assert "no section 7" in result.stderr
    assert paths == []


def test_a_plan_or_the_skill_shortcut_is_required(app: typer.Typer, project: Path) -> None:
    result = CliRunner().invoke(app, ["batch"])
    assert result.exit_code == 2
    assert "give a plan file" in result.stderr


def test_the_skill_shortcut_runs_the_chosen_sections_as_a_dry_run(
    app: typer.Typer, project: Path
) -> None:
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(answer("model"))
        server.enqueue(answer("service"))
        result = CliRunner().invoke(
            app,
            [
                "batch",
                "--skill",
                "scaffold",
                "--resource",
                "Projects",
                "--sections",
                "1-2",
                "--host",
                server.url,
                "--dry-run",
                "--json",
            ],
        )
        prompts = [request["messages"][-1]["content"] for request in server.requests]
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "dry_run"
    assert [task["id"] for task in report["tasks"]] == ["1", "2"]
    assert any("Model for the Projects resource" in prompt for prompt in prompts)
    assert any("Service for the Projects resource" in prompt for prompt in prompts)
    assert list((project / "app").iterdir()) == []


def test_a_dry_run_batch_records_no_rows_and_says_no_ledger_line(
    app: typer.Typer, project: Path, route_home: Path
) -> None:
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(answer("model"))
        server.enqueue(answer("service"))
        result = CliRunner().invoke(
            app, ["batch", "plan.yaml", "--host", server.url, "--model", "coder", "--dry-run"]
        )
    assert result.exit_code == 0, result.output
    assert "ledger:" not in result.stderr
    assert not (route_home / "ledger.sqlite3").exists()


def test_the_live_view_draws_one_line_per_task_and_a_bar() -> None:
    now = [0.0]
    stream = io.StringIO()
    view = ui.BatchView(["model", "service"], stream=stream, clock=lambda: now[0])
    view.task_state("model", "generating", "attempt 1/3 on gpu")
    now[0] = 2.0
    for _ in range(10):
        view.task_chunk("model")
    lines = view.lines()
    assert lines[0].split()[:2] == ["model", "generating"]
    assert "~10 tokens · 5.0 tok/s" in lines[0]
    assert "queued" in lines[1]
    assert lines[2].startswith("[") and "0/2 tasks" in lines[2]
    view.task_tokens("model", 12, 6.0)
    view.task_state("model", "success", "files written")
    view.notice("endpoint b is unreachable")
    assert "1/2 tasks" in view.lines()[2]
    drawn = stream.getvalue()
    assert "endpoint b is unreachable" in drawn
    assert "\x1b[3F" in drawn  # later draws replace the block in place


def test_without_a_terminal_the_view_writes_plain_lines() -> None:
    stream = io.StringIO()
    view = ui.BatchView(["a"], stream=stream, live=False)
    view.task_state("a", "generating", "attempt 1/3")
    view.task_chunk("a")
    view.task_state("a", "success", "files written")
    view.notice("verifying: make verify")
    assert stream.getvalue() == (
        "route batch: a: success — files written\nroute batch: verifying: make verify\n"
    )


def test_batch_think_off_reaches_every_request_and_reasoning_is_counted_apart(
    app: typer.Typer, project: Path, route_home: Path
) -> None:
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(answer("model"), reasoning="draft.py\n```python\nX = 1\n```\n")
        server.enqueue(answer("service"))
        result = CliRunner().invoke(
            app,
            ["batch", "plan.yaml", "--host", server.url, "--model", "coder", "--think", "off",
             "--verify", f"{sys.executable} check.py", "--json"],
        )  # fmt: skip
        bodies = list(server.requests)
    assert result.exit_code == 0, result.output
    assert [body["think"] for body in bodies] == [False, False]
    assert not (project / "draft.py").exists()
    with Ledger.open(route_home / "ledger.sqlite3") as ledger:
        rows = ledger.runs()
    assert sorted(row.reasoning_tokens > 0 for row in rows) == [False, True]
