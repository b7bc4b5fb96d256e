from __future__ import annotations

import io
import itertools

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from route.ui import LiveView, escape_terminal, plain_table, print_error, print_warning
from route.values import Attempt, Completion, ParsedAnswer, Refusal, Usage, WritePlan


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.05
        return self.now


def finished(text: str) -> Completion:
    usage = Usage(prompt_tokens=10, output_tokens=5, generation_seconds=1.0, total_seconds=1.2)
    return Completion(text, usage, "m", "fake", "fake://")


def test_text_streams_through_unchanged_on_separate_streams() -> None:
    text, status = io.StringIO(), io.StringIO()
    view = LiveView(model="m", text_stream=text, status_stream=status, clock=Clock())
    chunks = ["app/x.py\n```py", "thon\nprint(1)", "\n```\n", "tail"]
    view.attempt_started(1, 3)
    for chunk in chunks:
        view.text(chunk)
    view.generation_finished(finished("".join(chunks)))
    assert text.getvalue() == "".join(chunks) + "\n"
    assert "attempt 1/3" in status.getvalue()
    assert "10 prompt + 5 output tokens" in status.getvalue()
    assert "5.0 tok/s" in status.getvalue()


def test_status_line_is_cleared_before_text_on_a_shared_terminal() -> None:
    terminal = io.StringIO()
    view = LiveView(model="m", text_stream=terminal, status_stream=terminal, clock=Clock())
    view.attempt_started(1, 1)
    for index in range(50):
        view.text(f"line {index}\n")
    view.generation_finished(finished(""))
    output = terminal.getvalue()
    # Removing the status-line redraws leaves exactly the streamed text.
    import re

    cleaned = re.sub(r"\r\x1b\[2K(\x1b\[2m[^\r\n]*\x1b\[0m)?", "", output)
    assert "".join(f"line {i}\n" for i in range(50)) in cleaned
    assert "tok/s" in output


def test_quiet_view_writes_nothing() -> None:
    text, status = io.StringIO(), io.StringIO()
    view = LiveView(
        model="m", text_stream=text, status_stream=status, show_text=False, show_status=False
    )
    view.attempt_started(1, 1)
    view.text("hello\n")
    view.generation_finished(finished("hello\n"))
    view.notice("something")
    assert text.getvalue() == ""
    assert status.getvalue() == ""


def test_long_line_without_newlines_is_not_quadratic_in_pieces() -> None:
    # A 200,000-chunk line on a shared terminal: pieces are buffered in a list and joined once.
    terminal = io.StringIO()
    view = LiveView(model="m", text_stream=terminal, status_stream=terminal, clock=Clock())
    for _ in range(200_000):
        view.text("x")
    view.generation_finished(finished(""))
    assert terminal.getvalue().count("x") >= 200_000


DRAFT = "app/wrong.py\n```python\nprint('draft')\n```\n"


def thought(text: str) -> Completion:
    usage = Usage(
        prompt_tokens=10,
        output_tokens=50,
        generation_seconds=5.0,
        total_seconds=6.0,
        reasoning_tokens=40,
        reasoning_seconds=4.0,
    )
    return Completion(text, usage, "m", "fake", "fake://", reasoning=DRAFT)


def test_thinking_shows_a_distinct_status_and_never_the_reasoning_text() -> None:
    text, status = io.StringIO(), io.StringIO()
    view = LiveView(model="m", text_stream=text, status_stream=status, clock=Clock())
    view.attempt_started(1, 1)
    for index in range(0, len(DRAFT), 3):
        view.thinking(DRAFT[index : index + 3])
    view.text("app/right.py\n")
    view.generation_finished(thought("app/right.py\n"))
    assert text.getvalue() == "app/right.py\n\n"
    assert "m · thinking · " in status.getvalue()
    assert "thought for ~" in status.getvalue()
    assert "(40 reasoning, 4.0 s)" in status.getvalue()
    for shown in (text.getvalue(), status.getvalue()):
        assert "wrong" not in shown and "draft" not in shown


def test_show_thinking_writes_the_reasoning_dimmed_on_the_status_stream_only() -> None:
    text, status = io.StringIO(), io.StringIO()
    view = LiveView(
        model="m", text_stream=text, status_stream=status, show_thinking=True, clock=Clock()
    )
    view.attempt_started(1, 1)
    view.thinking("let me think")
    view.text("answer\n")
    view.generation_finished(thought("answer\n"))
    assert "\x1b[2mlet me think\x1b[0m" in status.getvalue()
    assert "think" not in text.getvalue()


def test_shown_reasoning_cannot_drive_the_terminal() -> None:
    text, status = io.StringIO(), io.StringIO()
    view = LiveView(
        model="m", text_stream=text, status_stream=status, show_thinking=True, clock=Clock()
    )
    view.attempt_started(1, 1)
    view.thinking("a\x1b]52;c;cm0gLXJmIH4=\x07b\x1b[2J\nnext")
    shown = status.getvalue()
    assert "\x1b]52" not in shown and "\x1b[2J" not in shown and "\x07" not in shown
    assert "a\\x1b]52;c;cm0gLXJmIH4=\\x07b\\x1b[2J\nnext" in shown


def test_plain_table_aligns_columns() -> None:
    table = plain_table("T", ["a", "bbb"], [["1", "2"], ["333", "4"]])
    assert table.splitlines() == ["T", "a    bbb", "1    2", "333  4"]


def test_pull_progress_view_renders_a_bar(capsys: object) -> None:
    from route.ui import PullProgressView

    with PullProgressView("qwen2.5-coder:7b") as view:
        view.update("pulling manifest", 0, 0)
        view.update("pulling 2ae6f6", 500_000_000, 1_000_000_000)
    captured = capsys.readouterr()  # type: ignore[attr-defined]
    assert "qwen2.5-coder:7b" in captured.err
    assert "pulling 2ae6f6" in captured.err


