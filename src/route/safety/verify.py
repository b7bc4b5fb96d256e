"""Run the project's verify command so that its verdict can be trusted.

Verify executes code the model just wrote. So ``run_verify``:

- refuses a blank command (``UsageError``: ``--no-verify`` is the way to skip);
- runs it with secrets removed from its environment (``route.safety.secrets``; ``--keep-env
  NAME`` keeps one) and redacts secrets from its output before anyone sees it;
- runs it under ``supervise.py``, which kills every process the command left behind, detached
  ones included, whether it passed, failed or timed out; route then kills the whole process
  group as well;
- with ``--sandbox``, runs it in new user, network and PID namespaces (``unshare``) with the
  loopback interface up: no network but 127.0.0.1, and nothing it started outlives it. When the
  system cannot do that, ``strict`` is a ``UsageError`` and ``best-effort`` runs it without and
  says so (``VerifyResult.sandbox``);
- takes a snapshot of what verify must not change (``route.safety.tamper``) and compares it
  afterwards: a change is restored and named in ``VerifyResult.tampered``, and verify did not
  pass;
- keeps only the last ``tail_bytes`` of its output, however much it prints.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from route.errors import Cancelled, UsageError
from route.safety.path_rules import DEFAULT_PROTECTED
from route.safety.secrets import SECRET_NAME_PATTERNS, Redactor, scrub_environment
from route.values import VerifyResult

__all__ = [
    "SECRET_NAME_PATTERNS",
    "SandboxMode",
    "SandboxProbe",
    "VerifySettings",
    "check_sandbox",
    "check_verify_command",
    "run_verify",
    "sandbox_prefix",
]

DEFAULT_TAIL_BYTES = 64 * 1024
CANCEL_POLL_SECONDS = 0.05  # how often a running verify looks at the cancel flag
STOP_GRACE_SECONDS = 5.0
SUPERVISOR = Path(__file__).with_name("supervise.py")

SandboxMode = Literal["off", "strict", "best-effort"]
SandboxProbe = Callable[[], "tuple[str, ...] | None"]
"""Returns the command prefix that isolates verify, or None when this system cannot."""


@dataclass(frozen=True, slots=True)
class VerifySettings:
    command: str = "make verify"
    timeout_seconds: float = 600.0
    tail_bytes: int = DEFAULT_TAIL_BYTES
    keep_env: tuple[str, ...] = ()  # variables kept although they look like secrets
    sandbox: SandboxMode = "off"
    extra_secret_patterns: tuple[str, ...] = ()
    protected: tuple[str, ...] = DEFAULT_PROTECTED  # what the tamper check watches
    # Files outside the project the tamper check watches; None: the user's git configuration.
    watch_outside: tuple[Path, ...] | None = None


def check_verify_command(command: str) -> str:
    """``command`` when it names something to run; a ``UsageError`` when it is blank."""
    if not command.strip():
        raise UsageError(
            "the verify command is blank: give one with --verify CMD (or verify_command in "
            "route.yaml), or skip verify with --no-verify"
        )
    return command


def sandbox_prefix() -> tuple[str, ...] | None:
    """``unshare`` arguments giving verify its own user, network and PID namespaces, or None
    when this system cannot do that (not Linux, no ``unshare`` on PATH, user namespaces
    disabled). The probe runs once per ``unshare`` found: the supervisor must start there and
    bring loopback up."""
    unshare = shutil.which("unshare")
    return None if unshare is None else _probe_sandbox(unshare)


@lru_cache(maxsize=4)
def _probe_sandbox(unshare: str) -> tuple[str, ...] | None:
    prefix = (unshare, "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child")
    probe = [*prefix, *_supervised(["true"], loopback=True)]
    try:
        result = subprocess.run(probe, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return prefix if result.returncode == 0 else None


def check_sandbox(settings: VerifySettings | None, probe: SandboxProbe = sandbox_prefix) -> None:
    """Before a run: ``--sandbox`` (strict) on a system that cannot isolate verify is a
    ``UsageError`` naming the way out."""
    if settings is None or settings.sandbox != "strict" or probe() is not None:
        return
    raise UsageError(
        "--sandbox: this system cannot isolate verify (it needs `unshare` and unprivileged user "
        "namespaces); run without --sandbox, or with --sandbox-best-effort to run verify "
        "unisolated with a warning"
    )


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
    sandbox_probe: SandboxProbe = sandbox_prefix,
    cancel: threading.Event | None = None,
) -> VerifyResult:
    """Run the verify command in ``root`` and return its result (never raises for a failing,
    hanging or tampering command; KeyboardInterrupt kills everything it started, restores what
    it changed and propagates). Once ``cancel`` is set, the same happens and ``Cancelled`` is
    raised."""
    from route.safety import tamper

    check_verify_command(settings.command)
    started = clock()
    reason = missing_target_reason(settings.command, root)
    if reason is not None:
        return VerifyResult(settings.command, True, None, "", 0.0, skipped_reason=reason)
    scrubbed = scrub_environment(
        os.environ if environment is None else environment,
        extra_patterns=settings.extra_secret_patterns,
        keep=settings.keep_env,
    )
    arguments, sandbox, notes = _arguments(settings, sandbox_probe)
    outside = settings.watch_outside
    if outside is None:
        outside = tamper.global_git_config_files(dict(scrubbed.environment))
    snapshot = tamper.take_snapshot(root, settings.protected, extra=outside)
    process = subprocess.Popen(
        arguments,
        cwd=root,
        env=scrubbed.environment,
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
            _wait(process, settings.timeout_seconds, cancel)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(process)
    finally:
        # Always, not only on timeout: nothing verify started outlives it.
        _stop(process)
        tail.join(timeout=STOP_GRACE_SECONDS)
        changed = tamper.compare(snapshot, root, settings.protected, extra=outside)
        unrestored = tamper.restore(snapshot, changed, root)
    output = notes + tail.text()
    if timed_out:
        output += (
            f"\n[route] verify timed out after {settings.timeout_seconds:g} s and was killed\n"
        )
    if changed:
        output += "\n[route] verify changed files it must not (restored): " + ", ".join(changed)
    output, redactions = Redactor(scrubbed.secret_values).redact(output)
    return VerifyResult(
        command=settings.command,
        passed=not timed_out and not changed and process.returncode == 0,
        exit_code=None if timed_out else _exit_code(process.returncode),
        output_tail=output,
        duration_seconds=clock() - started,
        timed_out=timed_out,
        tampered=changed,
        unrestored=unrestored,
        sandbox=sandbox,
        redactions=redactions,
    )


def _arguments(settings: VerifySettings, probe: SandboxProbe) -> tuple[list[str], str | None, str]:
    """The command line, the sandbox state (None without ``--sandbox``) and a note for the
    output."""
    command = ["/bin/sh", "-c", settings.command]
    if settings.sandbox == "off":
        return _supervised(command, loopback=False), None, ""
    prefix = probe()
    if prefix is not None:
        return [*prefix, *_supervised(command, loopback=True)], "isolated", ""
    if settings.sandbox == "strict":
        check_sandbox(settings, probe)
    note = "[route] --sandbox-best-effort: this system cannot isolate verify; it ran unisolated\n"
    return _supervised(command, loopback=False), "unavailable", note


def _supervised(command: list[str], *, loopback: bool) -> list[str]:
    options = ["--loopback"] if loopback else []
    return [sys.executable, "-I", "-S", str(SUPERVISOR), *options, "--", *command]


def _exit_code(returncode: int) -> int:
    """The command's status; the supervisor reports death by signal N as 128 + N already."""
    return 128 - returncode if returncode < 0 else returncode


def _wait(process: subprocess.Popen[bytes], timeout: float, cancel: threading.Event | None) -> None:
    """Wait for the process; ``TimeoutExpired`` after ``timeout`` seconds, ``Cancelled`` as
    soon as ``cancel`` is set (the caller stops the process tree)."""
    if cancel is None:
        process.wait(timeout=timeout)
        return
    deadline = time.monotonic() + timeout
    while True:
        if cancel.is_set():
            raise Cancelled("cancelled while verify ran: its processes were stopped")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise subprocess.TimeoutExpired(process.args, timeout)
        try:
            process.wait(timeout=min(CANCEL_POLL_SECONDS, remaining))
            return
        except subprocess.TimeoutExpired:
            continue


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ask the supervisor to kill the command's tree, then kill the whole process group."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_GRACE_SECONDS)
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
        if dropped:
            # The first line is cut: drop it, so no half of a secret survives redaction.
            data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
        text = data.decode("utf-8", errors="replace")
        if dropped:
            return f"[route] ... {dropped} earlier bytes of output not kept ...\n{text}"
        return text
