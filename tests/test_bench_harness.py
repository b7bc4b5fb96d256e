"""The benchmark harness's own helpers (bench/): statistics, tables, part selection, the fast
loopback streamer, and the delegation benchmark's hidden acceptance tests against reference
solutions. No timing assertions: `make bench` measures; these check the measuring code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from bench.common import BenchError, Measured, measure
from bench.delegation import (
    ACCEPTANCE,
    FIX_OR_REPAIR_TASKS,
    REFERENCE,
    TASKS,
    DelegationSettings,
    Outcome,
    first_code_block,
    selected_tasks,
    summarize,
)
from bench.run import PARTS, merge_parts, parse_parts, render
from bench.savings import CLOUD_MODELS, section_rows
from bench.servers import FastOllamaServer, answer_tokens, ndjson_body, sse_timings
from bench.stats import (
    LinearFit,
    break_even,
    format_table,
    is_linear,
    linear_fit,
    median,
    percent,
    quadratic_share,
    ratio,
)

from tests.conftest import EXAMPLE_PROJECT

# --------------------------------------------------------------------------- statistics


def test_median_and_ratio() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0.0) is None
    assert percent(1, 4) == 25.0
    with pytest.raises(ValueError, match="no values"):
        median([])


def test_linear_fit_recovers_a_line() -> None:
    fit = linear_fit([1, 2, 3, 4], [2.5, 4.5, 6.5, 8.5])

    assert fit.slope == pytest.approx(2.0)
    assert fit.intercept == pytest.approx(0.5)
    assert fit.r_squared == pytest.approx(1.0)


def test_linear_fit_needs_two_distinct_x_values() -> None:
    with pytest.raises(ValueError, match="two distinct"):
        linear_fit([5, 5], [1, 2])
    with pytest.raises(ValueError, match="y values"):
        linear_fit([1, 2], [1])


def test_linearity_check_tells_linear_from_quadratic_cost() -> None:
    sizes = [1_000, 5_000, 20_000, 50_000, 100_000]
    linear = [0.3 + size / 40_000 for size in sizes]
    quadratic = [0.3 + (size / 20_000) ** 2 for size in sizes]

    assert quadratic_share(sizes, linear) == pytest.approx(0.0, abs=1e-9)
    assert is_linear(sizes, linear)
    share = quadratic_share(sizes, quadratic)
    assert share is not None
    assert share > 0.9
    assert not is_linear(sizes, quadratic)


def _run(seconds: float, inside: float | None = None) -> Measured:
    stdout = (
        json.dumps({"seconds": inside, "cpu_seconds": inside, "pieces": 0})
        if inside is not None
        else ""
    )
    return Measured(seconds, 90.0, 0, stdout, "")


def test_streaming_linearity_is_judged_on_in_process_times() -> None:
    """Whole-process times carry start-up noise as large as the small streams' cost (these are
    real figures from a quiet 2-core pin); the in-process times decide linearity."""
    from bench.streaming import summarize as summarize_streaming

    sizes = [1_000, 5_000, 20_000, 50_000, 100_000]
    whole = {"bare": [0.23, 0.30, 0.26, 0.33, 0.44], "route_quiet": [0.69, 0.65, 0.71, 0.76, 0.91],
             "route_live": [0.75, 0.75, 0.83, 0.92, 1.09]}  # fmt: skip
    runs = {
        client: {
            size: [_run(value, size * 2e-6 if client == "bare" else None)]
            for size, value in zip(sizes, values, strict=True)
        }
        for client, values in whole.items()
    }
    linear_inside = {
        c: {size: 0.001 + size * 2.2e-6 for size in sizes} for c in ("route_quiet", "route_live")
    }
    result = summarize_streaming(runs, sizes, linear_inside)
    assert result.data["linear"] == {"bare": True, "route_quiet": True, "route_live": True}
    assert result.goals[2].met is True
    quadratic_inside = {c: {size: 1e-11 * size**2 for size in sizes} for c in linear_inside}
    result = summarize_streaming(runs, sizes, quadratic_inside)
    assert result.data["linear"]["route_quiet"] is False
    assert result.goals[2].met is False


def test_in_process_streaming_measure_reads_every_size() -> None:
    from bench.streaming import StreamingSettings, measure_in_process

    settings = StreamingSettings(sizes=(50, 500), repetitions=1, extra_in_process_sizes=(900,))
    seconds = measure_in_process(settings)
    assert set(seconds) == {"route_quiet", "route_live"}
    assert all(
        set(by_size) == {50, 500, 900} and min(by_size.values()) > 0 for by_size in seconds.values()
    )


def test_linearity_uses_the_larger_in_process_sizes_too() -> None:
    """A square term too small to stand out below 100,000 tokens shows at 400,000."""
    from bench.streaming import summarize as summarize_streaming

    sizes = [1_000, 5_000, 20_000, 50_000, 100_000]
    runs = {
        client: {size: [_run(0.3 + size * 3e-6, size * 3e-6)] for size in sizes}
        for client in ("bare", "route_quiet", "route_live")
    }
    every = [*sizes, 200_000, 400_000]
    linear = {c: {size: size * 3e-6 for size in every} for c in ("route_quiet", "route_live")}
    assert summarize_streaming(runs, sizes, linear).goals[2].met is True
    bending = {c: {size: size * 3e-6 + 4e-12 * size**2 for size in every} for c in linear}
    up_to_100k = {c: {size: bending[c][size] for size in sizes} for c in bending}
    assert summarize_streaming(runs, sizes, up_to_100k).goals[2].met is True
    result = summarize_streaming(runs, sizes, bending)
    assert result.data["quadratic_share"]["route_quiet"] > 0.25
    assert result.goals[2].met is False
    assert "400,000" in result.goals[2].measured


def test_break_even_size() -> None:
    bare = LinearFit(intercept=0.2, slope=1e-5, r_squared=1.0)
    assert break_even(LinearFit(0.4, 1.2e-5, 1.0), bare, 0.10) is None  # costlier per token
    assert break_even(LinearFit(0.2, 1e-5, 1.0), bare, 0.10) == 0.0
    size = break_even(LinearFit(0.4, 0.5e-5, 1.0), bare, 0.10)
    assert size == pytest.approx((0.4 - 0.22) / (1.1e-5 - 0.5e-5))


def test_format_table_aligns_and_formats_cells() -> None:
    table = format_table(("name", "value"), [("a", 1234), ("longer", None), ("x", 0.5)])

    lines = table.splitlines()
    assert lines[0] == "| name   | value |"
    assert lines[1] == "|--------|-------|"
    assert lines[2] == "| a      | 1,234 |"
    assert lines[3] == "| longer | —     |"
    assert lines[4] == "| x      | 0.50  |"
    with pytest.raises(ValueError, match="cells"):
        format_table(("one",), [(1, 2)])


# --------------------------------------------------------------------------- harness


def test_parse_parts_keeps_the_harness_order() -> None:
    assert parse_parts("streaming, startup") == ("startup", "streaming")
    assert parse_parts("all") == PARTS
    assert parse_parts("") == PARTS
    assert parse_parts("prompt-economy") == ("prompt_economy",)
    with pytest.raises(ValueError, match="unknown part"):
        parse_parts("startup,speed")


def test_merge_parts_keeps_earlier_parts_not_rerun() -> None:
    previous = [{"name": "delegation", "date": "old"}, {"name": "streaming", "date": "old"}]
    current = [{"name": "streaming", "date": "new"}, {"name": "startup", "date": "new"}]

    merged = merge_parts(previous, current)

    assert [(part["name"], part["date"]) for part in merged] == [
        ("startup", "new"),
        ("streaming", "new"),
        ("delegation", "old"),
    ]


def test_measure_reports_exit_code_output_and_memory(tmp_path: Path) -> None:
    script = "import sys; print('{\"ok\": true}'); sys.stderr.write('note'); sys.exit(3)"

    measured = measure([sys.executable, "-c", script], cwd=tmp_path)

    assert measured.exit_code == 3
    assert measured.json() == {"ok": True}
    assert measured.stderr == "note"
    assert measured.max_rss_megabytes > 1
    assert measured.seconds > 0


def test_measured_json_rejects_non_json_output() -> None:
    measured = Measured(0.1, 10.0, 2, "route: error: nope", "")

    with pytest.raises(BenchError, match="expected JSON"):
        measured.json()


# --------------------------------------------------------------------------- streamer


def test_answer_tokens_is_a_fenced_file_of_exactly_the_count() -> None:
    tokens = answer_tokens(1000)

    assert len(tokens) == 1000
    text = "".join(tokens)
    assert text.startswith("app/generated.py\n```python\n")
    assert text.endswith("\n```\n")


def test_ndjson_body_ends_with_the_done_line() -> None:
    lines = ndjson_body(10, prompt_tokens=42).decode().splitlines()

    assert len(lines) == 11
    assert json.loads(lines[0])["done"] is False
    final = json.loads(lines[-1])
    assert (final["done"], final["eval_count"], final["prompt_eval_count"]) == (True, 10, 42)


def test_fast_server_streams_num_predict_tokens_and_records_the_request() -> None:
    with FastOllamaServer() as server:
        body = {
            "model": "m",
            "messages": [{"role": "user", "content": "hello"}],
            "options": {"num_predict": 25},
        }
        response = httpx.post(f"{server.url}/api/chat", json=body, timeout=10)
        show = httpx.post(f"{server.url}/api/show", json={"model": "m"}, timeout=10)
        recorded = server.chat_requests

    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 26
    assert lines[-1]["done"] is True
    assert show.json()["model_info"]["bench.context_length"] > 100_000
    assert recorded == [body]


def test_bare_stream_script_counts_every_piece() -> None:
    with FastOllamaServer() as server:
        completed = subprocess.run(
            [sys.executable, "bench/bare_stream.py", server.url, "300"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )

    assert json.loads(completed.stdout)["pieces"] == 300


def test_sse_timings_reads_the_last_timings_object() -> None:
    text = (
        'data: {"choices":[{"delta":{"content":"x"}}]}\n\n'
        'data: {"choices":[],"timings":{"prompt_n":12,"cache_n":300}}\n\n'
        "data: [DONE]\n\n"
    )

    assert sse_timings(text) == {"prompt_n": 12, "cache_n": 300}
    assert sse_timings("data: [DONE]\n") is None


# --------------------------------------------------------------------------- delegation


def test_first_code_block() -> None:
    answer = "Here:\n```python\nx = 1\n```\nand\n```\ny = 2\n```\n"

    assert first_code_block(answer) == "x = 1\n"
    assert first_code_block("no code") is None


def test_there_are_at_least_eight_independent_tasks_with_their_files() -> None:
    assert len(TASKS) >= 8
    assert len({task.key for task in TASKS}) == len(TASKS)
    for task in TASKS:
        assert (ACCEPTANCE / task.acceptance).is_file()
        for relative in task.prerequisites:
            assert (REFERENCE / relative).is_file()


def _project_with(tmp_path: Path, files: list[str]) -> Path:
    project = tmp_path / "projects-api"
    shutil.copytree(EXAMPLE_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__"))
    for relative in files:
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REFERENCE / relative, project / relative)
    for task in TASKS:
        shutil.copyfile(ACCEPTANCE / task.acceptance, project / "tests" / task.acceptance)
    return project


def _pytest(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": str(Path(sys.executable).parent), "PYTHONDONTWRITEBYTECODE": "1"},
    )


def test_acceptance_tests_pass_on_the_reference_solutions(tmp_path: Path) -> None:
    references = sorted(
        str(path.relative_to(REFERENCE)) for path in REFERENCE.rglob("*.py") if path.is_file()
    )
    project = _project_with(tmp_path, references)

    completed = _pytest(project, "tests")

    assert completed.returncode == 0, completed.stdout[-2000:]


def test_acceptance_tests_catch_a_wrong_model(tmp_path: Path) -> None:
    project = _project_with(tmp_path, ["app/models/project.py"])
    model = project / "app" / "models" / "project.py"
    model.write_text(
        model.read_text().replace("    archived: bool = False\n", "    archived: bool = True\n")
    )

    completed = _pytest(project, "tests/test_accept_projects_model.py")

    assert completed.returncode == 1
    assert "2 failed" in completed.stdout


def _outcome(
    task: str,
    method: str,
    *,
    passed: bool,
    attempts: int = 1,
    strategy: str | None = None,
    fix_changed: int = 0,
    with_fix: bool | None = None,
    imported: bool = False,
) -> Outcome:
    return Outcome(
        task, method, passed, passed, attempts, 100, 50, 1.0, strategy=strategy,
        fix_changed_attempts=fix_changed, passed_with_fix=with_fix,
        passed_by_import_step=imported,
    )  # fmt: skip


def test_delegation_summary_counts_passes_and_judges_the_goals() -> None:
    outcomes = [
        _outcome("a", "route", passed=True, strategy="first"),
        _outcome("a", "baseline", passed=False),
        _outcome("b", "route", passed=True, attempts=2, strategy="repair"),
        _outcome("b", "baseline", passed=True),
        _outcome("c", "route", passed=False, attempts=3),
        _outcome("c", "baseline", passed=False),
    ]

    result = summarize(outcomes, ["d"], DelegationSettings())

    assert result.data is not None
    assert (result.data["route_passed"], result.data["route_first_attempt"]) == (2, 1)
    assert result.data["baseline_passed"] == 1
    # 67 % < 80 %; 2x < 3x; route fails 33 % > half of the baseline's 67 %; 1 of 2 converted
    assert [goal.met for goal in result.goals] == [False, False, True, True]
    assert any("not run" in note and "d" in note for note in result.notes)
    assert "## Delegation success" in render(result)
    assert result.rows[0][:3] == ("a", True, "first")


def test_delegation_summary_reports_strategies_and_the_fix_step() -> None:
    outcomes = [
        _outcome("fix", "route", passed=True, strategy="first", fix_changed=1),
        _outcome("fix", "baseline", passed=False, with_fix=True),
        _outcome("slug", "route", passed=True, attempts=3, strategy="focused"),
        _outcome("slug", "baseline", passed=False, with_fix=False),
        _outcome("wiring", "route", passed=False, attempts=2, fix_changed=2),
        _outcome("wiring", "baseline", passed=False, with_fix=None),
    ]

    result = summarize(outcomes, [], DelegationSettings())

    assert result.data is not None
    assert result.data["route_passed_by_strategy"] == {
        "first": 1, "import": 0, "repair": 0, "focused": 1,
    }  # fmt: skip
    assert result.data["route_fix_changed_tasks"] == 2
    assert result.data["baseline_passed_with_fix"] == 1
    assert (result.data["repairs_converted"], result.data["first_attempt_failures"]) == (1, 2)
    assert result.goals[2].met is True  # route fails 33 %, the baseline 100 %
    assert result.goals[3].met is True  # 1 of 2 converted
    assert (
        "route's passes by strategy: first answer 1, import step 0, repair round 0, focused round 1"
    ) in result.notes
    assert any("2 of 3 tasks" in note and "1/3 after the same fix command" in note
               for note in result.notes)  # fmt: skip
    assert result.rows[1][:5] == ("slug", True, "focused", 3, 0)
    assert result.rows[2][2] is None  # no strategy for a failure
    assert result.rows[0][9] is True  # the baseline passes after the fix


def test_a_pass_that_needed_the_import_step_is_not_a_first_answer_pass() -> None:
    outcomes = [
        _outcome("schema", "route", passed=True, strategy="first", imported=True),
        _outcome("schema", "baseline", passed=False),
        _outcome("model", "route", passed=True, strategy="first"),
        _outcome("model", "baseline", passed=True),
    ]
    result = summarize(outcomes, [], DelegationSettings())
    assert result.data is not None
    assert result.data["route_first_attempt"] == 1
    assert result.data["route_passed_by_strategy"]["import"] == 1
    assert (result.data["repairs_converted"], result.data["first_attempt_failures"]) == (1, 1)
    assert result.rows[0][2] == "import"
    assert "import step 1, repair 0, focused 0" in result.goals[3].measured


def test_the_fix_or_repair_tasks_are_there() -> None:
    keys = {task.key for task in TASKS}
    assert len(FIX_OR_REPAIR_TASKS) >= 4
    assert set(FIX_OR_REPAIR_TASKS) <= keys
    # The savings part prices the Projects tasks only: the new ones must not look like them.
    assert not any(key.startswith("projects-") for key in FIX_OR_REPAIR_TASKS)


# --------------------------------------------------------------------------- savings


def _cost(cloud: float, handoff: float, net: float) -> dict[str, float]:
    return {
        "cloud_input_tokens_estimate": 1000,
        "cloud_output_tokens_estimate": 200,
        "handoff_input_tokens_estimate": 300,
        "handoff_output_tokens_estimate": 50,
        "cloud_only_dollars": cloud,
        "handoff_dollars": handoff,
        "net_saving_dollars": net,
    }


def test_savings_rows_sum_per_cloud_model() -> None:
    priced = {
        model: {
            "r1": {"status": "success", "cost": _cost(0.01 * scale, 0.002 * scale, 0.008 * scale)},
            "r2": {"status": "verify_failed", "cost": _cost(0.02 * scale, 0.003 * scale, -0.003)},
        }
        for model, scale in zip(CLOUD_MODELS, (1.0, 5.0), strict=True)
    }

    rows, totals = section_rows([("t1", "scaffold#1", "r1"), ("t2", "scaffold#2", "r2")], priced)

    assert len(rows) == 3
    assert rows[-1][:5] == ("total", "", "", 2400, 700)
    assert totals[CLOUD_MODELS[0]]["net"] == pytest.approx(0.005)
    assert totals[CLOUD_MODELS[1]]["cloud"] == pytest.approx(0.15)


def test_only_selects_tasks_by_key_in_table_order() -> None:
    chosen = selected_tasks(DelegationSettings(only=("repair-slug", "projects-model")))
    assert [task.key for task in chosen] == ["projects-model", "repair-slug"]
    assert len(selected_tasks(DelegationSettings(tasks=3))) == 3
    with pytest.raises(BenchError, match="unknown delegation task"):
        selected_tasks(DelegationSettings(only=("nope",)))
