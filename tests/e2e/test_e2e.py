"""`route gen` end to end against a real llama-server and the real SmolLM2 model.

SmolLM2 is tiny and often ignores the file format, so these tests assert only what holds whatever
the model writes: the answer streamed, the server's token counts were recorded and are non-zero,
every attempt either wrote safe files or failed for a stated reason (and was followed by a repair
round), nothing changed outside the project copy, exactly one ledger row per run with the run's
status, and the exit code matches the outcome. Settings are deterministic (temperature 0, fixed
seed) and small (512 output tokens, 2 attempts) to keep the suite fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "projects-api"
MODEL = "smollm2"
MAX_ATTEMPTS = 2
RUN_TIMEOUT = 600
DETERMINISTIC = ("--model", MODEL, "--temperature", "0", "--seed", "42")
EXIT_CODES = {"success": 0, "verify_failed": 1, "no_files": 1, "refused": 4}
ATTEMPT_FAILURES = (
    "no usable file blocks",
    "edits could not be applied",
    "part of the answer was refused",
    "verify `",
)
TOP_LEVEL_KEYS = {
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
}
COST_KEYS = {
    "cloud_model",
    "prices_date",
    "cloud_only_dollars",
    "handoff_dollars",
    "net_saving_dollars",
    "net_saving_percent",
    "estimate",
}
COPY_IGNORED = ("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".route")
# Lines route's live view writes around the streamed answer (not the answer itself).
STATUS_LINE = re.compile(
    r"^(── attempt \d+/\d+|   (\d+ prompt \+ \d+ output tokens|verifying: |refused |✗ |✓ )"
    r"|route: )"
)
STATUS_DRAW = re.compile(r"\x1b\[2m.*?\x1b\[0m")  # the dim, redrawn progress line
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\r")


@dataclass(frozen=True)
class Run:
    """One finished ``route gen`` process."""

    project: Path
    exit_code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.stdout)
        return parsed


# --------------------------------------------------------------------------- helpers


def snapshot(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` with the SHA-256 of its bytes."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() or path.is_symlink()
    }


def copy_example(workspace: Path) -> Path:
    """A fresh copy of the example project, alone in ``workspace``."""
    workspace.mkdir(parents=True, exist_ok=True)
    project = workspace / "projects-api"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(*COPY_IGNORED))
    return project


def outside(workspace: Path, project: Path) -> dict[str, str]:
    """The snapshot of ``workspace`` without the project copy inside it."""
    prefix = f"{project.name}{os.sep}"
    files = snapshot(workspace).items()
    return {path: digest for path, digest in files if not path.startswith(prefix)}


def route_environment(home: Path) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("ROUTE_", "OLLAMA_"))
    }
    environment.update(
        ROUTE_HOME=str(home),
        PYTHON=sys.executable,  # the example's `make verify` runs ruff and pytest with it
        ROUTE_FORCE_TERMINAL="1",  # stream the answer as on a terminal
    )
    return environment


def gen_command(
    base_url: str, task: str, *arguments: str, max_attempts: int = MAX_ATTEMPTS
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "route",
        "gen",
        task,
        "--backend",
        "openai",
        "--base-url",
        base_url,
        *DETERMINISTIC,
        "--max-output-tokens",
        "512",
        "--max-attempts",
        str(max_attempts),
        *arguments,
    ]


def run_gen(project: Path, home: Path, base_url: str, task: str, *arguments: str) -> Run:
    completed = subprocess.run(
        gen_command(base_url, task, *arguments),
        cwd=project,
        env=route_environment(home),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    return Run(project, completed.returncode, completed.stdout, completed.stderr)


def ledger_rows(home: Path) -> list[Any]:
    from route.accounting.ledger import Ledger

    with Ledger.open(home / "ledger.sqlite3") as ledger:
        rows: list[Any] = ledger.runs(since=None, until=None, project=None, limit=None)
    return rows


def streamed_text(output: str) -> str:
    """What the live view streamed, without its own status lines."""
    lines = ANSI.sub("", STATUS_DRAW.sub("", output)).splitlines()
    return "\n".join(line for line in lines if not STATUS_LINE.match(line))


# --------------------------------------------------------------------------- checks


def check_json_shape(report: dict[str, Any]) -> None:
    assert set(report) >= TOP_LEVEL_KEYS, TOP_LEVEL_KEYS - set(report)
    assert {"created", "changed", "refused"} <= set(report["files"])
    assert {"prompt", "output", "cached"} <= set(report["tokens"])
    assert {"path", "recorded"} <= set(report["ledger"])
    assert set(report["cost"]) >= COST_KEYS, COST_KEYS - set(report["cost"])
    for attempt in report["attempts"]:
        assert {"number", "failure", "prompt_tokens", "output_tokens", "verify"} <= set(attempt)
    for refusal in report["files"]["refused"]:
        assert set(refusal) == {"path", "reason"}
        assert refusal["reason"]


def check_outcome(
    report: dict[str, Any], exit_code: int, *, max_attempts: int = MAX_ATTEMPTS
) -> None:
    """Exit code, status and attempts tell one consistent story."""
    status = report["status"]
    assert status in EXIT_CODES, f"{status}: {report['message']}"
    assert exit_code == report["exit_code"] == EXIT_CODES[status], report["message"]
    attempts = report["attempts"]
    assert [attempt["number"] for attempt in attempts] == list(range(1, len(attempts) + 1))
    for attempt in attempts[:-1]:  # every earlier attempt failed for a reason, then was repaired
        assert attempt["failure"].startswith(ATTEMPT_FAILURES), attempt["failure"]
    last = attempts[-1]
    if status == "success":
        assert last["failure"] is None
        assert last["verify"] is None or last["verify"]["passed"]
    else:  # every attempt was used, each failing for a stated reason
        assert len(attempts) == max_attempts
        assert last["failure"].startswith(ATTEMPT_FAILURES), last["failure"]
    if status == "no_files":
        assert all(a["failure"].startswith("no usable file blocks") for a in attempts)
        assert report["files"]["created"] == report["files"]["changed"] == []


def check_tokens(report: dict[str, Any]) -> None:
    """The server's own counts were recorded: non-zero per attempt and summed in the total."""
    attempts = report["attempts"]
    assert all(attempt["prompt_tokens"] > 0 for attempt in attempts)
    assert all(attempt["output_tokens"] > 0 for attempt in attempts)
    assert report["tokens"]["prompt"] == sum(a["prompt_tokens"] for a in attempts)
    assert report["tokens"]["output"] == sum(a["output_tokens"] for a in attempts)


