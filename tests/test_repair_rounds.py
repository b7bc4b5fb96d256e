"""Repairs that converge (issue 20), through the whole pipeline with scripted models: the fix step
before verify, repair messages that point, the focused round when the model repeats itself, the
name index, and the hand-back when nothing passes."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from route.cli.main import app
from route.repair.handback import MAX_CHARACTERS
from route.run.pipeline import prepare, run_generation
from route.run.report import result_to_dict
from route.safety.fix_step import FixSettings
from tests.fakes import FakeBackend
from tests.helpers import project_options, skill_project
from tests.servers import FakeModelServer

SKILL = """---
name: scaffold
---
# Scaffold

## 1. Models

Models live in `app/models/<resource>.py`.

## 2. Service Layer

Services live in `app/services/<resource>_service.py`.
"""

SERVICE = "app/services/project_service.py"
# verify: the service must define STATE = "GOOD", must not hold "BAD" or "import os", and
# prints a ruff-like location for each problem it finds. "BAD" is an undefined `Project` until
# the file imports it (then it is only "BAD").
CHECK = """
import pathlib, sys
path = "app/services/project_service.py"
lines = pathlib.Path(path).read_text().splitlines()
imported = any("import Project" in line for line in lines)
problems = []
for number, line in enumerate(lines, 1):
    if "import os" in line:
        problems.append(f"{path}:{number}:1: F401 `os` imported but unused")
    if "BAD" in line:
        problems.append(f"{path}:{number}:9: " + (
            "E000 BAD is not allowed" if imported else "F821 Undefined name `Project`"))
    if "[Project]" in line and not imported:
        problems.append(f"{path}:{number}:13: F821 Undefined name `Project`")
if not any('STATE = "GOOD"' in line for line in lines):
    problems.append(f"{path}:1:1: E999 STATE is not GOOD")
