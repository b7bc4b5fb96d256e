"""The hand-back of a failed run: bounded, and everything an orchestrator needs to take over."""

from __future__ import annotations

from pathlib import Path

from route.prompting.locations import Location
from route.repair.handback import MAX_CHARACTERS, hand_back
from route.values import (
    Attempt,
    Completion,
    FileChange,
    FixResult,
    ParsedAnswer,
    RunResult,
    Usage,
    VerifyResult,
    WritePlan,
)

CHANGE = FileChange("tests/test_p.py", "create", None, b"x")


def attempt(number: int, strategy: str, failure: str, *, fix: FixResult | None = None) -> Attempt:
    verify = VerifyResult("make verify", False, 1, "ruff ...\nFound 1 error.\n", 1.0)
    return Attempt(
        number, Completion("", Usage(), "m", "fake", "fake://"), ParsedAnswer(),
        WritePlan(changes=(CHANGE,)), True, verify, failure, strategy,  # type: ignore[arg-type]
        fix,
    )  # fmt: skip


def result(**changes: object) -> RunResult:
    values: dict[str, object] = {
        "run_id": "r", "task": "tests for the Projects service", "skill_refs": ("scaffold#5",),
        "project_root": Path("/p"), "status": "verify_failed", "exit_code": 1,
        "attempts": (
            attempt(1, "first", "verify failed"),
            attempt(2, "repair", "verify failed; the model repeated its previous answer"),
            attempt(3, "focused", "verify failed"),
        ),
        "created": ("tests/test_p.py",), "changed": (), "refused": (), "started_at": 0.0,
        "duration_seconds": 1.0, "model": "qwen", "backend": "fake", "endpoint": "fake://",
        "prompt_characters": 1, "output_characters": 1, "message": "verify failed",
    }  # fmt: skip
    values.update(changes)
    return RunResult(**values)  # type: ignore[arg-type]


LOCATED = [Location("tests/test_p.py", 15, 5, "F821 Undefined name `service`")]


def test_a_failed_run_says_task_files_errors_tries_and_next_step() -> None:
    text = hand_back(result(), located=LOCATED, rolled_back=False)
    assert text == (
        "route could not finish the task (verify_failed): tests for the Projects service\n"
        "Files kept on disk: created tests/test_p.py.\n"
        "Errors:\n"
        "- tests/test_p.py:15:5: F821 Undefined name `service`\n"
        "Tried: 3 attempt(s) with qwen: the first answer; a repair round with the located "
        "errors; a focused SEARCH/REPLACE round on one file; the model repeated an answer word "
        "for word.\n"
        "Next: fix the lines above in the kept files yourself and run the verify command; do "
        "not start the whole task again."
    )


def test_rolled_back_runs_say_so_and_ask_for_the_files() -> None:
    text = hand_back(result(created=()), located=LOCATED, rolled_back=True)
    assert "Files: rolled back with --rollback (the project is as before): tests/test_p.py" in text
    assert text.endswith("Next: write the files yourself (the located errors say what to avoid).")


def test_without_locations_the_output_tail_is_shown_and_fixes_are_counted() -> None:
    fix = FixResult("ruff --fix", 0, (CHANGE,), "", 0.1)
    attempts = (attempt(1, "first", "verify failed", fix=fix),)
    text = hand_back(result(attempts=attempts), located=[], rolled_back=False)
    assert "Last output of `make verify`:\nruff ...\nFound 1 error." in text
    assert "the fix command changed files in 1 attempt(s)" in text


def test_bounded_however_long_the_inputs() -> None:
    located = [Location(f"f{n}.py", n, None, "x" * 400) for n in range(1, 50)]
    text = hand_back(result(task="t" * 5000), located=located, rolled_back=False)
    assert len(text) <= MAX_CHARACTERS
    assert "(44 more)" in text


def test_success_has_no_hand_back() -> None:
    assert hand_back(result(status="success"), located=LOCATED, rolled_back=False) == ""