def longest_line(text: str) -> str:
    return max(text.splitlines() or [""], key=lambda line: len(line.strip())).strip()


def check_files(run: Run, report: dict[str, Any], *, rolled_back: bool) -> None:
    """Written files are inside the copy and their text was streamed first; refused files were
    not written; with --rollback a failed run leaves the copy as it was."""
    streamed = streamed_text(run.stderr)
    root = run.project.resolve()
    for path in report["files"]["created"]:
        assert longest_line(report["code"][path]) in streamed, f"{path}: its text was not streamed"
    for path in report["files"]["created"] + report["files"]["changed"]:
        target = (root / path).resolve()
        assert target.is_relative_to(root), path
        if rolled_back:
            original = EXAMPLE / path
            assert target.exists() == original.exists(), path
            if original.exists():
                assert target.read_bytes() == original.read_bytes(), path
        else:
            assert target.is_file(), path
    for refusal in report["files"]["refused"]:
        path = Path(refusal["path"])
        if not path.is_absolute() and ".." not in path.parts:  # others: see the snapshots
            assert (root / path).exists() == (EXAMPLE / path).exists(), refusal


def check_ledger(home: Path, report: dict[str, Any], exit_code: int) -> None:
    rows = ledger_rows(home)
    assert len(rows) == 1
    row = rows[0]
    assert row.run_id == report["run_id"]
    assert row.status == report["status"]
    assert row.exit_code == exit_code
    assert row.prompt_tokens == report["tokens"]["prompt"] > 0
    assert row.output_tokens == report["tokens"]["output"] > 0
    assert row.attempts == len(report["attempts"])
    assert report["ledger"]["recorded"] is True
    assert Path(report["ledger"]["path"]) == home / "ledger.sqlite3"


