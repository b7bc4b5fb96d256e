"""`make bench`: run the benchmarks of issue 8, print one table per part and a goals summary,
and write bench/results.json (machine, date, every figure).

    python -m bench.run                                   # everything (about 30-40 min, 2 cores)
    python -m bench.run --parts startup,streaming         # a subset (make bench BENCH=...)
    python -m bench.run --parts delegation --tasks 4 --budget-minutes 10

Parts: startup, streaming, real_model, prompt_economy, batch (issue 9's `route batch`
benchmark, bench/batch.py), delegation, savings (savings prices the delegation part's Projects
runs, so it runs delegation too). A part that cannot run (no
llama-server: run `make runtime`) is reported as an error and the others still run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import REPOSITORY_ROOT, BenchError, PartResult, machine
from bench.stats import format_number, format_table

PARTS = (
    "startup",
    "streaming",
    "real_model",
    "prompt_economy",
    "batch",
    "delegation",
    "savings",
)
RESULTS = REPOSITORY_ROOT / "bench" / "results.json"


def parse_parts(text: str) -> tuple[str, ...]:
    """``"startup, streaming"`` -> ("startup", "streaming"); "" or "all" -> every part, in
    the harness's order; an unknown name is an error naming the known ones."""
    names = [name.strip().replace("-", "_") for name in text.split(",") if name.strip()]
    if not names or names == ["all"]:
        return PARTS
    unknown = [name for name in names if name not in PARTS]
    if unknown:
        raise ValueError(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    return tuple(part for part in PARTS if part in names)


def render(result: PartResult) -> str:
    """A part as text: title, table, goals with their verdicts, notes."""
    lines = [f"## {result.title}", "", format_table(result.headers, result.rows), ""]
    for goal in result.goals:
        verdict = {True: "MET", False: "NOT MET", None: "reported"}[goal.met]
        lines.append(f"- [{verdict}] {goal.description}: {goal.measured}")
    lines.extend(f"  note: {note}" for note in result.notes)
    return "\n".join(lines)


def goals_table(results: Sequence[PartResult]) -> str:
    rows = [
        (result.name, goal.description, goal.measured,
         {True: "MET", False: "NOT MET", None: "reported"}[goal.met])
        for result in results
        for goal in result.goals
    ]  # fmt: skip
    return format_table(("part", "goal", "measured", "verdict"), rows)


def _runners(options: argparse.Namespace) -> dict[str, Callable[[], PartResult]]:
    from bench import prompt_economy, real_model, startup, streaming

    sizes = tuple(int(size) for size in options.sizes.split(","))
    return {
        "startup": lambda: startup.run(startup.StartupSettings(repetitions=options.repetitions)),
        "streaming": lambda: streaming.run(
            streaming.StreamingSettings(sizes=sizes, repetitions=options.stream_repetitions)
        ),
        "real_model": lambda: real_model.run(real_model.RealModelSettings(rounds=options.rounds)),
        "prompt_economy": prompt_economy.run,
        "batch": batch_part,
    }


def batch_part() -> PartResult:
    """bench/batch.py's `route batch` measurement (issue 9) as a part of this report."""
    from bench.batch import measure_batch

    report = measure_batch()
    rows = tuple(
        (row["slots"], row["tasks"], row["wall_seconds"], row["output_tokens"],
         row["tokens_per_second"], ", ".join(row["statuses"]))
        for row in report["rows"]
    )  # fmt: skip
    return PartResult(
        name="batch",
        title=f"route batch ({report['model']}, sections {report['sections']})",
        headers=("slots", "tasks", "wall s", "output tokens", "tokens/s", "statuses"),
        rows=rows,
        notes=(f"wall-time ratio first/last slot count: {report['wall_time_ratio']}",),
        data=report,
    )


def _delegation_parts(options: argparse.Namespace, parts: Sequence[str]) -> list[PartResult]:
    from bench import delegation, savings

    settings = delegation.DelegationSettings(
        tasks=options.tasks,
        budget_seconds=options.budget_minutes * 60.0,
        only=tuple(key for key in options.only.split(",") if key) if options.only else (),
    )
    kept = REPOSITORY_ROOT / ".cache" / "bench" / f"route-home-{int(time.time())}"
    run = delegation.run(settings, keep=kept)
    results = [run.result]
    if "savings" in parts:
        results.append(savings.run(run))
    return results


def run_parts(options: argparse.Namespace, parts: Sequence[str]) -> list[dict[str, Any]]:
    """Every selected part in order; a failing part becomes an error entry."""
    reports: list[dict[str, Any]] = []
    runners = _runners(options)
    for name in parts:
        if name in ("delegation", "savings"):
            continue
        reports.append(_one(name, runners[name]))
    if "delegation" in parts or "savings" in parts:
        started = time.perf_counter()
        try:
            for result in _delegation_parts(options, parts):
                print(render(result) + "\n", flush=True)
                reports.append({**result.to_dict(), "seconds": time.perf_counter() - started})
        except BenchError as error:
            print(f"## delegation/savings\n\nERROR: {error}\n", flush=True)
            reports.append({"name": "delegation", "error": str(error)})
    return reports


def _one(name: str, runner: Callable[[], PartResult]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = runner()
    except BenchError as error:
        print(f"## {name}\n\nERROR: {error}\n", flush=True)
        return {"name": name, "error": str(error), "seconds": time.perf_counter() - started}
    print(render(result) + "\n", flush=True)
    return {**result.to_dict(), "seconds": round(time.perf_counter() - started, 1)}


def parse_arguments(arguments: Sequence[str] | None) -> argparse.Namespace:
    from bench.delegation import TASKS

    parser = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="all", help=f"comma list of {', '.join(PARTS)}")
    parser.add_argument("--repetitions", type=int, default=15, help="start-up runs per command")
    parser.add_argument("--sizes", default="1000,5000,20000,50000,100000")
    parser.add_argument("--stream-repetitions", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="real-model rounds")
    parser.add_argument("--tasks", type=int, default=len(TASKS),
                        help=f"delegation tasks (at most {len(TASKS)})")  # fmt: skip
    parser.add_argument("--only", default="",
                        help="delegation task keys to run, comma-separated")  # fmt: skip
    parser.add_argument("--budget-minutes", type=float, default=45.0,
                        help="delegation time budget")  # fmt: skip
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(arguments)


def main(arguments: Sequence[str] | None = None) -> int:
    options = parse_arguments(arguments)
    try:
        parts = parse_parts(options.parts)
    except ValueError as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    info = machine()
    print(f"# route benchmarks — {', '.join(parts)}\n", flush=True)
    print(", ".join(f"{key}: {format_number(value)}" for key, value in info.items()) + "\n")
    reports = run_parts(options, parts)
    results = [PartResult(**_part_fields(report)) for report in reports if "error" not in report]
    print("## Goals\n\n" + goals_table(results) + "\n")
    date = datetime.now(UTC).isoformat(timespec="seconds")
    for report in reports:
        report.update(date=date, machine=info)
    document = {
        "date": date,
        "machine": info,
        "parts": merge_parts(previous_parts(options.output), reports),
        "seconds": round(time.perf_counter() - started, 1),
    }
    options.output.write_text(json.dumps(document, indent=2, default=str) + "\n", "utf-8")
    print(f"results written to {options.output} ({document['seconds']:.0f} s)")
    return 1 if any("error" in report for report in reports) else 0


def previous_parts(path: Path) -> list[dict[str, Any]]:
    """The parts of an earlier results file (none when it is missing or unreadable)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(document, dict):
        return []
    parts = [part for part in document.get("parts") or [] if isinstance(part, dict)]
    for part in parts:
        part.setdefault("date", document.get("date"))
        part.setdefault("machine", document.get("machine"))
    return [part for part in parts if "name" in part]


def merge_parts(
    previous: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Parts of this run replace the same parts of an earlier run; other earlier parts stay
    (each part carries its own date and machine), in the harness's order."""
    by_name = {part["name"]: part for part in previous}
    by_name.update({part["name"]: part for part in current})
    order = {name: index for index, name in enumerate(PARTS)}
    return sorted(by_name.values(), key=lambda part: order.get(part["name"], len(order)))


def _part_fields(report: dict[str, Any]) -> dict[str, Any]:
    from bench.common import Goal

    return {
        "name": report["name"],
        "title": report["title"],
        "headers": tuple(report["headers"]),
        "rows": tuple(tuple(row) for row in report["rows"]),
        "goals": tuple(Goal(**goal) for goal in report["goals"]),
        "notes": tuple(report["notes"]),
    }


if __name__ == "__main__":
    sys.exit(main())
