"""The one verify step of a run and of a batch: under the project lock, run verify (or say why
it was skipped), and say how it failed in one text (the timeout case too); ``restore`` undoes a
run's writes for ``--rollback``.

``route gen`` (``route.run.pipeline``) and ``route batch`` (``route.batch.runner``) both verify
through these functions, so a lock, a timeout or a failure reads the same in both.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from route.values import VerifyResult

if TYPE_CHECKING:
    from route.safety.verify import VerifySettings
    from route.values import FileChange

# What a skipped verify says when the run asked for none.
NO_VERIFY = "--no-verify"


def project_locked(
    project_root: Path,
    lock_home: Path | None,
    *,
    timeout_seconds: float,
    on_wait: Callable[[str], None],
) -> contextlib.AbstractContextManager[None]:
    """The project's lock for writing and verifying (no lock when ``lock_home`` is None)."""
    if lock_home is None:
        return contextlib.nullcontext()
    from route.safety.project_lock import project_lock

    return project_lock(project_root, lock_home, timeout_seconds=timeout_seconds, on_wait=on_wait)


def verify_project(
    project_root: Path,
    settings: VerifySettings | None,
    *,
    on_start: Callable[[str], None],
    cancel: threading.Event | None = None,
) -> VerifyResult:
    """Run verify in ``project_root`` (hold ``project_locked`` around it), or a skipped result
    when ``settings`` is None (``--no-verify``). ``cancel``, once set, kills verify's process
    group and raises ``Cancelled``."""
    if settings is None:
        return VerifyResult("", True, None, "", 0.0, skipped_reason=NO_VERIFY)
    from route.errors import Cancelled
    from route.safety.verify import run_verify

    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled before verify")
    on_start(settings.command)
    return run_verify(project_root, settings, cancel=cancel)


def verify_verdict(exit_code: int | None, *, timed_out: bool, duration_seconds: float) -> str:
    """How a verify ended, in a few words: ``failed (exit 2)`` or ``timed out after 600 s``."""
    if timed_out:
        return f"timed out after {duration_seconds:.0f} s"
    return f"failed (exit {exit_code})"


def verify_failure(verify: VerifyResult) -> str:
    """The one text of a failed verify: ``verify `make verify` failed (exit 2)``, or its
    timeout (a killed verify has no exit code to show), or the files it changed that it must
    not (the tamper check)."""
    if verify.tampered:
        changed = ", ".join(verify.tampered)
        return f"verify `{verify.command}` changed files it must not ({changed}); restored"
    verdict = verify_verdict(
        verify.exit_code, timed_out=verify.timed_out, duration_seconds=verify.duration_seconds
    )
    return f"verify `{verify.command}` {verdict}"


def restore(
    originals: Sequence[FileChange],
    project_root: Path,
    message: str,
    *,
    done: str = "--rollback restored the previous files",
) -> tuple[str, bool]:
    """``--rollback`` (or a cancelled run): put the previous files back. Returns the run's
    message saying so (``done``), or why it could not, and whether the files were restored."""
    from route.errors import RouteError
    from route.safety.writer import rollback

    try:
        rollback(list(originals), project_root)
    except (OSError, RouteError) as error:
        return f"{message}; rollback FAILED: {error}", False
    return f"{message}; {done}", True
