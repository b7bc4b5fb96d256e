from __future__ import annotations

from pathlib import Path

import pytest

from route.errors import BackendUnreachable
from route.run.pipeline import GenOptions, prepare, run_generation
from tests.fakes import FakeBackend
from tests.helpers import project_options, skill_project

SKILL = """---
name: scaffold
description: Layers of a resource
---
# Scaffold

Conventions: every module starts with a docstring.

## 1. Model

Models live in `app/models/<resource>.py`.

## 2. Service Layer

Services live in `app/services/<resource>_service.py`.
"""

CHECK = """
import pathlib, sys
text = pathlib.Path("app/services/project_service.py").read_text()
if "GOOD" not in text:
    print("AssertionError: project_service is missing GOOD")
    sys.exit(1)
print("all good")
"""


def good_answer(marker: str = "GOOD") -> str:
    return (
        "Here is the service.\n\napp/services/project_service.py\n```python\n"
        f'"""Projects."""\nSTATE = "{marker}"\n```\n'
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = skill_project(tmp_path, SKILL, CHECK)
    (root / "app" / "existing.py").write_text("OLD = 1\n")
    (root / "Makefile").write_text("verify:\n\ttrue\n")
    return root


def options(project: Path, **changes: object) -> GenOptions:
    return project_options(project, **changes)


def test_success_on_the_first_attempt(project: Path) -> None:
    backend = FakeBackend(good_answer())
    result = run_generation(options(project), lambda: backend)
    assert result.status == "success"
    assert result.exit_code == 0
    assert result.created == ("app/services/project_service.py",)
    assert "GOOD" in (project / "app/services/project_service.py").read_text()
    assert len(result.attempts) == 1
    assert result.attempts[0].verify is not None
    assert result.attempts[0].verify.passed
    sent = backend.history[0].messages
    assert sent[0].role == "system"
    assert "service for Projects" in sent[1].content
    assert "Services live in" in sent[1].content
    assert "Models live in" not in sent[1].content  # only the cited section
    assert "every module starts with a docstring" in sent[1].content  # the preamble goes along


def test_repair_round_keeps_earlier_messages_byte_identical(project: Path) -> None:
    backend = FakeBackend(good_answer("BAD"), good_answer("GOOD"))
    result = run_generation(options(project), lambda: backend)
    assert result.status == "success"
    assert [a.verify.passed for a in result.attempts if a.verify] == [False, True]
    first, second = backend.history
    assert second.messages[: len(first.messages)] == first.messages
    assistant, repair = second.messages[len(first.messages) :]
    assert assistant.role == "assistant"
    assert assistant.content == good_answer("BAD")
    assert repair.role == "user"
    assert "project_service is missing GOOD" in repair.content
    assert "app/services/project_service.py" in repair.content
    # The second attempt may replace the file route wrote in the first one.
    assert "GOOD" in (project / "app/services/project_service.py").read_text()


def test_verify_still_failing_after_all_attempts(project: Path) -> None:
    backend = FakeBackend(good_answer("BAD"), good_answer("WORSE"))
    result = run_generation(options(project, max_attempts=2), lambda: backend)
    assert result.status == "verify_failed"
    assert result.exit_code == 1
    assert "after 2 attempt" in result.message
    assert (project / "app/services/project_service.py").exists()


def test_rollback_restores_the_previous_state(project: Path) -> None:
    answer = (
        "app/existing.py\n```python\nNEW = 2\n```\n\n"
        "app/services/project_service.py\n```python\nBAD = 1\n```\n"
    )
    backend = FakeBackend(answer)
    result = run_generation(
        options(project, max_attempts=1, rollback=True, context_patterns=("app/existing.py",)),
        lambda: backend,
    )
    assert result.status == "verify_failed"
    assert "--rollback restored" in result.message
    assert (project / "app/existing.py").read_text() == "OLD = 1\n"
    assert not (project / "app/services/project_service.py").exists()
    assert not (project / "app/services").exists()


def test_prose_only_answers_are_a_failed_attempt_not_a_crash(project: Path) -> None:
    backend = FakeBackend("I think you should write a service.", "Sorry, here it is: no code.")
    result = run_generation(options(project, max_attempts=2), lambda: backend)
    assert result.status == "no_files"
    assert result.exit_code == 1
    assert all(attempt.failure and "no usable" in attempt.failure for attempt in result.attempts)
    assert "no usable" in backend.history[1].messages[-1].content


def test_unsafe_output_is_refused_and_nothing_escapes(project: Path) -> None:
    outside = project.parent / "evil.py"
    answer = (
        "../evil.py\n```python\nprint('pwned')\n```\n\n"
        "Makefile\n```make\nverify:\n\ttrue\n```\n\n"
        "/etc/cron.d/job\n```\n* * * * * root rm -rf /\n```\n"
    )
    backend = FakeBackend(answer, answer)
    result = run_generation(options(project, max_attempts=2), lambda: backend)
    assert result.status == "refused"
    assert result.exit_code == 4
    assert not outside.exists()
    assert (project / "Makefile").read_text() == "verify:\n\ttrue\n"
    assert {refusal.path for refusal in result.refused} >= {"../evil.py", "Makefile"}
    # Refused in both attempts, listed once.
    assert len(result.refused) == len(set(result.refused)) == 3


def test_existing_files_need_context_or_force(project: Path) -> None:
    answer = "app/existing.py\n```python\nOLD = 2\n```\n"
    refused = run_generation(options(project, max_attempts=1), lambda: FakeBackend(answer))
    assert refused.status == "refused"
    assert (project / "app/existing.py").read_text() == "OLD = 1\n"
    allowed = run_generation(
        options(project, max_attempts=1, verify=None, context_patterns=("app/existing.py",)),
        lambda: FakeBackend(answer),
    )
    assert allowed.status == "success"
    assert allowed.changed == ("app/existing.py",)
    assert (project / "app/existing.py").read_text() == "OLD = 2\n"


def test_dry_run_writes_nothing(project: Path) -> None:
    result = run_generation(options(project, dry_run=True), lambda: FakeBackend(good_answer()))
    assert result.status == "dry_run"
    assert result.exit_code == 0
    assert not (project / "app/services").exists()
    assert result.attempts[0].plan.changes[0].path == "app/services/project_service.py"


def test_backend_errors_become_a_result(project: Path) -> None:
    error = BackendUnreachable("Ollama is not reachable at http://127.0.0.1:1")
    result = run_generation(options(project), lambda: FakeBackend(error))
    assert result.status == "backend_error"
    assert result.exit_code == 3
    assert "not reachable" in result.message


def test_backend_factory_failure_is_recorded_too(project: Path) -> None:
    def factory() -> FakeBackend:
        raise BackendUnreachable("no server")

    result = run_generation(options(project), factory)
    assert result.status == "backend_error"
    assert result.attempts == ()


def test_interrupt_during_generation(project: Path) -> None:
    result = run_generation(options(project), lambda: FakeBackend(KeyboardInterrupt()))
    assert result.status == "interrupted"
    assert result.exit_code == 130
    assert not (project / "app/services").exists()


def test_unknown_section_is_a_usage_error_result(project: Path) -> None:
    result = run_generation(
        options(project, skill_refs=("scaffold#9",)), lambda: FakeBackend(good_answer())
    )
    assert result.status == "error"
    assert result.exit_code == 2
    assert "service-layer" in result.message  # lists the sections that exist


def test_prompt_is_deterministic(project: Path) -> None:
    first = prepare(options(project)).prompt
    second = prepare(options(project)).prompt
    assert first == second
    assert first.estimated_tokens > 0


def test_repair_round_that_outgrows_the_context_ends_as_a_verify_failure(project: Path) -> None:
    from route.errors import PromptTooLong

    backend = FakeBackend(good_answer("BAD"), PromptTooLong("prompt of 9000 tokens > 8192"))
    result = run_generation(options(project), lambda: backend)
    assert result.status == "verify_failed"
    assert result.exit_code == 1
    assert "no room for another repair round" in result.message
    assert len(result.attempts) == 1


def test_an_answer_that_changes_nothing_is_not_a_success(project: Path) -> None:
    unchanged = "app/existing.py\n```python\nOLD = 1\n```\n"
    backend = FakeBackend(unchanged, unchanged)
    result = run_generation(
        options(project, max_attempts=2, context_patterns=("app/existing.py",)), lambda: backend
    )
    assert result.status != "success"
    assert result.exit_code == 1
    assert "changes nothing" in result.message
    assert "changes nothing" in backend.history[1].messages[-1].content
    # The repair names what was repeated and asks for the task's new files instead.
    assert "repeats `app/existing.py` exactly as on disk" in backend.history[1].messages[-1].content
    assert "write the new files the task asks for" in result.message


def test_a_repair_answered_with_the_same_files_stops_the_run(project: Path) -> None:
    """A stuck model repeats itself every round; with no attempt left for a focused round
    (issue 20) route stops instead of spending more. Prose around the file blocks does not
    matter: the blocks are compared."""
    repeated = "Sure, fixed:\n\n" + good_answer("BAD")
    backend = FakeBackend(good_answer("BAD"), repeated, good_answer("GOOD"))
    result = run_generation(options(project, max_attempts=2), lambda: backend)
    assert result.status == "verify_failed"
    assert len(result.attempts) == 2
    assert len(backend.history) == 2  # the third answer was never asked for
    assert "repeated its previous answer word for word" in result.message
    # Said once: "... after 2 attempt(s); stopped there: ...", not "stopped after attempt 2 ...
    # after 2 attempt(s)".
    assert result.message.count("attempt") == 1
    assert "after 2 attempt(s); stopped there: the model repeated" in result.message


def test_a_different_answer_gets_its_next_round(project: Path) -> None:
    backend = FakeBackend(good_answer("BAD"), good_answer("WORSE"), good_answer("GOOD"))
    result = run_generation(options(project, max_attempts=3), lambda: backend)
    assert result.status == "success"
    assert len(result.attempts) == 3


# --------------------------------------------------------------------------- --target

TARGET = "app/services/project_service.py"
PREFILL = f"{TARGET}\n```python\n"
CONTINUATION = '"""Projects."""\nSTATE = "GOOD"\n```\n'


@pytest.mark.parametrize(
    "answer",
    [
        PREFILL + CONTINUATION,  # llama-server: the prefill and its continuation
        CONTINUATION,  # Ollama: the continuation only
        "Sure.\n\n" + PREFILL + CONTINUATION,  # a server that ignored the prefill
    ],
)
def test_a_target_prefills_the_answer_and_every_server_reply_gives_one_file(
    project: Path, answer: str
) -> None:
    backend = FakeBackend(answer)
    result = run_generation(options(project, targets=(TARGET,)), lambda: backend)
    assert result.status == "success", result.message
    assert result.created == (TARGET,)
    assert (project / TARGET).read_text() == '"""Projects."""\nSTATE = "GOOD"\n'
    sent = backend.history[0].messages
    assert (sent[-1].role, sent[-1].content) == ("assistant", PREFILL)
    assert f"Write `{TARGET}` now" in sent[-2].content


def test_an_answer_without_the_target_writes_nothing_and_the_repair_names_it(
    project: Path,
) -> None:
    other = "app/models/project.py\n```python\nX = 1\n```\n"
    backend = FakeBackend(other, CONTINUATION)
    # The first reply ignores the prefill and writes another file only.
    result = run_generation(options(project, targets=(TARGET,)), lambda: backend)
    assert result.status == "success", result.message
    first = result.attempts[0]
    assert first.written is False and first.failure is not None
    assert f"does not write `{TARGET}`" in first.failure
    assert not (project / "app" / "models" / "project.py").exists()
    repair = backend.history[1].messages
    # Earlier messages stay byte-identical; the repair is followed by the prefill again.
    assert [m.content for m in repair[:2]] == [m.content for m in backend.history[0].messages[:2]]
    assert repair[2].role == "assistant" and repair[2].content == other
    assert f"does not write `{TARGET}`" in repair[3].content
    assert (repair[4].role, repair[4].content) == ("assistant", PREFILL)


def test_an_existing_target_may_be_replaced_without_force(project: Path) -> None:
    backend = FakeBackend("NEW = 2\n```\n")
    chosen = options(project, targets=("app/existing.py",), verify=None)
    result = run_generation(chosen, lambda: backend)
    assert result.status == "success", result.message
    assert result.changed == ("app/existing.py",)
    assert (project / "app" / "existing.py").read_text() == "NEW = 2\n"
