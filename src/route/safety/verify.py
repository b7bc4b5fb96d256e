"""Run the project's verify command: own process group, timeout, bounded output, scrubbed env.

Verify executes code the model just wrote, so it runs with secrets removed from its environment
(``--keep-env`` opts out) and, with ``--sandbox``, without network access where Linux user and
network namespaces are available. Only the last ``tail_bytes`` of its output are kept, however
much it prints.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from route.values import VerifyResult

DEFAULT_TAIL_BYTES = 64 * 1024

# Environment variables never passed to verify (fnmatch patterns, case-sensitive upper case).
SECRET_PATTERNS: tuple[str, ...] = (
    "ANTHROPIC_*",
    "OPENAI_*",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "AWS_*",
    "AZURE_*",
    "*_TOKEN",
    "*_SECRET*",
    "*_API_KEY",
    "*_PASSWORD",
    "*_CREDENTIALS",
    "OLLAMA_API_KEY",
)


@dataclass(frozen=True, slots=True)
class VerifySettings:
    command: str = "make verify"
    timeout_seconds: float = 600.0
    tail_bytes: int = DEFAULT_TAIL_BYTES
    keep_env: bool = False
    sandbox: bool = False
    extra_secret_patterns: tuple[str, ...] = ()


def scrub_environment(
    environment: Mapping[str, str], extra_patterns: Sequence[str] = ()
) -> dict[str, str]:
    """A copy of ``environment`` without variables that look like credentials."""
    patterns = (*SECRET_PATTERNS, *extra_patterns)
    return {
        name: value
        for name, value in environment.items()
        if not any(fnmatch.fnmatchcase(name.upper(), pattern.upper()) for pattern in patterns)
    }


def sandbox_prefix() -> tuple[str, ...] | None:
    """``unshare`` arguments giving the command its own empty network namespace, or None when
    this system cannot do that (not Linux, no unshare, user namespaces disabled)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    prefix = (unshare, "--user", "--map-root-user", "--net", "--")
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return prefix if probe.returncode == 0 else None


def missing_target_reason(command: str, root: Path) -> str | None:
    """Why ``make verify`` cannot run here (no Makefile / no such target), else None."""
    words = shlex.split(command)
    if not words or words[0] != "make":
        return None
    if not any((root / name).is_file() for name in ("Makefile", "makefile", "GNUmakefile")):
        return f"no Makefile in {root}: add a `verify` target or pass --verify CMD"
    if shutil.which("make") is None:
        return "`make` is not installed: install it or pass --verify CMD"
    targets = [word for word in words[1:] if not word.startswith("-") and "=" not in word]
    for target in targets:
        probe = subprocess.run(
            ["make", "-n", target], cwd=root, capture_output=True, text=True, check=False
        )
        if "No rule to make target" in probe.stderr:
            return f"the Makefile in {root} has no `{target}` target: add one or pass --verify CMD"
    return None


def run_verify(
    root: Path,
    settings: VerifySettings,
    *,
    environment: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> VerifyResult:
    """Run the verify command in ``root`` and return its result (never raises for a failing or
    hanging command; KeyboardInterrupt kills the process group and propagates)."""
    started = clock()
    reason = missing_target_reason(settings.command, root)
    if reason is not None:
        return VerifyResult(
            command=settings.command,
            passed=True,
            exit_code=None,
            output_tail="",
            duration_seconds=0.0,
            skipped_reason=reason,
        )
    base_environment = dict(os.environ if environment is None else environment)
    if not settings.keep_env:
        base_environment = scrub_environment(base_environment, settings.extra_secret_patterns)
    arguments: list[str] = ["/bin/sh", "-c", settings.command]
    notes = ""
    if settings.sandbox:
        prefix = sandbox_prefix()
        if prefix is None:
            notes = "[route] --sandbox: no network namespaces here; verify ran unsandboxed\n"
        else:
            arguments = [*prefix, *arguments]
    process = subprocess.Popen(
        arguments,
        cwd=root,
        env=base_environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    tail = _TailReader(process, settings.tail_bytes)
    tail.start()
    timed_out = False
    try:
        try:
            process.wait(timeout=settings.timeout_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process)
    except BaseException:
        _kill_group(process)
        raise
    finally:
        tail.join(timeout=5)
    output = notes + tail.text()
    if timed_out:
        limit = settings.timeout_seconds
        output += f"\n[route] verify timed out after {limit:g} s and was killed\n"
    return VerifyResult(
        command=settings.command,
        passed=not timed_out and process.returncode == 0,
        exit_code=None if timed_out else process.returncode,
        output_tail=output,
        duration_seconds=clock() - started,
        timed_out=timed_out,
    )


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


class _TailReader(threading.Thread):
    """Reads a process's output to the end, keeping only the last ``limit`` bytes."""

    def __init__(self, process: subprocess.Popen[bytes], limit: int) -> None:
        super().__init__(daemon=True)
        self._process = process
        self._limit = limit
        self._buffer = bytearray()
        self._dropped = 0

    def run(self) -> None:
        stream = self._process.stdout
        if stream is None:
            return
        while chunk := os.read(stream.fileno(), 65536):
            self._buffer += chunk
            excess = len(self._buffer) - 2 * self._limit
            if excess > 0:  # trim in bulk: amortized linear, memory stays bounded
                del self._buffer[:excess]
                self._dropped += excess
        stream.close()

    def text(self) -> str:
        data = bytes(self._buffer[-self._limit :])
        dropped = self._dropped + len(self._buffer) - len(data)
        text = data.decode("utf-8", errors="replace")
        if dropped:
            return f"[route] ... {dropped} earlier bytes of output not kept ...\n{text}"
        return text
