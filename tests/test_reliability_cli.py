"""Faults end to end: misbehaving loopback servers, interrupts and hanging verify commands.

Each case checks the exit code, the one-line message, that no file came from an incomplete
answer, and the ledger row's status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from route.accounting.ledger import Ledger
from route.cli.main import app
from tests.servers import FakeModelServer

SKILL = "# API\n\n## 1. Service\n\nServices go in `app/<name>_service.py`.\n"
ANSWER = 'app/project_service.py\n```python\n"""Projects."""\n```\n'


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    (root / ".skills" / "api").mkdir(parents=True)
    (root / ".skills" / "api" / "SKILL.md").write_text(SKILL)
    (root / "Makefile").write_text("verify:\n\ttrue\n")
    (root / "route.yaml").write_text("read_timeout: 1.5\nmax_attempts: 1\n")
    (root / ".git").mkdir()
    monkeypatch.chdir(root)
    return root


def rows(route_home: Path) -> list[dict[str, object]]:
    with Ledger.open(route_home / "ledger.sqlite3") as ledger:
        return [r.to_dict() for r in ledger.runs(since=None, until=None, project=None, limit=None)]


@pytest.mark.parametrize(
    ("fault", "fragment"),
    [
        ("http_404", "ollama pull"),
        ("http_500", "500"),
        ("http_503", "busy"),
        ("http_503_plain", "busy"),
        ("midstream_error", "error"),
        ("cut", "nothing was written"),
        ("truncated", "nothing was written"),
        ("malformed", "line"),
        ("stall", "read_timeout"),
    ],
)
def test_server_faults_give_exit_3_and_write_nothing(
    project: Path, route_home: Path, fault: str, fragment: str
) -> None:
    with FakeModelServer(mode="ollama") as server:
        server.enqueue_fault(fault)
        result = CliRunner().invoke(
            app, ["gen", "service", "-s", "api#1"], env={"OLLAMA_HOST": server.url}
        )
    assert result.exit_code == 3, result.output
    assert fragment.lower() in result.stderr.lower()
    assert "Traceback" not in result.output
    assert not (project / "app").exists()
    [row] = rows(route_home)
    assert row["status"] == "backend_error"
    assert row["exit_code"] == 3


def test_endless_stream_is_capped(project: Path, route_home: Path) -> None:
    with FakeModelServer(mode="ollama") as server:
        server.enqueue_fault("endless")
        result = CliRunner().invoke(
            app,
            ["gen", "service", "-s", "api#1", "--max-output-tokens", "64", "--json"],
            env={"OLLAMA_HOST": server.url},
        )
    assert result.exit_code in (0, 1, 4)
    assert "length" in result.stdout or "limit" in result.stdout
    assert len(rows(route_home)) == 1


def start_route(project: Path, route_home: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    environment = dict(os.environ, ROUTE_HOME=str(route_home), OLLAMA_HOST=url)
    return subprocess.Popen(
        [sys.executable, "-m", "route", "gen", "service", "-s", "api#1", *extra],
        cwd=project,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_sigint_during_streaming(project: Path, route_home: Path) -> None:
    (project / "route.yaml").write_text("read_timeout: 60\n")
    with FakeModelServer(mode="ollama") as server:
        server.enqueue_fault("stall")
        process = start_route(project, route_home, server.url)
        wait_for(lambda: len(server.requests) == 1)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert not (project / "app").exists()
    assert rows(route_home)[0]["status"] == "interrupted"


def test_sigint_during_verify_kills_the_process_group_and_rolls_back(
    project: Path, route_home: Path
) -> None:
    pid_file = project.parent / "verify.pid"
    (project / "Makefile").write_text(f"verify:\n\tsleep 60 & echo $$! > {pid_file}; wait\n")
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(ANSWER)
        process = start_route(project, route_home, server.url, "--rollback")
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip())
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    child = int(pid_file.read_text())
    wait_for(lambda: not _alive(child), 10)
    assert not (project / "app" / "project_service.py").exists()  # rolled back
    row = rows(route_home)[0]
    assert row["status"] == "interrupted"


def test_sigterm_is_treated_like_an_interrupt(project: Path, route_home: Path) -> None:
    (project / "route.yaml").write_text("read_timeout: 60\n")
    with FakeModelServer(mode="ollama") as server:
        server.enqueue_fault("stall")
        process = start_route(project, route_home, server.url)
        wait_for(lambda: len(server.requests) == 1)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 130
    assert rows(route_home)[0]["status"] == "interrupted"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
