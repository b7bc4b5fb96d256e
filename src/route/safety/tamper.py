"""The tamper check around verify: what verify must not change, recorded before it runs,
compared after, and put back.

Verify runs code the model wrote. That code can rewrite what decides the *next* verify (the
Makefile, ``conftest.py``, a ``.pth`` file in the project's virtual environment) or what the
user's own tools run later (``git config core.fsmonitor``, a git hook). ``take_snapshot``
records the bytes and mode of:

- every file of the project that matches a protected pattern (``path_rules.DEFAULT_PROTECTED``
  and the caller's), and route's own configuration;
- in each virtual environment inside the project (``.venv/``, ``venv/``): ``pyvenv.cfg``, the
  files of ``bin/``, and the ``*.pth``, ``sitecustomize.py`` and ``usercustomize.py`` files of
  ``site-packages`` (startup hooks that run with every later start of that interpreter);
- git's ``config``, ``config.worktree``, ``info/`` and every file under ``hooks/`` (worktrees
  and ``.git`` files followed), and the ``extra`` files the caller names (the user's global git
  configuration).

``compare`` takes the same snapshot again and names every path that was changed, created or
removed; ``restore`` puts back what it can (previous bytes and mode; files that did not exist
are removed) and names what it could not.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from route.safety.path_rules import (
    ROUTE_CONFIG_NAMES,
    anchored_patterns,
    name_pattern,
    pattern_matches,
)
from route.safety.tool_names import project_virtual_environments

MAX_KEPT_BYTES = 8 * 1024 * 1024  # larger files are compared by size and time, not restored
_SKIPPED_DIRECTORIES = frozenset(
    {
        ".git",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        "node_modules",
    }
)
_STARTUP_HOOKS = ("sitecustomize.py", "usercustomize.py")


@dataclass(frozen=True, slots=True)
class FileState:
    path: Path  # absolute
    content: bytes | None  # None: too large to keep (then ``fingerprint`` decides)
    mode: int
    fingerprint: tuple[int, int]  # size, modification time in ns


Snapshot = dict[str, FileState]
"""Shown path (project-relative, or absolute outside the project) -> its state; a path that
does not exist is absent."""


def take_snapshot(root: Path, protected: Sequence[str], *, extra: Sequence[Path] = ()) -> Snapshot:
    """The state of everything verify must not change (see the module docstring)."""
    snapshot: Snapshot = {}
    for path in _watched(root, protected, extra):
        state = _state(path)
        if state is not None:
            snapshot[_shown(path, root)] = state
    return snapshot


def compare(
    before: Snapshot, root: Path, protected: Sequence[str], *, extra: Sequence[Path] = ()
) -> tuple[str, ...]:
    """Every path whose state differs from ``before`` (changed, created or removed), sorted."""
    after = take_snapshot(root, protected, extra=extra)
    changed = {
        shown
        for shown in before.keys() | after.keys()
        if _differs(before.get(shown), after.get(shown))
    }
    return tuple(sorted(changed))


def restore(before: Snapshot, changed: Sequence[str], root: Path) -> tuple[str, ...]:
    """Put each changed path back as ``before`` had it; return one line per path that could not
    be restored."""
    problems: list[str] = []
    for shown in changed:
        state = before.get(shown)
        path = state.path if state is not None else _absolute(shown, root)
        try:
            if state is None:
                _remove(path)
            elif state.content is None:
                problems.append(f"{shown}: too large to keep a copy, restore it by hand")
            else:
                _write_back(path, state.content, state.mode)
        except OSError as error:
            problems.append(f"{shown}: {error.strerror or error}")
    return tuple(problems)


def global_git_config_files(environment: dict[str, str] | None = None) -> tuple[Path, ...]:
    """The user's own git configuration: ``~/.gitconfig`` and ``$XDG_CONFIG_HOME/git/config``."""
    env = os.environ if environment is None else environment
    home = env.get("HOME")
    files: list[Path] = []
    if home:
        files.append(Path(home) / ".gitconfig")
    config_home = env.get("XDG_CONFIG_HOME") or (f"{home}/.config" if home else "")
    if config_home:
        files.append(Path(config_home) / "git" / "config")
    return tuple(files)


# --------------------------------------------------------------------------- what is watched


def _watched(root: Path, protected: Sequence[str], extra: Sequence[Path]) -> Iterator[Path]:
    yield from _protected_files(root, protected)
    for environment in project_virtual_environments(root):
        yield from _environment_files(environment)
    yield from _git_files(root)
    yield from extra


