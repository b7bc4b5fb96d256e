"""One finish: a run is priced once and recorded once, and every report reads those figures.

Before, the printed cost was priced with a fixed hand-off estimate and the ledger row with the
measured one, so ``gen --json`` and ``route cost show --json`` disagreed for the same run; and
a batch's tok/s was output over wall time where the ledger's is output over generation time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from route.accounting.ledger import Ledger
from route.cli.main import app
from tests.servers import FakeModelServer

SKILL = "# API\n\n## 1. Service\n\nServices go in `app/<name>_service.py`.\n\n## 2. Model\n\nM.\n"
ANSWER = 'app/project_service.py\n```python\n"""Projects."""\n```\n'
PLAN = "- id: one\n  task: service\n  skill: api#1\n- id: two\n  task: model\n  skill: api#2\n"
VERIFY = ("--verify", f"{sys.executable} -c pass")
COST_FIELDS = ("cloud_only_dollars", "handoff_dollars", "net_saving_dollars")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    (root / ".skills" / "api").mkdir(parents=True)
    (root / ".skills" / "api" / "SKILL.md").write_text(SKILL)
    (root / "Makefile").write_text("verify:\n\t@true\n")
    (root / ".git").mkdir()
    monkeypatch.chdir(root)
    return root


def test_gen_json_and_cost_show_json_give_the_same_figures(project: Path) -> None:
    runner = CliRunner()
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(ANSWER)
        gen = runner.invoke(
            app, ["gen", "service", "-s", "api#1", "--json"], env={"OLLAMA_HOST": server.url}
        )
    assert gen.exit_code == 0, gen.output
    printed = json.loads(gen.stdout)
    shown = runner.invoke(app, ["cost", "show", printed["run_id"], "--json"])
    assert shown.exit_code == 0, shown.output
    recorded = json.loads(shown.stdout)["cost"]
    for name in COST_FIELDS:
        assert printed["cost"][name] == round(recorded[name], 6), name
    assert printed["cost"]["cloud_input_tokens"] == recorded["cloud_input_tokens_estimate"]


def test_batch_tokens_per_second_is_the_ledgers(project: Path, route_home: Path) -> None:
    (project / "plan.yaml").write_text(PLAN)
    with FakeModelServer(mode="ollama", parallel=2) as server:
        server.enqueue('app/one.py\n```python\n"""One."""\n```\n')
        server.enqueue('app/two.py\n```python\n"""Two."""\n```\n')
        result = CliRunner().invoke(
            app,
            ["batch", "plan.yaml", "--host", server.url, "--parallel", "2", "--json", *VERIFY],
        )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    with Ledger.open(route_home / "ledger.sqlite3") as ledger:
        rows = ledger.runs()
    output = sum(row.output_tokens for row in rows)
    seconds = sum(row.generation_seconds for row in rows)
    assert report["tokens_per_second"] == round(output / seconds, 1)
