"""`route gen` through typer's CliRunner: exit codes, stderr lines and ledger rows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from route.accounting.ledger import Ledger
from route.cli.main import app
from tests.servers import FakeModelServer, free_port

SKILL = """# API

Conventions: docstrings everywhere.

## 1. Service

Services go in `app/<name>_service.py`.
"""

ANSWER = 'app/project_service.py\n```python\n"""Projects."""\n```\n'


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    (root / ".skills" / "api").mkdir(parents=True)
    (root / ".skills" / "api" / "SKILL.md").write_text(SKILL)
    (root / "Makefile").write_text("verify:\n\t@test -f app/project_service.py\n")
    (root / ".git").mkdir()
    monkeypatch.chdir(root)
    return root


def ledger_rows(route_home: Path) -> list[dict[str, object]]:
    path = route_home / "ledger.sqlite3"
    if not path.exists():
        return []
    with Ledger.open(path) as ledger:
        return [r.to_dict() for r in ledger.runs(since=None, until=None, project=None, limit=None)]


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["gen", *args], env=env or {})


def test_unreachable_server_exits_3_with_one_line_and_a_ledger_row(
    project: Path, route_home: Path
) -> None:
    port = free_port()
    result = CliRunner().invoke(
        app,
        ["gen", "service", "-s", "api#1", "--backend", "ollama", "--host", f"127.0.0.1:{port}"],
    )
    assert result.exit_code == 3
    assert "not reachable" in result.stderr
    assert "ollama serve" in result.stderr
    assert "Traceback" not in result.output
    # One error line (and where the ledger row went), no cost table for a run that never ran.
    assert result.stderr.startswith("route: error: ")
    assert "net saving" not in result.stderr
    rows = ledger_rows(route_home)
    assert len(rows) == 1
    assert rows[0]["status"] == "backend_error"
    assert rows[0]["exit_code"] == 3


def test_missing_model_exits_3_and_says_how_to_pull(project: Path, route_home: Path) -> None:
    with FakeModelServer(mode="ollama", models=("other:1b",)) as server:
        result = CliRunner().invoke(
            app,
            ["gen", "service", "-s", "api#1", "--model", "missing:7b"],
            env={"OLLAMA_HOST": server.url},
        )
    assert result.exit_code == 3
    assert "ollama pull missing:7b" in result.stderr
    assert ledger_rows(route_home)[0]["status"] == "backend_error"


def test_unknown_cloud_model_fails_before_calling_the_server(project: Path) -> None:
    with FakeModelServer(mode="ollama") as server:
        result = CliRunner().invoke(
            app,
            ["gen", "service", "-s", "api#1", "--cloud-model", "gpt-99"],
            env={"OLLAMA_HOST": server.url},
        )
        assert server.requests == []
    assert result.exit_code == 2
    assert "gpt-99" in result.stderr


def test_unknown_skill_and_section_are_usage_errors(project: Path, route_home: Path) -> None:
    result = invoke("service", "-s", "nope#1")
    assert result.exit_code == 2
    assert "api" in result.stderr  # lists the skills found
    result = invoke("service", "-s", "api#7")
    assert result.exit_code == 2
    assert "1. service" in result.stderr.lower()
    result = invoke("service", "-s", "api#1", "-c", "app/missing.py")
    assert result.exit_code == 2
    assert "app/missing.py" in result.stderr
    assert ledger_rows(route_home) == []  # no run started: nothing to record


def test_print_prompt_calls_nothing(project: Path, route_home: Path) -> None:
    with FakeModelServer(mode="ollama") as server:
        result = CliRunner().invoke(
            app,
            ["gen", "service for Projects", "-s", "api#1", "--print-prompt"],
            env={"OLLAMA_HOST": server.url},
        )
        assert server.requests == []
    assert result.exit_code == 0
    assert "===== system =====" in result.stdout
    assert "service for Projects" in result.stdout
    assert "estimated prompt tokens" in result.stdout
    assert ledger_rows(route_home) == []


def test_json_output_keys_and_verify_failure_exit_code(project: Path, route_home: Path) -> None:
    (project / "Makefile").write_text("verify:\n\t@echo 'E999 broken'; exit 1\n")
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(ANSWER)
        server.enqueue(ANSWER)
        result = CliRunner().invoke(
            app,
            ["gen", "service", "-s", "api#1", "--json", "--max-attempts", "2"],
            env={"OLLAMA_HOST": server.url},
        )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    for key in (
        "run_id",
        "status",
        "exit_code",
        "message",
        "task",
        "skills",
        "model",
        "backend",
        "endpoint",
        "files",
        "attempts",
        "verify",
        "tokens",
        "duration_seconds",
        "tokens_per_second",
        "cost",
        "ledger",
        "warnings",
    ):
        assert key in report
    assert report["status"] == "verify_failed"
    assert report["verify"]["passed"] is False
    assert "E999 broken" in report["verify"]["output_tail"]
    assert report["cost"]["net_saving_dollars"] < 0  # a failed run saved nothing
    assert ledger_rows(route_home)[0]["status"] == "verify_failed"


def test_unsafe_answer_exits_4(project: Path, route_home: Path) -> None:
    evil = "../../escape.py\n```python\nprint(1)\n```\n"
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(evil)
        result = CliRunner().invoke(
            app,
            ["gen", "service", "-s", "api#1", "--max-attempts", "1"],
            env={"OLLAMA_HOST": server.url},
        )
    assert result.exit_code == 4
    assert not (project.parent.parent / "escape.py").exists()
    assert ledger_rows(route_home)[0]["status"] == "refused"


def test_dry_run_prints_a_diff_and_writes_nothing(project: Path) -> None:
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(ANSWER)
        result = CliRunner().invoke(
            app, ["gen", "service", "-s", "api#1", "--dry-run"], env={"OLLAMA_HOST": server.url}
        )
    assert result.exit_code == 0
    assert "+++ " in result.stdout
    assert "app/project_service.py" in result.stdout
    assert not (project / "app").exists()


def test_openai_backend_against_a_llama_server_like_endpoint(
    project: Path, route_home: Path
) -> None:
    with FakeModelServer(mode="openai") as server:
        server.enqueue(ANSWER)
        result = CliRunner().invoke(
            app,
            ["gen", "service", "-s", "api#1", "--json", "--base-url", server.openai_url],
        )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["backend"] == "openai"
    assert report["status"] == "success"
    assert (project / "app/project_service.py").exists()


def test_broken_ledger_does_not_take_the_run_down(project: Path, route_home: Path) -> None:
    (route_home / "ledger.sqlite3").write_bytes(b"this is not a database" * 100)
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(ANSWER)
        result = CliRunner().invoke(
            app, ["gen", "service", "-s", "api#1", "--json"], env={"OLLAMA_HOST": server.url}
        )
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["ledger"]["recorded"] is False
    assert "mv " in report["ledger"]["note"] or "move" in report["ledger"]["note"]
    assert (project / "app/project_service.py").exists()


def test_empty_task_and_nothing_to_follow_are_usage_errors(project: Path) -> None:
    assert invoke("  ", "-s", "api#1").exit_code == 2
    result = invoke("service")
    assert result.exit_code == 2
    assert "--skill" in result.stderr


def test_python_dash_m_route_runs(project: Path) -> None:
    import subprocess

    completed = subprocess.run(
        [sys.executable, "-m", "route", "--version"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert completed.stdout.startswith("route ")


@pytest.mark.parametrize("mode", ["ollama", "openai"])
def test_target_prefills_the_answer_over_a_real_socket(
    project: Path, route_home: Path, mode: str
) -> None:
    """Ollama continues a final assistant message and returns the continuation; llama-server
    returns the prefill too. Either way the target file is what gets written."""
    prefill = "app/project_service.py\n```python\n"
    continuation = '"""Projects."""\n```\n'
    with FakeModelServer(mode=mode) as server:
        server.enqueue(continuation if mode == "ollama" else prefill + continuation)
        where = ["--host", server.url] if mode == "ollama" else ["--base-url", server.openai_url]
        result = CliRunner().invoke(
            app,
            ["gen", "service", "-s", "api#1", "--json", "-t", "app/project_service.py", *where],
        )
        sent = server.requests[0]["messages"]
    assert result.exit_code == 0, result.output
    assert sent[-1] == {"role": "assistant", "content": prefill}
    assert "Write `app/project_service.py` now" in sent[-2]["content"]
    assert (project / "app/project_service.py").read_text() == '"""Projects."""\n'


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("../outside.py", "outside the project root"),
        (".git/hooks/pre-commit", "--target .git/hooks/pre-commit"),
        ("Makefile", "--target Makefile"),
        ("app/", "names a directory"),
        (".", "names a directory"),
    ],
)
def test_a_target_no_answer_could_write_is_a_usage_error(
    project: Path, route_home: Path, target: str, says: str
) -> None:
    with FakeModelServer(mode="ollama") as server:
        result = invoke("service", "-s", "api#1", "-t", target, env={"OLLAMA_HOST": server.url})
        assert server.requests == []
    assert result.exit_code == 2
    assert says in result.stderr
    assert ledger_rows(route_home) == []


def test_print_prompt_shows_the_prefill_of_a_target(project: Path, route_home: Path) -> None:
    result = invoke("service", "-s", "api#1", "-t", "app/x.py", "--print-prompt")
    assert result.exit_code == 0, result.output
    assert "===== assistant (prefill) =====" in result.stdout
    assert "===== assistant (prefill) =====\napp/x.py\n```python\n" in result.stdout


# --------------------------------------------------------------------------- issue 19 item 16


def test_task_from_a_file(project: Path) -> None:
    long_task = "service for Projects. " + "Each project has a name. " * 20_000  # ~500 KB
    (project / "task.md").write_text(long_task, encoding="utf-8")
    result = invoke("--task-file", "task.md", "-s", "api#1", "--print-prompt")
    assert result.exit_code == 0, result.output
    assert long_task.strip() in result.stdout


def test_task_from_stdin(project: Path) -> None:
    result = CliRunner().invoke(
        app, ["gen", "-", "-s", "api#1", "--print-prompt"], input="tests for the service\n"
    )
    assert result.exit_code == 0, result.output
    assert "tests for the service" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (("-s", "api#1"), "give the task"),
        (("x", "--task-file", "task.md", "-s", "api#1"), "not both"),
        (("--task-file", "missing.md", "-s", "api#1"), "cannot read --task-file missing.md"),
    ],
)
def test_task_sources_that_cannot_be_used(
    project: Path, route_home: Path, arguments: tuple[str, ...], words: str
) -> None:
    (project / "task.md").write_text("service\n")
    result = invoke(*arguments)
    assert result.exit_code == 2
    assert words in result.stderr
    assert ledger_rows(route_home) == []


# --------------------------------------------------------------------------- items 13 and 17


def test_print_prompt_with_json_is_one_json_object(project: Path, route_home: Path) -> None:
    result = invoke("service for Projects", "-s", "api#1", "--print-prompt", "--json")
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    data = json.loads(line)
    assert data["status"] == "prompt"
    assert [message["role"] for message in data["messages"]][:2] == ["system", "user"]
    assert any("service for Projects" in message["content"] for message in data["messages"])
    assert data["estimated_prompt_tokens"] > 0
    assert ledger_rows(route_home) == []


def test_print_prompt_escapes_control_characters_in_the_task(project: Path) -> None:
    result = invoke("service\x1b[2J for\x07\r Projects", "-s", "api#1", "--print-prompt")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\r" not in result.stdout
    assert "service\\x1b[2J for\\x07\\x0d Projects" in result.stdout


# --------------------------------------------------------------------------- item 6


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (("--base-url", "ftp://x", "--backend", "openai"), "--base-url 'ftp://x' has the scheme"),
        (("--host", ":::"), "--host ':::' is not a valid address"),
        (("--endpoint", "nowhere"), "unknown endpoint 'nowhere'"),
    ],
)
def test_settings_refused_before_the_run_make_no_ledger_row(
    project: Path, route_home: Path, arguments: tuple[str, ...], words: str
) -> None:
    result = invoke("service", "-s", "api#1", *arguments)
    assert result.exit_code == 2, result.output
    assert words in result.stderr
    assert "ledger:" not in result.stderr
    assert ledger_rows(route_home) == []


def test_a_prompt_too_large_for_the_model_makes_no_ledger_row(
    project: Path, route_home: Path
) -> None:
    (project / "big.py").write_text("x = 1\n" * 20_000)
    with FakeModelServer(mode="ollama", context_length=4096) as server:
        result = invoke("service", "-s", "api#1", "-c", "big.py", env={"OLLAMA_HOST": server.url})
        as_json = invoke(
            "service", "-s", "api#1", "-c", "big.py", "--json", env={"OLLAMA_HOST": server.url}
        )
    assert result.exit_code == 2, result.output
    assert "does not fit" in result.stderr
    report = json.loads(as_json.stdout)
    assert (report["status"], report["exit_code"], report["cost"]) == ("error", 2, None)
    assert report["ledger"]["recorded"] is False
    assert ledger_rows(route_home) == []


def test_a_dry_run_makes_no_ledger_row(project: Path, route_home: Path) -> None:
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(ANSWER)
        result = invoke("service", "-s", "api#1", "--dry-run", env={"OLLAMA_HOST": server.url})
    assert result.exit_code == 0, result.output
    assert "+++ b/app/project_service.py" in result.stdout
    assert ledger_rows(route_home) == []


def test_a_run_the_server_failed_is_still_a_ledger_row(project: Path, route_home: Path) -> None:
    result = invoke("service", "-s", "api#1", "--host", f"127.0.0.1:{free_port()}")
    assert result.exit_code == 3
    assert [row["status"] for row in ledger_rows(route_home)] == ["backend_error"]


# --------------------------------------------------------------------------- item 7


def test_a_failed_run_reads_back_no_second_copy_of_a_long_task(
    project: Path, route_home: Path
) -> None:
    task = "service for Projects. " + "Each project has a name. " * 1200  # ~30 KB
    (project / "task.md").write_text(task)
    with FakeModelServer(mode="ollama") as server:
        server.enqueue("no files here\n")
        server.enqueue("no files here\n")
        result = invoke(
            "--task-file", "task.md", "-s", "api#1", "--max-attempts", "1", "--json",
            env={"OLLAMA_HOST": server.url},
        )  # fmt: skip
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["task"].startswith("service for Projects.")
    assert report["task"].endswith(f"({len(task):,} characters)")
    assert len(report["task"]) < 300
    (row,) = ledger_rows(route_home)
    assert row["task"] == task  # the ledger keeps the whole task
    assert int(str(row["handoff_input_characters"])) < 5_000
    assert int(str(row["handoff_output_characters"])) < 200  # the command, not the file


# --------------------------------------------------------------------------- item 4


def test_an_unwritable_route_home_stops_the_run_before_the_model_is_asked(
    project: Path, tmp_path: Path
) -> None:
    # A regular file where a folder should be: no write below it succeeds (as on a read-only
    # mount, and unlike permission bits it holds for root too).
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(ANSWER)
        result = invoke(
            "service",
            "-s",
            "api#1",
            "--json",
            env={"OLLAMA_HOST": server.url, "ROUTE_HOME": str(blocker / "home")},
        )
        chats = [r for r in server.requests if "messages" in r]
    assert result.exit_code == 2, result.output
    assert chats == []
    assert result.stderr.strip().splitlines() == [
        f"route: error: route cannot write its ledger in {blocker / 'home'} (Not a directory) "
        "— point --ledger (or ROUTE_LEDGER, or ROUTE_HOME) at a writable folder"
    ]
    assert json.loads(result.stdout)["exit_code"] == 2
    assert not (project / "app" / "project_service.py").exists()


def test_an_unwritable_ledger_folder_stops_the_run_before_the_model_is_asked(
    project: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(ANSWER)
        result = invoke(
            "service",
            "-s",
            "api#1",
            "--ledger",
            str(blocker / "ledger.sqlite3"),
            env={"OLLAMA_HOST": server.url},
        )
        chats = [r for r in server.requests if "messages" in r]
    assert result.exit_code == 2, result.output
    assert chats == []
    assert "route cannot write its ledger in" in result.stderr
    assert "Traceback" not in result.output


def test_an_unwritable_lock_folder_stops_the_run_before_the_model_is_asked(
    project: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(ANSWER)
        result = invoke(
            "service",
            "-s",
            "api#1",
            "--ledger",
            str(tmp_path / "ledger.sqlite3"),
            env={"OLLAMA_HOST": server.url, "ROUTE_HOME": str(blocker)},
        )
        chats = [r for r in server.requests if "messages" in r]
    assert result.exit_code == 2, result.output
    assert chats == []
    assert f"route cannot write its project locks in {blocker / 'locks'}" in result.stderr


def test_a_blank_fix_command_is_a_usage_error_before_any_request(tmp_path: Path) -> None:
    """As a blank verify command: `--fix ""` would otherwise skip the fix step silently."""
    import os
    import subprocess
    import sys

    (tmp_path / "notes.py").write_text("x = 1\n", encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, "-m", "route", "gen", "task", "-c", "notes.py", "--fix", " ",
         "--base-url", "http://127.0.0.1:9/v1", "--backend", "openai", "--json"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
        env={**os.environ, "ROUTE_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert completed.returncode == 2, completed.stderr
    assert "fix command is blank" in completed.stdout
    assert not (tmp_path / "home" / "ledger.sqlite3").exists()
