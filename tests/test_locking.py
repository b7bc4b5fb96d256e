from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from route.errors import LockHeld
from route.safety.project_lock import lock_path, project_lock


def hold(root: str, home: str, ready: object, release: object) -> None:
    with project_lock(Path(root), Path(home), timeout_seconds=5):
        ready.set()  # type: ignore[attr-defined]
        release.wait(10)  # type: ignore[attr-defined]


def test_second_run_waits_then_gets_a_clear_error(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=hold, args=(str(tmp_path), str(tmp_path / "h"), ready, release))
    holder.start()
    try:
        assert ready.wait(20)
        notices: list[str] = []
        with (
            pytest.raises(LockHeld, match="another route run"),
            project_lock(tmp_path, tmp_path / "h", timeout_seconds=0.5, on_wait=notices.append),
        ):
            pass
        assert notices
        assert "pid" in notices[0]
    finally:
        release.set()
        holder.join(20)
    with project_lock(tmp_path, tmp_path / "h", timeout_seconds=1):
        pass


def test_lock_lives_outside_the_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    home = tmp_path / "home"
    with project_lock(project, home, timeout_seconds=1):
        assert list(project.iterdir()) == []
    assert lock_path(project, home).parent == home / "locks"
    assert lock_path(project, home) != lock_path(tmp_path, home)
