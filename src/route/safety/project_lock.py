"""A lock per project, so two route runs never interleave writes (and verify) in one project.

Generation runs concurrently; only the write-and-verify phase of an attempt holds the lock. The
lock file lives in route's own data directory (never in the user's project).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from route.errors import LockHeld


def lock_path(project_root: Path, home: Path) -> Path:
    digest = hashlib.sha256(str(project_root.resolve()).encode()).hexdigest()[:16]
    return home / "locks" / f"{digest}.lock"


@contextlib.contextmanager
def project_lock(
    project_root: Path,
    home: Path,
    *,
    timeout_seconds: float,
    on_wait: Callable[[str], None] | None = None,
    poll_seconds: float = 0.2,
) -> Iterator[None]:
    """Hold the project's lock; wait up to ``timeout_seconds`` for another run to release it."""
    path = lock_path(project_root, home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        deadline = time.monotonic() + timeout_seconds
        told = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                if time.monotonic() >= deadline:
                    raise LockHeld(
                        f"another route run ({holder}) is writing in {project_root}; "
                        "wait for it to finish, or stop it, then retry"
                    ) from None
                if not told and on_wait is not None:
                    on_wait(f"waiting for another route run ({holder}) in this project")
                    told = True
                time.sleep(poll_seconds)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
