"""Start-up: `route --help`, `route --version`, `route skills list` against bare Python.

Each command runs ``repetitions`` times as a fresh process, round-robin (so a burst of load on a
shared machine spreads over all of them), after one untimed warm-up each; the median wall time
is kept. Baselines, run in the same invocation: `python -c pass` and `python -c "import typer"`
with the same interpreter. `route skills list` runs inside a copy of the example project. A
final check lists which heavy modules `route --help` imported (none should be).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    BenchError,
    Goal,
    PartResult,
    copy_example,
    load_average,
    measure,
    route_command,
    route_environment,
    venv_python,
)
from bench.stats import median, ratio

GOAL_HELP_MILLISECONDS = 150.0
HEAVY_MODULES = ("httpx", "pydantic", "rich", "yaml", "mcp")
MILLISECONDS = 1000.0


@dataclass(frozen=True, slots=True)
class StartupSettings:
    repetitions: int = 15


def commands() -> dict[str, list[str]]:
    python = venv_python()
    route = route_command()
    return {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import typer'": [python, "-c", "import typer"],
        "route --help": [*route, "--help"],
        "route --version": [*route, "--version"],
        "route skills list": [*route, "skills", "list"],
    }


def heavy_imports_of_help() -> list[str]:
    """Heavy modules loaded by `route --help` (run in-process through runpy, in a child)."""
    script = (
        "import runpy, sys, json\n"
        "sys.argv = ['route', '--help']\n"
        "try:\n"
        "    runpy.run_module('route', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = {list(HEAVY_MODULES)!r}\n"
        "sys.stderr.write(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    result = measure([venv_python(), "-c", script])
    try:
        loaded: list[str] = json.loads(result.stderr.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise BenchError(f"could not read the modules `route --help` imported: {result}") from exc
    return loaded


def run(settings: StartupSettings | None = None) -> PartResult:
    settings = settings or StartupSettings()
    load_before = load_average()
    timings: dict[str, list[float]] = {name: [] for name in commands()}
    with tempfile.TemporaryDirectory() as temporary:
        project = copy_example(Path(temporary) / "projects-api")
        environment = route_environment(Path(temporary) / "route-home")
        for round_number in range(settings.repetitions + 1):
            for name, command in commands().items():
                measured = measure(command, cwd=project, environment=environment)
                if measured.exit_code != 0:
                    raise BenchError(
                        f"`{name}` exited with {measured.exit_code}: {measured.stderr}"
                    )
                if round_number > 0:  # round 0 is the warm-up
                    timings[name].append(measured.seconds * MILLISECONDS)
    medians = {name: median(values) for name, values in timings.items()}
    python = medians["python -c pass"]
    typer_only = medians["python -c 'import typer'"]
    rows = tuple(
        (
            name,
            medians[name],
            min(timings[name]),
            ratio(medians[name], python),
            ratio(medians[name], typer_only),
        )
        for name in timings
    )
    help_ms = medians["route --help"]
    heavy = heavy_imports_of_help()
    goals = (
        Goal(
            f"`route --help` median under {GOAL_HELP_MILLISECONDS:.0f} ms",
            f"{help_ms:.0f} ms (x{help_ms / python:.1f} python -c pass)",
            help_ms < GOAL_HELP_MILLISECONDS,
        ),
        Goal(
            "`route --help` imports no heavy module",
            "imported: " + (", ".join(heavy) if heavy else "none"),
            not heavy,
        ),
    )
    return PartResult(
        name="startup",
        title=f"Start-up (median of {settings.repetitions} fresh processes, milliseconds)",
        headers=("command", "median ms", "min ms", "x python", "x import typer"),
        rows=rows,
        goals=goals,
        notes=(f"load average (1 min) before/after: {load_before} / {load_average()}",),
        data={"milliseconds": timings, "medians": medians, "heavy_imports_of_help": heavy},
    )