# --------------------------------------------------------------------------- tests

TASK = "service for Projects"
TASKS = [
    pytest.param(TASK, ("--skill", "scaffold#3"), id="service"),
    pytest.param("model for Projects", ("--skill", "scaffold#1", "--no-verify"), id="model"),
    pytest.param(
        "schema for Projects",
        ("--skill", "scaffold#2", "-c", "app/schemas/user.py"),
        id="schema-with-context",
    ),
    pytest.param(
        "routes for Projects",
        ("--skill", "scaffold#routes", "--verify", f"{sys.executable} -m pytest -q -x"),
        id="routes-custom-verify",
    ),
    pytest.param(
        "Projects resource: model and service",
        ("--skill", "scaffold#1,3", "--rollback"),
        id="model-and-service-rollback",
    ),
]


@pytest.mark.parametrize(("task", "arguments"), TASKS)
def test_gen_task_on_a_copy_of_the_example(
    llama_server: Any, route_home: Path, tmp_path: Path, task: str, arguments: tuple[str, ...]
) -> None:
    workspace = tmp_path / "workspace"
    project = copy_example(workspace)
    example_before = snapshot(EXAMPLE)
    outside_before = outside(workspace, project)

    run = run_gen(
        project, route_home, llama_server.base_url, task, *arguments, "--json", "--include-code"
    )

    assert run.stdout.count("\n") == 1, run.stderr  # one compact JSON object
    report = run.report
    check_json_shape(report)
    check_outcome(report, run.exit_code)
    check_tokens(report)
    rolled_back = "--rollback" in arguments and report["status"] != "success"
    check_files(run, report, rolled_back=rolled_back)
    assert streamed_text(run.stderr).strip(), "the answer was not streamed"
    assert report["backend"] == "openai"
    assert report["endpoint"].startswith(llama_server.root_url)
    assert report["task"] == task
    check_ledger(route_home, report, run.exit_code)
    assert outside(workspace, project) == outside_before
    assert snapshot(EXAMPLE) == example_before


def test_gen_streams_to_the_terminal_and_reports_in_plain_words(
    llama_server: Any, route_home: Path, tmp_path: Path
) -> None:
    workspace = tmp_path / "workspace"
    project = copy_example(workspace)
    outside_before = outside(workspace, project)

    run = run_gen(
        project, route_home, llama_server.base_url, "tests for Projects", "--skill", "scaffold#5"
    )

    rows = ledger_rows(route_home)
    assert len(rows) == 1
    row = rows[0]
    assert row.status in EXIT_CODES
    assert run.exit_code == row.exit_code == EXIT_CODES[row.status]
    assert row.prompt_tokens > 0
    assert row.output_tokens > 0
    streamed = streamed_text(run.stdout)  # stdout holds the answer; the report is on stderr
    assert streamed.strip(), "the answer did not reach the terminal"
    for created in (project / path for path in set(snapshot(project)) - set(snapshot(EXAMPLE))):
        if created.suffix == ".py" and ".route" not in created.parts:
            assert longest_line(created.read_text()) in streamed, created
    assert f"route: {row.status} — " in run.stderr
    assert f"recorded in {route_home / 'ledger.sqlite3'}" in run.stderr
    assert outside(workspace, project) == outside_before