print("\\n".join(problems) or "all good")
sys.exit(1 if problems else 0)
"""


def answer(body: str) -> str:
    return f"{SERVICE}\n```python\n{body}```\n"


GOOD = answer('"""Projects."""\nSTATE = "GOOD"\n')
UNUSED_IMPORT = answer('"""Projects."""\nimport os\n\nSTATE = "GOOD"\n')
BAD = answer('"""Projects."""\nSTATE = "GOOD"\nITEMS = BAD\n')
EDIT = (
    f"{SERVICE}\n```python\n<<<<<<< SEARCH\nITEMS = BAD\n=======\nITEMS = []\n"
    ">>>>>>> REPLACE\n```\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = skill_project(tmp_path, SKILL, CHECK)
    (root / "app" / "models").mkdir()
    (root / "app" / "services").mkdir()
    (root / "app" / "models" / "project.py").write_text(
        '"""Projects."""\n\n\nclass Project:\n    name: str\n'
    )
    # A second `Project`: which one an undefined `Project` means is the model's call, so the
    # import step leaves it alone (``single_project`` removes it).
    (root / "app" / "models" / "project_v2.py").write_text('"""V2."""\n\n\nclass Project: ...\n')
    (root / "README.md").write_text("readme\n")
    return root


@pytest.fixture
def single_project(project: Path) -> Path:
    (project / "app" / "models" / "project_v2.py").unlink()
    return project


def drop_imports_fix() -> FixSettings:
    """A fix command that removes `import os` lines from the files it is given."""
    script = (
        "import pathlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    p = pathlib.Path(name)\n"
        "    p.write_text(''.join(l for l in p.read_text().splitlines(True) "
        "if l.strip() != 'import os'))\n"
    )
    return FixSettings(f"{shlex.quote(sys.executable)} -c {shlex.quote(script)} {{files}}")


# --------------------------------------------------------------------------- the fix step


def test_the_fix_step_mends_the_first_answer_without_a_repair_round(project: Path) -> None:
    backend = FakeBackend(UNUSED_IMPORT)
    result = run_generation(project_options(project, fix=drop_imports_fix()), lambda: backend)
    assert result.status == "success", result.message
    assert len(backend.history) == 1
    (attempt,) = result.attempts
    assert attempt.strategy == "first"
    assert attempt.fix is not None
    assert [change.path for change in attempt.fix.changes] == [SERVICE]
    assert "import os" not in (project / SERVICE).read_text()
    assert result.created == (SERVICE,)
    assert result_to_dict(result)["attempts"][0]["fix"]["changed"] == [SERVICE]


def test_without_the_fix_step_the_same_answer_fails(project: Path) -> None:
    backend = FakeBackend(UNUSED_IMPORT, GOOD)
    result = run_generation(project_options(project), lambda: backend)
    assert result.status == "success"
    assert [a.strategy for a in result.attempts] == ["first", "repair"]
    assert result.attempts[0].fix is None


def test_rollback_undoes_the_fix_steps_changes_too(project: Path) -> None:
    (project / SERVICE).write_text('"""Old."""\nSTATE = "OLD"\n')
    bad = answer('"""Projects."""\nimport os\n\nSTATE = "WRONG"\n')
    backend = FakeBackend(bad, bad)
    options = project_options(project, fix=drop_imports_fix(), rollback=True, force=True,
                              max_attempts=2)  # fmt: skip
    result = run_generation(options, lambda: backend)
    assert result.status == "verify_failed"
    assert result.attempts[0].fix is not None and result.attempts[0].fix.changes
    assert (project / SERVICE).read_text() == '"""Old."""\nSTATE = "OLD"\n'
    assert "rolled back with --rollback" in result.handback


def test_a_fix_step_that_touches_other_files_is_undone_and_reported(project: Path) -> None:
    script = "import pathlib\npathlib.Path('README.md').write_text('changed')\n"
    fix = FixSettings(f"{shlex.quote(sys.executable)} -c {shlex.quote(script)} {{files}}")
    backend = FakeBackend(GOOD)
    result = run_generation(project_options(project, fix=fix), lambda: backend)
    assert result.status == "success"
    assert (project / "README.md").read_text() == "readme\n"
    assert any("changed files route did not write (README.md)" in w for w in result.warnings)
    assert result.attempts[0].fix is not None
    assert result.attempts[0].fix.changes == ()


# --------------------------------------------------------------------------- the import step


def test_a_name_one_project_module_defines_is_imported_without_a_model(
    single_project: Path,
) -> None:
    missing = answer('"""Projects."""\nimport json\n\nSTATE = "GOOD"\nITEMS: list[Project] = []\n')
    backend = FakeBackend(missing)
    result = run_generation(project_options(single_project), lambda: backend)
    assert result.status == "success", result.message
    assert len(backend.history) == 1  # no repair round was needed
    (attempt,) = result.attempts
    assert attempt.imports == (f"{SERVICE}: from app.models.project import Project",)
    assert attempt.verify is not None and attempt.verify.passed
    assert (single_project / SERVICE).read_text() == (
        '"""Projects."""\nimport json\nfrom app.models.project import Project\n\n'
        'STATE = "GOOD"\nITEMS: list[Project] = []\n'
    )
    report = result_to_dict(result)
    assert report["attempts"][0]["imports_added"] == list(attempt.imports)
    assert report["files"]["created"] == [SERVICE]


def test_the_import_step_is_undone_by_rollback_with_the_rest(single_project: Path) -> None:
    backend = FakeBackend(BAD)
    options = project_options(single_project, max_attempts=1, rollback=True)
    result = run_generation(options, lambda: backend)
    assert result.status == "verify_failed"
    assert result.attempts[0].imports == (f"{SERVICE}: from app.models.project import Project",)
    assert "E000 BAD is not allowed" in (result.attempts[0].verify.output_tail or "")
    assert not (single_project / SERVICE).exists()
    assert "route added `from app.models.project import Project`" in result.handback


def test_an_ambiguous_name_is_left_to_the_model(project: Path) -> None:
    backend = FakeBackend(BAD, GOOD)
    result = run_generation(project_options(project), lambda: backend)
    assert result.status == "success"
    assert result.attempts[0].imports == ()
    assert len(backend.history) == 2


# --------------------------------------------------------------------------- repair messages


def test_the_repair_points_at_the_line_and_says_where_the_name_is(project: Path) -> None:
    backend = FakeBackend(BAD, GOOD)
    result = run_generation(project_options(project, targets=(SERVICE,)), lambda: backend)
    assert result.status == "success"
    assert [a.strategy for a in result.attempts] == ["first", "repair"]
    first, second = backend.history[0].messages, backend.history[1].messages
    # The conversation so far is sent again byte for byte (prefill aside): the cache holds.
    assert second[: len(first) - 1] == first[:-1]
    repair = second[-2].content
    assert f"{SERVICE}:3:9: F821 Undefined name `Project`" in repair
    assert ">> 3 | ITEMS = BAD" in repair
    assert "`Project` is defined in `app/models/project.py` " in repair
    assert "(`from app.models.project import Project`)" in repair
    assert result_to_dict(result)["strategy"] == "repair"


def test_the_first_prompt_lists_the_names_beside_the_task(project: Path) -> None:
    prepared = prepare(project_options(project, targets=(SERVICE,), skill_refs=("scaffold#1,2",)))
    user = prepared.prompt.messages[1].content
    assert "# Names the project defines" in user
    assert "- app.models.project (app/models/project.py): class Project" in user
    off = prepare(project_options(project, targets=(SERVICE,), name_index_tokens=0))
    assert "Names the project defines" not in off.prompt.messages[1].content


# --------------------------------------------------------------------------- the focused round


def test_a_repeated_answer_gets_a_focused_round_in_a_fresh_conversation(project: Path) -> None:
    backend = FakeBackend(BAD, BAD, EDIT)
    result = run_generation(project_options(project, max_attempts=3), lambda: backend)
    assert result.status == "success", result.message
    assert [a.strategy for a in result.attempts] == ["first", "repair", "focused"]
    assert result_to_dict(result)["strategy"] == "focused"
    focused = backend.history[2].messages
    assert [m.role for m in focused] == ["system", "user", "assistant"]
    assert '```python\n1 | """Projects."""\n2 | STATE = "GOOD"\n3 | ITEMS = BAD' in (
        focused[1].content
    )
    assert f"{SERVICE}:3:9: F821 Undefined name `Project`" in focused[1].content
    assert focused[1].content.startswith("# The task the file is for\n\nservice for Projects")
    # The answer is prefilled up to the replacement of the line the error points at.
    assert focused[2].content == f"{SERVICE}\n```python\n<<<<<<< SEARCH\nITEMS = BAD\n=======\n"
    assert (project / SERVICE).read_text().endswith("ITEMS = []\n")


def test_for_an_undefined_name_the_prefilled_span_reaches_back_to_the_imports(
    project: Path,
) -> None:
    bad = answer('"""Projects."""\nimport json\n\nSTATE = "GOOD"\nITEMS = BAD\n')
    edit = (
        'import json\n\nfrom app.models.project import Project\n\nSTATE = "GOOD"\n'
        "ITEMS: list[Project] = []\n>>>>>>> REPLACE\n```\n"
    )
    backend = FakeBackend(bad, bad, edit)
    result = run_generation(project_options(project, max_attempts=3), lambda: backend)
    assert result.status == "success", result.message
    prefill = backend.history[2].messages[-1].content
    assert prefill.endswith('<<<<<<< SEARCH\nimport json\n\nSTATE = "GOOD"\nITEMS = BAD\n=======\n')
    assert "`Project` is defined in `app/models/project.py`" in (
        backend.history[2].messages[1].content
    )
    assert (project / SERVICE).read_text() == (
        '"""Projects."""\nimport json\n\nfrom app.models.project import Project\n\n'
        'STATE = "GOOD"\nITEMS: list[Project] = []\n'
    )


def test_a_name_the_project_does_not_define_keeps_the_span_to_its_line(project: Path) -> None:
    (project / "app" / "models" / "project.py").write_text('"""Nothing here."""\n')
    bad = answer('"""Projects."""\nimport json\n\nSTATE = "GOOD"\nITEMS = BAD\n')
    backend = FakeBackend(bad, bad, "ITEMS = []\n>>>>>>> REPLACE\n```\n")
    result = run_generation(project_options(project, max_attempts=3), lambda: backend)
    assert result.status == "success", result.message
    assert (
        backend.history[2].messages[-1].content.endswith("<<<<<<< SEARCH\nITEMS = BAD\n=======\n")
    )


@pytest.mark.parametrize(
    "continuation",
    ["ITEMS = []\n>>>>>>> REPLACE\n```\n", "ITEMS = []\n```\n"],
    ids=["with the marker", "marker dropped"],
)
def test_a_focused_answer_that_only_continues_the_prefill_is_applied(
    project: Path, continuation: str
) -> None:
    backend = FakeBackend(BAD, BAD, continuation)  # as Ollama answers: the continuation only
    result = run_generation(project_options(project, max_attempts=3), lambda: backend)
    assert result.status == "success", result.message
    assert result.attempts[-1].strategy == "focused"
    assert (project / SERVICE).read_text() == '"""Projects."""\nSTATE = "GOOD"\nITEMS = []\n'


def test_a_focused_answer_that_only_closes_the_fence_deletes_nothing(project: Path) -> None:
    backend = FakeBackend(BAD, BAD, "```\n")
    result = run_generation(project_options(project, max_attempts=3), lambda: backend)
    assert result.status == "verify_failed"
    assert not result.attempts[-1].written
    assert "unterminated" in (result.attempts[-1].failure or "")
    assert (project / SERVICE).read_text() == '"""Projects."""\nSTATE = "GOOD"\nITEMS = BAD\n'


def test_the_focused_round_changes_only_the_failing_file(project: Path) -> None:
    other = "app/other.py\n```python\nX = 1\n```\n"
    backend = FakeBackend(BAD, BAD, EDIT + "\n" + other)
    result = run_generation(project_options(project, max_attempts=3), lambda: backend)
    assert result.status == "success"
    assert not (project / "app" / "other.py").exists()


def test_when_the_focused_round_fails_too_the_run_stops_with_a_hand_back(project: Path) -> None:
    backend = FakeBackend(BAD, BAD, BAD, GOOD)
    result = run_generation(project_options(project, max_attempts=5), lambda: backend)
    assert result.status == "verify_failed"
    assert len(backend.history) == 3  # the fourth answer was never asked for
    assert "a focused round on app/services/project_service.py did not pass" in result.message
    handback = result.handback
    assert len(handback) <= MAX_CHARACTERS
    assert handback.startswith("route could not finish the task (verify_failed): service for")
    assert f"Files kept on disk: created {SERVICE}." in handback
    assert f"- {SERVICE}:3:9: F821 Undefined name `Project`" in handback
    assert "a focused SEARCH/REPLACE round on one file" in handback
    assert result_to_dict(result)["handback"] == handback


# --------------------------------------------------------------------------- the CLI


def test_route_gen_json_over_a_loopback_server_reports_the_focused_round(
    project: Path, route_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    (project / "route.yaml").write_text(
        json.dumps({"verify_command": f"{sys.executable} check.py"})
    )
    with FakeModelServer(mode="openai") as server:
        for text in (BAD, BAD, EDIT):
            server.enqueue(text)
        result = CliRunner().invoke(
            app,
            ["gen", "service for Projects", "-s", "scaffold#2", "--json", "--model", "coder",
             "--backend", "openai", "--base-url", server.openai_url, "--max-attempts", "3"],
        )  # fmt: skip
        requests = list(server.requests)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "success"
    assert report["strategy"] == "focused"
    assert [a["strategy"] for a in report["attempts"]] == ["first", "repair", "focused"]
    assert "handback" not in report
    assert len(requests[2]["messages"]) == 3  # fresh: system, user, prefilled answer


def test_route_gen_without_a_pass_prints_the_hand_back(
    project: Path, route_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    (project / "route.yaml").write_text(
        json.dumps({"verify_command": f"{sys.executable} check.py"})
    )
    with FakeModelServer(mode="ollama") as server:
        for _ in range(3):
            server.enqueue(BAD)
        result = CliRunner().invoke(
            app,
            ["gen", "service for Projects", "-s", "scaffold#2", "--model", "coder",
             "--max-attempts", "3"],
            env={"OLLAMA_HOST": server.url},
        )  # fmt: skip
    assert result.exit_code == 1
    assert "hand-back:" in result.stderr
    assert f"- {SERVICE}:3:9: F821 Undefined name `Project`" in result.stderr


def test_route_gen_fix_flag_runs_the_given_command(
    project: Path, route_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    (project / "route.yaml").write_text(
        json.dumps({"verify_command": f"{sys.executable} check.py", "fix_command": "false"})
    )
    with FakeModelServer(mode="ollama") as server:
        server.enqueue(UNUSED_IMPORT)
        result = CliRunner().invoke(
            app,
            ["gen", "service for Projects", "-s", "scaffold#2", "--json", "--model", "coder",
             "--fix", drop_imports_fix().command],
            env={"OLLAMA_HOST": server.url},
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["attempts"][0]["fix"]["changed"] == [SERVICE]
    assert report["attempts"][0]["fix"]["command"].endswith(f" {SERVICE}")
