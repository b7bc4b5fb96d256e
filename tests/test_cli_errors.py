"""Errors through the whole ``route`` app: one line on stderr, the right exit code, and with
``--json`` one JSON object on stdout (issue 19)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from route.cli.main import app, wants_json

runner = CliRunner()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(autouse=True)
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "Makefile").write_text("verify:\n\ttrue\n")
    skill = tmp_path / ".skills" / "scaffold"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text("# Scaffold\n\n## 1. Model\n\nWrite a model.\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def route(*arguments: str) -> Any:
    return runner.invoke(app, list(arguments))


def one_json_error(result: Any, exit_code: int) -> dict[str, Any]:
    """The result is exit ``exit_code`` with exactly one JSON error object on stdout."""
    assert result.exit_code == exit_code, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    document: dict[str, Any] = json.loads(lines[0])
    assert document["status"] == "error"
    assert document["exit_code"] == exit_code
    assert document["message"]
    return document


# --------------------------------------------------------------------------- item 12


@pytest.mark.parametrize(
    "arguments",
    [
        ("gen", "x", "-s", "nosuch#1", "--json"),
        ("gen", "x", "-s", "scaffold#9", "--json"),
        ("cost", "--since", "bogus", "--json"),
        ("cost", "runs", "-n", "abc", "--json"),  # a click usage error
        ("skills", "show", "nosuch", "--json"),
    ],
)
def test_usage_errors_with_json_print_one_json_object(arguments: tuple[str, ...]) -> None:
    result = route(*arguments)
    document = one_json_error(result, 2)
    assert document["message"] in result.stderr  # and the one line for a human


def test_a_batch_cycle_with_json_prints_one_json_object(project: Path) -> None:
    (project / "plan.yaml").write_text(
        "tasks:\n"
        "  - {id: a, task: x, skill: scaffold#1, depends_on: [b]}\n"
        "  - {id: b, task: y, skill: scaffold#1, depends_on: [a]}\n"
    )
    document = one_json_error(route("batch", "plan.yaml", "--json"), 2)
    assert "cycle" in document["message"]


def test_an_unreachable_server_with_json_prints_one_json_object() -> None:
    result = route("models", "list", "--host", f"http://127.0.0.1:{free_port()}", "--json")
    document = one_json_error(result, 3)
    assert "not reachable" in document["message"]


def test_without_json_errors_stay_off_stdout() -> None:
    result = route("cost", "--since", "bogus")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("route: error: cannot read --since")


# --------------------------------------------------------------------------- item 5


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (("gen", "x", "-s", "scaffold#③", "--model", "m"), "has no section '③'"),
        (("gen", "x", "-s", "scaffold#²", "--model", "m"), "has no section '²'"),
        (("skills", "show", "scaffold#③"), "has no section '③'"),
        (("gen", "x", "-s", "scaffold#1", "--temperature", "nan"), "finite number"),
        (("cost", "--since", "999999999d"), "lies outside 1970-9999"),
        (("cost", "runs", "-n", "99999999999999999999"), "not in the range"),
    ],
)
def test_bad_numbers_are_one_line_and_exit_2(arguments: tuple[str, ...], words: str) -> None:
    result = route(*arguments, "--json")
    document = one_json_error(result, 2)
    assert words in document["message"]
    assert "Traceback" not in result.output


def test_temperature_nan_in_route_yaml_is_one_line_and_exit_2(project: Path) -> None:
    (project / "route.yaml").write_text("temperature: .nan\n")
    result = route("gen", "x", "-s", "scaffold#1", "--host", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"route: error: invalid setting 'temperature' (from {project / 'route.yaml'}): "
        "must be a finite number, not nan"
    ]


def test_json_after_a_double_dash_is_not_an_option() -> None:
    assert wants_json(["gen", "--json"])
    assert not wants_json(["gen", "--", "--json"])
    assert not wants_json(["gen", "x"])
