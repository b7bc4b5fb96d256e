"""`route gen` end to end against a real HTTP server on 127.0.0.1 speaking Ollama's streaming
protocol, in a temporary copy of examples/projects-api: write, verify (one failing round, then a
passing one), report and ledger."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from route.accounting.ledger import Ledger
from route.cli.main import app
from tests.conftest import EXAMPLE_PROJECT
from tests.servers import FakeModelServer

BROKEN_SERVICE = '''app/services/project_service.py
```python
"""Business rules for projects."""

import os


def list_projects() -> list[str]:
    return []
```
'''

FIXED_SERVICE = '''Here is the corrected file.

app/services/project_service.py
```python
"""Business rules for projects."""


def list_projects() -> list[str]:
    return []
```
'''


GEN_JSON = ["gen", "service for Projects", "--skill", "scaffold#3", "--json", "--model", "coder"]
# (--no-fix where a test needs verify to fail: the example's fix step removes unused imports.)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "projects-api"
    shutil.copytree(
        EXAMPLE_PROJECT,
        copy,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache"),
    )
    return copy


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and ".pytest_cache" not in path.parts
    }


def test_write_verify_repair_report_and_ledger(
    project: Path, route_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(project.parent)
    monkeypatch.chdir(project)
    with FakeModelServer(mode="ollama", context_length=32768) as server:
        server.enqueue(BROKEN_SERVICE)
        server.enqueue(FIXED_SERVICE)
        result = CliRunner().invoke(
            app,
            [*GEN_JSON, "--no-fix"],
            env={"OLLAMA_HOST": server.url, "PYTHON": sys.executable},
        )
        requests = list(server.requests)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "success"
    assert report["files"]["created"] == ["app/services/project_service.py"]
    assert [a["verify"]["passed"] for a in report["attempts"]] == [False, True]
    assert "F401" in report["attempts"][0]["verify"]["output_tail"]
    assert report["backend"] == "ollama"
    assert report["tokens"]["prompt"] > 0
    assert report["tokens"]["output"] > 0
    assert report["cost"]["estimate"] is True
    assert report["cost"]["cloud_model"] == "claude-sonnet-4-5"
    assert "code" not in report  # no generated code without --include-code

    # The repair round re-sent the first messages byte for byte, then the answer and the repair.
    first, second = requests[0]["messages"], requests[1]["messages"]
    assert second[: len(first)] == first
    assert second[len(first)]["role"] == "assistant"
    assert "F401" in second[len(first) + 1]["content"]
    # ... pointing at the line, marked, in the file route wrote.
    assert "app/services/project_service.py:3:8: F401" in second[len(first) + 1]["content"]
    assert ">> 3 | import os" in second[len(first) + 1]["content"]
    assert report["strategy"] == "repair"
    num_ctx = requests[0]["options"]["num_ctx"]
    assert num_ctx >= 4096
    assert num_ctx & (num_ctx - 1) == 0  # a stable power of two
    assert requests[0]["options"]["num_ctx"] == requests[1]["options"]["num_ctx"]

    written = (project / "app/services/project_service.py").read_text()
    assert "import os" not in written
    after = snapshot(project.parent)
    changed = {path for path in after if before.get(path) != after[path]}
    assert changed == {"projects-api/app/services/project_service.py"}

    with Ledger.open(route_home / "ledger.sqlite3") as ledger:
        runs = ledger.runs(since=None, until=None, project=None, limit=None)
    assert len(runs) == 1
    row = runs[0]
    assert row.run_id == report["run_id"]
    assert row.status == "success"
    assert row.exit_code == 0
    assert row.attempts == 2
    assert row.prompt_tokens == report["tokens"]["prompt"]
    assert row.skill_refs == "scaffold#3"
    assert row.project == str(project.resolve())
    assert row.verify_passed is True


def test_human_report_goes_to_stderr_with_the_cost_table(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(FIXED_SERVICE)
        result = CliRunner().invoke(
            app,
            ["gen", "service for Projects", "-s", "scaffold#3", "--model", "coder"],
            env={"OLLAMA_HOST": server.url, "PYTHON": sys.executable},
        )
    assert result.exit_code == 0, result.output
    assert "route: success" in result.stderr
    assert "created  app/services/project_service.py" in result.stderr
    assert "net saving" in result.stderr
    assert "ledger: recorded in" in result.stderr


def test_the_example_projects_fix_step_passes_what_verify_would_fail(
    project: Path, route_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example project sets fix_command (ruff's fixes and formatter): the unused import is
    removed before verify, so the first answer passes without a repair round."""
    monkeypatch.chdir(project)
    with FakeModelServer(mode="ollama", context_length=32768) as server:
        server.enqueue(BROKEN_SERVICE)
        result = CliRunner().invoke(
            app,
            GEN_JSON,
            env={"OLLAMA_HOST": server.url, "PYTHON": sys.executable},
        )
        requests = list(server.requests)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "success"
    assert report["strategy"] == "first"
    assert len(requests) == 1
    (attempt,) = report["attempts"]
    assert attempt["fix"]["changed"] == ["app/services/project_service.py"]
    assert attempt["fix"]["problem"] is None
    assert "import os" not in (project / "app/services/project_service.py").read_text()
    assert report["files"]["created"] == ["app/services/project_service.py"]
