"""What every benchmark shares: running a command and measuring it, driving the real `route` CLI,
copying the example project, and the machine description recorded with the figures."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PROJECT = REPOSITORY_ROOT / "examples" / "projects-api"
TOOLS = REPOSITORY_ROOT / "tools"
COPY_IGNORED = ("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".route")
KILOBYTES_PER_MEGABYTE = 1024


class BenchError(Exception):
    """A benchmark could not run; the message says what failed and what to do next."""


@dataclass(frozen=True, slots=True)
class Measured:
    """One finished child process: wall time, peak resident memory and what it printed."""

    seconds: float
    max_rss_megabytes: float
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        """stdout decoded as the one JSON object `route ... --json` prints."""
        try:
            value = json.loads(self.stdout)
        except ValueError as exc:
            raise BenchError(
                f"expected JSON on stdout (exit {self.exit_code}), got {self.stdout[-300:]!r}; "
                f"stderr ends with {self.stderr[-500:]!r}"
            ) from exc
        if not isinstance(value, dict):
            raise BenchError(f"expected a JSON object on stdout, got {type(value).__name__}")
        return value


def measure(
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    environment: Mapping[str, str] | None = None,
    timeout: float = 600.0,
    discard_output: bool = False,
) -> Measured:
    """Run ``command`` to completion; wall time from start to exit, peak RSS of that child only
    (``wait4``), stdout and stderr through temporary files so a chatty child never blocks."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        target_out = subprocess.DEVNULL if discard_output else out
        target_err = subprocess.DEVNULL if discard_output else err
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(environment) if environment is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=target_out,
            stderr=target_err,
        )
        status, rusage = _wait(process, started + timeout)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return Measured(
            seconds=seconds,
            max_rss_megabytes=rusage.ru_maxrss / KILOBYTES_PER_MEGABYTE,  # Linux: kilobytes
            exit_code=status,
            stdout=out.read().decode("utf-8", errors="replace"),
            stderr=err.read().decode("utf-8", errors="replace"),
        )


def _wait(process: subprocess.Popen[bytes], deadline: float) -> tuple[int, Any]:
    """Reap ``process`` with ``wait4`` (its own rusage); kill it when the deadline passes."""
    while True:
        pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
        if pid == process.pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, rusage
        if time.perf_counter() > deadline:
            process.kill()
            _, status, rusage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            raise BenchError(f"{process.args!r} ran past its time limit and was stopped")
        time.sleep(0.002)


def venv_python() -> str:
    """The interpreter running the harness (the project's .venv under `make bench`)."""
    return sys.executable


def route_command() -> list[str]:
    """The installed `route` console script next to this interpreter, else `python -m route`."""
    script = Path(sys.executable).parent / "route"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "route"]


def route_environment(route_home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a measured `route` run: a private ROUTE_HOME (ledger, locks), the
    venv's interpreter for the example's `make verify`, no inherited ROUTE_* settings."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ROUTE_") and key != "OLLAMA_HOST"
    }
    environment["ROUTE_HOME"] = str(route_home)
    environment["PYTHON"] = sys.executable
    bin_directory = str(Path(sys.executable).parent)
    environment["PATH"] = os.pathsep.join([bin_directory, environment.get("PATH", os.defpath)])
    environment.update(extra or {})
    return environment


def copy_example(destination: Path) -> Path:
    """A fresh copy of examples/projects-api (caches left behind); the original is never used."""
    shutil.copytree(EXAMPLE_PROJECT, destination, ignore=shutil.ignore_patterns(*COPY_IGNORED))
    return destination


def machine() -> dict[str, Any]:
    """What the figures were measured on, recorded next to them."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1m_at_start": round(load[0], 2),
        "memory_gigabytes": _memory_gigabytes(),
    }


def _memory_gigabytes() -> float | None:
    try:
        text = Path("/proc/meminfo").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def load_average() -> float:
    """The 1-minute load average (0 where the platform has none): figures taken under load
    are marked with it."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else 0.0


@dataclass(frozen=True, slots=True)
class Goal:
    """One goal of issue 8 and what this run measured for it (``met`` None: not measured)."""

    description: str
    measured: str
    met: bool | None


@dataclass(frozen=True, slots=True)
class PartResult:
    """What one benchmark returns: a table for people, goals, notes and the raw figures."""

    name: str
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]
    goals: tuple[Goal, ...] = ()
    notes: tuple[str, ...] = ()
    data: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "headers": list(self.headers),
            "rows": [list(row) for row in self.rows],
            "goals": [
                {"description": g.description, "measured": g.measured, "met": g.met}
                for g in self.goals
            ],
            "notes": list(self.notes),
            "data": dict(self.data or {}),
        }