# --------------------------------------------------------------------------- terminal safety

HOSTILE = "ok\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J\rroute: success\u202etxt.py\x9b31m\x00"


def test_escape_terminal_makes_every_control_character_visible() -> None:
    escaped = escape_terminal(HOSTILE)
    assert escaped == (
        "ok\\x1b]52;c;ZWNobyBwd25lZA==\\x07\\x1b[2J\\x0droute: success\\u202etxt.py\\x9b31m\\x00"
    )
    assert all(character.isprintable() for character in escaped)
    assert escape_terminal("a\nb\tc") == "a\\x0ab\\x09c"
    assert escape_terminal("a\nb\tc\x1b", multiline=True) == "a\nb\tc\\x1b"
    assert escape_terminal("café — ✓ 日本") == "café — ✓ 日本"


def test_live_view_escapes_streamed_text_refusals_and_failures() -> None:
    text, status = io.StringIO(), io.StringIO()
    view = LiveView(model="m", text_stream=text, status_stream=status, clock=Clock())
    view.attempt_started(1, 1)
    view.text("x.py\n\x1b[2J")
    view.text("```\n")
    view.generation_finished(finished("x"))
    view.verify_started("make\x1b[2J verify")
    plan = WritePlan(refusals=(Refusal("evil\x1b]52;c;x\x07.py", "bad \x1b[31m"),))
    view.attempt_finished(
        Attempt(1, finished("x"), ParsedAnswer(), plan, False, None, failure="f\rroute: success")
    )
    shown = text.getvalue() + status.getvalue()
    assert "\x1b[2J" not in shown and "\x1b]52" not in shown and "\rroute" not in shown
    assert "x.py\n\\x1b[2J```\n" in text.getvalue()
    assert "evil" not in status.getvalue()  # refused files: listed once, in the report
    assert "✗ f\\x0droute: success" in status.getvalue()


def test_error_and_warning_lines_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    print_error("cannot write \x1b[2Jx.py\nroute: success")
    print_warning("\x1b]52;c;x\x07")
    err = capsys.readouterr().err
    assert err == (
        "route: error: cannot write \\x1b[2Jx.py\\x0aroute: success\n"
        "route: warning: \\x1b]52;c;x\\x07\n"
    )


def _streamed(chunks: list[str], *, shared: bool, show_status: bool) -> str:
    """What the live view wrote as text (status redraws and status lines removed)."""
    import re

    text = io.StringIO()
    status = text if shared else io.StringIO()
    view = LiveView(
        model="m", text_stream=text, status_stream=status, show_status=show_status, clock=Clock()
    )
    view.attempt_started(1, 1)
    for chunk in chunks:
        view.text(chunk)
    view.generation_finished(finished("".join(chunks)))
    output = re.sub(r"\r\x1b\[2K(\x1b\[2m[^\r\n]*\x1b\[0m)?", "", text.getvalue())
    if shared:
        output = "".join(
            line
            for line in output.splitlines(keepends=True)
            if not line.startswith(("── attempt", "   "))
        )
    return output


def test_a_partial_line_kept_from_a_newline_chunk_is_not_dropped() -> None:
    # The new user's report: on a terminal (answer on stdout, status on stderr) this printed
    # "def f():\nurn 1\n".
    chunks = ["def f():\n    ret", "urn", " 1\n"]
    assert _streamed(chunks, shared=False, show_status=True) == "def f():\n    return 1\n\n"


_ANSWER_ALPHABET = "ab \n`\t"


@given(
    answer=st.text(alphabet=_ANSWER_ALPHABET, max_size=80),
    cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=12),
    shared=st.booleans(),
    show_status=st.booleans(),
)
def test_streamed_text_is_exactly_the_answer_for_any_chunking(
    answer: str, cuts: list[int], shared: bool, show_status: bool
) -> None:
    points = sorted({min(cut, len(answer)) for cut in cuts} | {0, len(answer)})
    chunks = [answer[start:end] for start, end in itertools.pairwise(points)]
    # Lines starting with three spaces would look like status lines on a shared stream.
    assume(not shared or not any(line.startswith("   ") for line in answer.split("\n")))
    assert _streamed(chunks, shared=shared, show_status=show_status) == answer + "\n"


def test_the_live_view_leaves_refused_files_to_the_report() -> None:
    from route.values import Attempt, ParsedAnswer, Refusal, WritePlan

    terminal = io.StringIO()
    view = LiveView(model="m", text_stream=terminal, status_stream=terminal, clock=Clock())
    refusal = Refusal("../x.py", "outside the project")
    plan = WritePlan(changes=(), refusals=(refusal,))
    failure = "every file was refused: ../x.py: outside the project"
    attempt = Attempt(1, finished(""), ParsedAnswer(), plan, False, None, failure)
    view.attempt_finished(attempt)
    assert terminal.getvalue().count("../x.py") == 1


def test_the_cost_table_writes_a_negative_saving_as_minus_dollars(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from route.ui import _print_cost_table

    report = {
        "tokens": {"prompt": 10, "output": 5},
        "duration_seconds": 1.0,
        "tokens_per_second": 5.0,
        "cost": {
            "cloud_model": "claude-sonnet-4-5",
            "cloud_input_tokens": 10,
            "cloud_output_tokens": 5,
            "cloud_only_dollars": 0.0,
            "handoff_dollars": 0.0012,
            "net_saving_dollars": -0.0012,
            "net_saving_percent": -100.0,
            "prices_date": "2026-11-01",
        },
    }
    _print_cost_table(report, "cost", "command", plain=True)
    err = capsys.readouterr().err
    assert "-$0.0012 (-100%)" in err
    assert "$-" not in err
