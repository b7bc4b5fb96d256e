"""Reasoning models through a whole run: the files written are exactly the final answer's, the
reasoning reaches no file, live view or JSON, the budget failure ends the run, and reasoning
tokens are recorded apart."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from route.accounting.ledger import Ledger
from route.cli.main import app
from route.run.finish import to_run_record
from route.run.options import RunChoices, gen_options
from route.run.pipeline import run_generation
from route.run.report import result_to_dict
from route.settings.resolve import resolve_context
from tests.fakes import FakeBackend, Reasoned
from tests.helpers import project_options, skill_project
from tests.servers import FakeModelServer

SKILL = """# Scaffold

## 1. Service

Services live in `app/<name>.py`.
"""
CHECK = "import pathlib, sys\nsys.exit(0 if pathlib.Path('app/right.py').exists() else 1)\n"
DRAFT = "A draft first:\n\napp/wrong.py\n```python\nDRAFT = 'thought'\n```\n\nNo, better:\n"
ANSWER = "app/right.py\n```python\nRIGHT = 1\n```\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = skill_project(tmp_path, SKILL, CHECK)
    (root / "Makefile").write_text(f"verify:\n\t{sys.executable} check.py\n")
    return root


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in (root / "app").rglob("*") if p.is_file()}


# ---------------------------------------------------------------------- the pipeline


def test_a_reasoned_answer_writes_only_the_final_answers_files(project: Path) -> None:
    backend = FakeBackend(Reasoned(ANSWER, DRAFT))
    thoughts: list[str] = []
    shown: list[str] = []

    class Events:
        def attempt_started(self, number: int, total: int) -> None: ...
        def text(self, chunk: str) -> None:
            shown.append(chunk)

        def thinking(self, chunk: str) -> None:
            thoughts.append(chunk)

        def generation_finished(self, completion: object) -> None: ...
        def verify_started(self, command: str) -> None: ...
        def attempt_finished(self, attempt: object) -> None: ...
        def notice(self, message: str) -> None: ...

    result = run_generation(
        project_options(project, skill_refs=("scaffold#1",)), lambda: backend, events=Events()
    )
    assert result.status == "success", result.message
    assert files_under(project) == {"app/right.py"}
    assert "".join(thoughts) == DRAFT and "wrong" not in "".join(shown)
    report = json.dumps(result_to_dict(result, include_code=True))
    assert "wrong" not in report and "thought" not in report
    tokens = result_to_dict(result)["tokens"]
    assert tokens["reasoning"] > 0 and tokens["reasoning_seconds"] == 1.5
    assert tokens["reasoning_share"] == pytest.approx(1.5 / 2.5, abs=0.01)
    record = to_run_record(result, cloud_model="claude-sonnet-4-5", command_text="x",
                           summary_characters=10)  # fmt: skip
    assert record.reasoning_tokens == tokens["reasoning"]
    # The cloud model would have written the answer, not the reasoning.
    assert result.output_characters == len(ANSWER)


def test_a_budget_spent_reasoning_ends_the_run_as_no_files(project: Path) -> None:
    backend = FakeBackend(Reasoned(ANSWER, DRAFT * 10, cut=True), ANSWER)
    result = run_generation(
        project_options(project, skill_refs=("scaffold#1",), max_attempts=3), lambda: backend
    )
    assert result.status == "no_files"
    assert result.exit_code == 1
    tokens = result.attempts[0].completion.usage.reasoning_tokens
    assert result.message == (
        f"the model spent its whole output budget reasoning ({tokens} tokens) — raise "
        "--max-output-tokens or use --think low/off"
    )
    assert len(backend.history) == 1  # no repair round: it would spend the budget the same way
    assert files_under(project) == set()


def test_the_repair_round_keeps_the_same_budget_and_think(project: Path) -> None:
    backend = FakeBackend(Reasoned("no files here", DRAFT), Reasoned(ANSWER, DRAFT))
    options = project_options(
        project,
        skill_refs=("scaffold#1",),
        max_output_tokens=4096,
        thinking_output_tokens=16384,
        think="high",
    )
    result = run_generation(options, lambda: backend)
    assert result.status == "success"
    first, second = backend.history
    assert (
        (first.max_output_tokens, first.thinking_output_tokens, first.think)
        == (
            second.max_output_tokens,
            second.thinking_output_tokens,
            second.think,
        )
        == (4096, 16384, "high")
    )
    # The repair conversation carries the answer, never the reasoning.
    assert all("wrong" not in message.content for message in second.messages)


def test_options_raise_the_budget_unless_it_is_explicit_or_thinking_is_off(
    project: Path,
) -> None:
    def built(overrides: dict[str, object]) -> tuple[object, ...]:
        context = resolve_context(
            project, flags=overrides, env={}, user_file=project / "none.yaml", root=project
        )
        options = gen_options(
            context, RunChoices(), task="t", skill_refs=(), lock_home=None, model="gpt-oss:20b"
        )
        return options.think, options.thinking_output_tokens, options.model_thinks

    assert built({}) == ("auto", 16384, True)
    # The catalog is only asked when its answer can raise the budget (think auto, no explicit
    # budget): otherwise the run does not read it.
    assert built({"max_output_tokens": 2048}) == ("auto", None, None)
    assert built({"think": "off"}) == ("off", None, None)
    assert built({"think": "low", "thinking_output_tokens": 9000}) == ("low", 9000, None)


# ---------------------------------------------------------------------- route gen on the wire


@pytest.mark.parametrize(
    ("mode", "shape"),
    [("ollama", "field"), ("ollama", "inline"), ("openai", "field"), ("openai", "reasoning"),
     ("openai", "inline_thinking")],
)  # fmt: skip
def test_route_gen_writes_the_answer_and_reports_reasoning_apart(
    project: Path, route_home: Path, monkeypatch: pytest.MonkeyPatch, mode: str, shape: str
) -> None:
    monkeypatch.chdir(project)
    with FakeModelServer(mode, chunk_size=5) as server:  # type: ignore[arg-type]
        server.enqueue(ANSWER, reasoning=DRAFT, reasoning_as=shape)
        url = ["--host", server.url] if mode == "ollama" else ["--base-url", server.openai_url]
        result = CliRunner().invoke(
            app,
            ["gen", "write right.py", "-s", "scaffold#1", "--json", "--model", "qwen3:8b",
             "--backend", mode, *url],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert files_under(project) == {"app/right.py"}
    assert "wrong" not in result.stdout and "thought" not in result.stdout
    report = json.loads(result.stdout)
    assert report["tokens"]["reasoning"] > 0
    with Ledger.open(Path(report["ledger"]["path"])) as ledger:
        (row,) = ledger.runs()
    assert row.reasoning_tokens == report["tokens"]["reasoning"]


@pytest.mark.parametrize(
    ("mode", "field"), [("ollama", "think"), ("openai", "chat_template_kwargs")]
)
def test_think_off_reaches_the_wire_from_the_command_line(
    project: Path, route_home: Path, monkeypatch: pytest.MonkeyPatch, mode: str, field: str
) -> None:
    monkeypatch.chdir(project)
    with FakeModelServer(mode, default_answer=ANSWER) as server:  # type: ignore[arg-type]
        url = ["--host", server.url] if mode == "ollama" else ["--base-url", server.openai_url]
        result = CliRunner().invoke(
            app,
            ["gen", "write right.py", "-s", "scaffold#1", "--json", "--think", "off",
             "--backend", mode, *url],
        )  # fmt: skip
        body = server.requests[0]
    assert result.exit_code == 0, result.output
    sent = body[field]
    assert sent is False if mode == "ollama" else sent == {"enable_thinking": False}


def test_a_think_level_the_model_does_not_take_is_a_usage_error(
    project: Path, route_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    with FakeModelServer("ollama", capabilities=["completion", "thinking"]) as server:
        result = CliRunner().invoke(
            app,
            ["gen", "write right.py", "-s", "scaffold#1", "--think", "high", "--host",
             server.url, "--backend", "ollama", "--model", "qwen3:8b"],
        )  # fmt: skip
        assert server.requests == []
    assert result.exit_code == 2
    assert "--think high is not accepted" in result.output
    assert "use --think auto|on|off" in result.output


def test_a_bad_think_value_is_a_usage_error_before_any_request(
    project: Path, route_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["gen", "x", "-s", "scaffold#1", "--think", "maximal"])
    assert result.exit_code == 2
    assert "think" in result.output and "auto, off, on, low, medium, high" in result.output


def test_route_gen_budget_failure_over_the_wire(
    project: Path, route_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    with FakeModelServer("ollama", chunk_size=4, capabilities=["completion", "thinking"]) as server:
        server.enqueue(ANSWER, reasoning=DRAFT * 50)
        result = CliRunner().invoke(
            app,
            ["gen", "write right.py", "-s", "scaffold#1", "--json", "--max-output-tokens", "64",
             "--host", server.url, "--backend", "ollama", "--model", "qwen3:8b"],
        )  # fmt: skip
        assert len(server.requests) == 1
        assert server.requests[0]["options"]["num_predict"] == 64  # explicit: not raised
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    assert report["status"] == "no_files"
    assert "spent its whole output budget reasoning" in report["message"]
    assert files_under(project) == set()


def test_the_report_says_how_much_of_the_models_time_went_to_reasoning(
    project: Path, route_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    with FakeModelServer("ollama", chunk_size=5) as server:
        server.enqueue(ANSWER, reasoning=DRAFT)
        result = CliRunner().invoke(
            app,
            ["gen", "write right.py", "-s", "scaffold#1", "--host", server.url, "--backend",
             "ollama", "--model", "qwen3:8b"],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "reasoning:" in line)
    assert " output tokens, " in line and "of the model's time)" in line
    assert "wrong" not in result.output and "thought" not in result.output
