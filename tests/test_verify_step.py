"""The one verify step: a failed verify reads the same in a run and a batch, its timeout too.

A batch whose verify timed out used to say "failed (exit None)" (its own copy of the text had
no timeout case)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from route.cli.main import app
from route.safety.verify_step import verify_failure
from route.values import VerifyResult
from tests.servers import FakeModelServer

SLEEP = f"{sys.executable} -c 'import time; time.sleep(30)'"
VERIFY = ("--verify", SLEEP)


def test_the_failure_text_names_the_exit_code_or_the_timeout() -> None:
    failed = VerifyResult("make verify", False, 2, "E1", 1.0)
    killed = VerifyResult("make verify", False, None, "", 1.4, timed_out=True)
    assert verify_failure(failed) == "verify `make verify` failed (exit 2)"
    assert verify_failure(killed) == "verify `make verify` timed out after 1 s"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    (root / ".skills" / "api").mkdir(parents=True)
    (root / ".skills" / "api" / "SKILL.md").write_text("# API\n\n## 1. Service\n\nS.\n")
    (root / ".git").mkdir()
    (root / "route.yaml").write_text("verify_timeout: 0.5\n")
    (root / "plan.yaml").write_text("- id: one\n  task: service\n  skill: api#1\n")
    monkeypatch.chdir(root)
    return root


def test_a_batch_whose_verify_times_out_says_so(project: Path) -> None:
    with FakeModelServer(mode="ollama") as server:
        server.enqueue('app/one.py\n```python\n"""One."""\n```\n')
        result = CliRunner().invoke(
            app,
            [
                "batch",
                "plan.yaml",
                "--host",
                server.url,
                "--max-attempts",
                "1",
                "--json",
                "--verify",
                SLEEP,
            ],
        )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    task = report["tasks"][0]
    assert "exit None" not in task["message"]
    assert f"verify `{SLEEP}` timed out after" in task["message"]
    assert report["verify_rounds"][0]["timed_out"] is True
    assert "timed out after" in task["attempts"][-1]["failure"]
