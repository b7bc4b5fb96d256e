"""The tamper check's snapshot, comparison and restore, on real files."""

from __future__ import annotations

import os
from pathlib import Path

from route.safety import tamper
from route.safety.path_rules import DEFAULT_PROTECTED, protection_reason

PATHS = [
    "Makefile",
    "Makefile.local",
    "sub/GNUmakefile",
    "rules.mk",
    "pyproject.toml",
    "pkg/pyproject.toml",
    "tests/conftest.py",
    "tests/unit/deep/conftest.py",
    "tests/test_ok.py",
    "app/main.py",
    "app/hook.pth",
    ".github/workflows/ci.yml",
    ".claude/settings.json",
    ".cursor/rules/x.mdc",
    "CLAUDE.md",
    "docs/claude.md",
    "README.md",
    "route.yaml",
    "sub/route.yaml",
    ".env.local",
    "certs/server.pem",
    "uv.lock",
    "notes.txt",
    "build/out.txt",
]


def make_tree(root: Path, paths: list[str]) -> None:
    for relative in paths:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{relative}\n")


def test_the_snapshot_holds_exactly_the_protected_files(tmp_path: Path) -> None:
    make_tree(tmp_path, PATHS)
    snapshot = tamper.take_snapshot(tmp_path, DEFAULT_PROTECTED, extra=())
    expected = {p for p in PATHS if protection_reason(p, DEFAULT_PROTECTED, ()) is not None}
    assert set(snapshot) == expected
    assert {"tests/test_ok.py", "app/main.py", "README.md", "notes.txt"}.isdisjoint(snapshot)
    assert {"docs/claude.md", "route.yaml", "sub/route.yaml", "uv.lock"} <= set(snapshot)


def test_changes_creations_removals_and_modes_are_found_and_restored(tmp_path: Path) -> None:
    make_tree(tmp_path, ["Makefile", "tests/conftest.py", "setup.cfg", "app/x.py"])
    (tmp_path / "Makefile").chmod(0o644)
    before = tamper.take_snapshot(tmp_path, DEFAULT_PROTECTED, extra=())
    (tmp_path / "Makefile").write_text("verify:\n\ttrue\n")
    (tmp_path / "setup.cfg").chmod(0o755)
    (tmp_path / "tests" / "conftest.py").unlink()
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --collect-only\n")
    (tmp_path / "app" / "x.py").write_text("changed, and not protected\n")
    changed = tamper.compare(before, tmp_path, DEFAULT_PROTECTED, extra=())
    assert changed == ("Makefile", "pytest.ini", "setup.cfg", "tests/conftest.py")
    assert tamper.restore(before, changed, tmp_path) == ()
    assert (tmp_path / "Makefile").read_text() == "Makefile\n"
    assert (tmp_path / "Makefile").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "setup.cfg").stat().st_mode & 0o777 == (before["setup.cfg"].mode & 0o777)
    assert (tmp_path / "tests" / "conftest.py").read_text() == "tests/conftest.py\n"
    assert not (tmp_path / "pytest.ini").exists()
    assert tamper.compare(before, tmp_path, DEFAULT_PROTECTED, extra=()) == ()


def test_a_file_too_large_to_keep_is_found_but_named_as_not_restored(tmp_path: Path) -> None:
    lock = tmp_path / "package-lock.json"
    lock.write_bytes(b"x" * (tamper.MAX_KEPT_BYTES + 1))
    before = tamper.take_snapshot(tmp_path, DEFAULT_PROTECTED, extra=())
    lock.write_bytes(b"y" * (tamper.MAX_KEPT_BYTES + 2))
    changed = tamper.compare(before, tmp_path, DEFAULT_PROTECTED, extra=())
    assert changed == ("package-lock.json",)
    problems = tamper.restore(before, changed, tmp_path)
    assert problems == ("package-lock.json: too large to keep a copy, restore it by hand",)


def test_git_of_a_worktree_is_followed(tmp_path: Path) -> None:
    common = tmp_path / "main.git"
    (common / "worktrees" / "wt").mkdir(parents=True)
    (common / "config").write_text("[core]\n")
    (common / "hooks").mkdir()
    (common / "worktrees" / "wt" / "commondir").write_text("../..\n")
    project = tmp_path / "wt"
    project.mkdir()
    (project / ".git").write_text(f"gitdir: {common / 'worktrees' / 'wt'}\n")
    before = tamper.take_snapshot(project, DEFAULT_PROTECTED, extra=())
    (common / "config").write_text("[core]\n\tfsmonitor = evil\n")
    (common / "hooks" / "post-checkout").write_text("#!/bin/sh\n")
    os.chmod(common / "hooks" / "post-checkout", 0o755)
    changed = tamper.compare(before, project, DEFAULT_PROTECTED, extra=())
    assert changed == (str(common / "config"), str(common / "hooks" / "post-checkout"))
    assert tamper.restore(before, changed, project) == ()
    assert (common / "config").read_text() == "[core]\n"
    assert not (common / "hooks" / "post-checkout").exists()


def test_global_git_config_files_come_from_home_and_xdg() -> None:
    files = tamper.global_git_config_files({"HOME": "/h", "XDG_CONFIG_HOME": "/x"})
    assert files == (Path("/h/.gitconfig"), Path("/x/git/config"))
    assert tamper.global_git_config_files({}) == ()