def _protected_files(root: Path, protected: Sequence[str]) -> Iterator[Path]:
    """Every file of the project that a protected pattern (or route's own configuration)
    matches; caches, git's directory and virtual environments are not walked."""
    names = name_pattern(protected)
    anchored = anchored_patterns(protected)
    inside_protected: dict[str, bool] = {os.fspath(root): False}
    for directory, subdirectories, file_names in os.walk(root):
        inherited = inside_protected.pop(directory, False)
        relative_directory = os.path.relpath(directory, root)
        prefix = "" if relative_directory == "." else relative_directory.replace(os.sep, "/") + "/"
        subdirectories[:] = [
            name
            for name in subdirectories
            if name not in _SKIPPED_DIRECTORIES and not name.endswith(".egg-info")
        ]
        for name in subdirectories:
            protected_directory = inherited or bool(names.fullmatch(name.casefold()))
            inside_protected[os.path.join(directory, name)] = protected_directory
        for name in file_names:
            folded = name.casefold()
            if (
                inherited
                or names.fullmatch(folded)
                or folded in ROUTE_CONFIG_NAMES
                or any(pattern_matches(pattern, prefix + name) for pattern in anchored)
            ):
                yield Path(directory) / name


def _environment_files(environment: Path) -> Iterator[Path]:
    yield environment / "pyvenv.cfg"
    yield from _files_in(environment / "bin")
    yield from _files_in(environment / "Scripts")
    for site_packages in [
        *environment.glob("lib/python*/site-packages"),
        *environment.glob("Lib/site-packages"),
    ]:
        yield from sorted(site_packages.glob("*.pth"))
        for name in _STARTUP_HOOKS:
            yield site_packages / name
    for library in environment.glob("lib/python*"):
        for name in _STARTUP_HOOKS:
            yield library / name


def _git_files(root: Path) -> Iterator[Path]:
    if (root / ".git").is_file():
        yield root / ".git"  # a worktree's or submodule's pointer to its git directory
    for git_directory in _git_directories(root):
        yield git_directory / "config"
        yield git_directory / "config.worktree"
        yield from _files_in(git_directory / "info")
        hooks = git_directory / "hooks"
        if hooks.is_dir() and not hooks.is_symlink():
            for directory, _, names in os.walk(hooks):
                yield from (Path(directory) / name for name in names)


def _git_directories(root: Path) -> list[Path]:
    """``.git`` itself, or for a worktree or submodule (a ``.git`` file) its git directory and
    the common directory it shares."""
    dot_git = root / ".git"
    if dot_git.is_dir():
        return [dot_git]
    try:
        text = dot_git.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    if not text.startswith("gitdir:"):
        return []
    git_directory = (root / text[len("gitdir:") :].strip()).resolve()
    directories = [git_directory]
    with contextlib.suppress(OSError):
        common = (git_directory / "commondir").read_text(encoding="utf-8").strip()
        directories.append((git_directory / common).resolve())
    return directories


def _files_in(directory: Path) -> list[Path]:
    try:
        return sorted(entry for entry in directory.iterdir() if not entry.is_dir())
    except OSError:
        return []


# --------------------------------------------------------------------------- states


def _state(path: Path) -> FileState | None:
    try:
        info = path.lstat()
    except OSError:
        return None
    fingerprint = (info.st_size, info.st_mtime_ns)
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(path).encode("utf-8", errors="surrogateescape")
        return FileState(path, b"symlink:" + target, info.st_mode, (0, 0))
    if not stat.S_ISREG(info.st_mode):
        return FileState(path, b"", info.st_mode, (0, 0))
    if info.st_size > MAX_KEPT_BYTES:
        return FileState(path, None, info.st_mode, fingerprint)
    try:
        content = path.read_bytes()
    except OSError:
        return FileState(path, None, info.st_mode, fingerprint)
    return FileState(path, content, info.st_mode, fingerprint)


def _differs(before: FileState | None, after: FileState | None) -> bool:
    if before is None or after is None:
        return before is not after
    if before.mode != after.mode:
        return True
    if before.content is None or after.content is None:
        return before.fingerprint != after.fingerprint
    return before.content != after.content


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _absolute(shown: str, root: Path) -> Path:
    path = Path(shown)
    return path if path.is_absolute() else root / shown


def _remove(path: Path) -> None:
    info = path.lstat()
    if stat.S_ISDIR(info.st_mode):
        raise OSError(f"{path} is now a directory; remove it by hand")
    path.unlink()


def _write_back(path: Path, content: bytes, mode: int) -> None:
    if content.startswith(b"symlink:") and stat.S_ISLNK(mode):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.symlink(content[len(b"symlink:") :], path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if path.is_symlink() or not path.is_file():
            _remove(path)
    descriptor, temporary = tempfile.mkstemp(prefix=".route-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        os.chmod(temporary, stat.S_IMODE(mode))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