def test_two_runs_at_once_against_one_server(
    llama_server: Any, route_home: Path, tmp_path: Path
) -> None:
    projects = [copy_example(tmp_path / f"workspace-{number}") for number in (1, 2)]
    logs = [(tmp_path / f"out-{number}.json", tmp_path / f"err-{number}.txt") for number in (1, 2)]
    # One attempt each: the point is two answers streaming from one server at the same time.
    command = gen_command(
        llama_server.base_url, TASK, "--skill", "scaffold#3", "--json", max_attempts=1
    )
    processes = []
    for project, (out_path, err_path) in zip(projects, logs, strict=True):
        with out_path.open("w") as out, err_path.open("w") as err:
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=project,
                    env=route_environment(route_home),
                    stdout=out,
                    stderr=err,
                )
            )
    try:
        exit_codes = [process.wait(timeout=RUN_TIMEOUT) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    reports = [json.loads(out_path.read_text()) for out_path, _ in logs]
    for report, exit_code in zip(reports, exit_codes, strict=True):
        check_outcome(report, exit_code, max_attempts=1)
        check_tokens(report)
    rows = ledger_rows(route_home)
    assert len(rows) == 2
    assert {row.run_id for row in rows} == {report["run_id"] for report in reports}
    assert {row.project for row in rows} == {str(project.resolve()) for project in projects}


def test_a_stopped_server_is_reported_not_reachable(
    llama_server: Any, route_home: Path, tmp_path: Path
) -> None:
    project = copy_example(tmp_path / "workspace")
    before = snapshot(project)
    base_url = llama_server.base_url
    llama_server.stop()
    try:
        run = run_gen(project, route_home, base_url, TASK, "--skill", "scaffold#3", "--json")
    finally:
        llama_server.start()  # the rest of the session keeps its server

    assert "Traceback" not in run.stderr, run.stderr
    report = run.report
    check_json_shape(report)
    assert run.exit_code == report["exit_code"] == 3
    assert report["status"] == "backend_error"
    assert "not reachable" in report["message"], report["message"]
    assert base_url in report["message"]
    assert report["attempts"] == []
    rows = ledger_rows(route_home)
    assert [(row.status, row.exit_code) for row in rows] == [("backend_error", 3)]
    assert snapshot(project) == before


def test_a_target_is_the_file_the_real_model_writes(
    llama_server: Any, route_home: Path, tmp_path: Path
) -> None:
    """llama-server continues the prefilled answer (and returns the prefill with it): whatever
    the small model writes lands in the --target file, under no other path.

    The tiny model does not always close its code block within the budget (with prompt v7 it
    repeats a comment line until the limit): the answer is then the prefilled block, left open
    at the path and fence the prefill put on lines 1 and 2, and nothing is written. Either way
    the real server's answer was joined to the prefill, and no other path was touched."""
    project = copy_example(tmp_path / "workspace")
    before = snapshot(project)
    target = "app/services/prefilled_service.py"
    run = run_gen(
        project, route_home, llama_server.base_url, "service for Projects",
        "--skill", "scaffold#3", "--target", target, "--no-verify", "--json", "--include-code",
    )  # fmt: skip
    report = run.report
    after = snapshot(project)
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    if report["status"] == "success":
        assert report["files"]["created"] == [target]
        assert (project / target).read_text() == report["code"][target]
        assert changed == {target}
    else:
        assert report["status"] == "no_files", report
        assert all(
            "unterminated code block starting at line 2" in attempt["failure"]
            for attempt in report["attempts"]
        ), report["attempts"]
        assert changed == set()
    assert all(attempt["output_tokens"] > 0 for attempt in report["attempts"])
    check_ledger(route_home, report, run.exit_code)


def test_the_fix_step_runs_on_what_the_real_model_wrote(
    llama_server: Any, route_home: Path, tmp_path: Path
) -> None:
    """The example project's fix command (ruff's fixes and formatter, `[tool.route]`) runs after
    every attempt that wrote files, on exactly those files, before verify, and on nothing else:
    the only files that differ afterwards are the ones the report says route created or changed.
    (What holds whatever the small model writes: an attempt that wrote nothing ran no fix.)"""
    project = copy_example(tmp_path / "workspace")
    before = snapshot(project)
    run = run_gen(
        project, route_home, llama_server.base_url, "service for Projects",
        "--skill", "scaffold#3", "--target", "app/services/fixed_service.py", "--json",
    )  # fmt: skip
    report = run.report
    check_outcome(report, run.exit_code)
    for attempt in report["attempts"]:
        fix = attempt["fix"]
        if not attempt["files"]:
            assert fix is None, attempt
            continue
        assert fix is not None, attempt
        assert "-m ruff check --fix --exit-zero --no-cache" in fix["command"]
        assert fix["command"].endswith("format --no-cache " + " ".join(sorted(attempt["files"])))
        assert fix["problem"] is None, fix
        assert set(fix["changed"]) <= set(attempt["files"])
    after = snapshot(project)
    differing = {
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    }
    assert differing <= set(report["files"]["created"]) | set(report["files"]["changed"])
    check_ledger(route_home, report, run.exit_code)
