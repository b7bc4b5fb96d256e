"""The fix step: the project's own fixers (``ruff check --fix``, a formatter) run on the files route
wrote, before verify, so mechanical faults (unused imports, import order, formatting) never cost a
repair round.

The fix command is the user's (``fix_command`` in the config, ``--fix CMD``); ``{files}`` in it
becomes the files this attempt wrote, shell-quoted, relative to the project root where it runs.
It runs like verify (own process group, timeout, secrets removed from its environment). Its
changes are route's changes, under route's rules:

- it may change only the files route wrote in this run: if it creates, changes or deletes any
  other file, those files are put back (from a copy taken before it ran) and its changes to
  route's files are undone too, and the result says why;
- route's files must still be regular UTF-8 text files afterwards, else the same undo;
- what it changed is returned as ``FileChange`` values (before = as route wrote it), so the run
  reports them and ``--rollback`` restores the files as they were before the run.
"""

from __future__ import annotations

import os
import shlex
import stat
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from route.safety.path_rules import DEFAULT_PROTECTED
from route.values import FileChange, FixResult

if TYPE_CHECKING:
    from route.safety.verify import SandboxMode

FILES_PLACEHOLDER = "{files}"
# Folders not watched for changes: tool caches and environments a fixer may write to freely.
UNWATCHED_FOLDERS = frozenset({
    ".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache",
    ".ruff_cache", ".pytest_cache", ".tox", ".nox", ".cache", "target", ".next", ".eslintcache",
})  # fmt: skip
# Files copied before the fix runs, so any it should not have touched can be put back.
MAX_BACKUP_FILE_BYTES = 2_000_000
MAX_BACKUP_TOTAL_BYTES = 64_000_000
MAX_WATCHED_FILES = 50_000


@dataclass(frozen=True, slots=True)
class FixSettings:
    """How the fix step runs: like verify (``VerifySettings``), with the user's fix command."""

    command: str  # may hold {files}
    timeout_seconds: float = 300.0
    keep_env: tuple[str, ...] = ()  # variables kept although they look like secrets
    sandbox: SandboxMode = "off"
    extra_secret_patterns: tuple[str, ...] = ()
    protected: tuple[str, ...] = DEFAULT_PROTECTED  # what verify's tamper check watches


def command_line(template: str, files: Sequence[str]) -> str:
    """``template`` with ``{files}`` replaced by the shell-quoted ``files`` (nothing else in it
    is interpreted)."""
    return template.replace(FILES_PLACEHOLDER, shlex.join(files))


def run_fix(
    root: Path,
    settings: FixSettings,
    files: Sequence[str],
    owned: Collection[str],
    *,
    environment: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    cancel: threading.Event | None = None,
) -> FixResult:
    """Run the fix command on ``files`` (this attempt's) in ``root``. ``owned`` are every file
    route wrote in this run: the only files it may change. Never raises for a failing command;
    a fix that broke the rules is undone and says so in ``problem``. ``cancel``, once set,
    stops it as it stops verify (``Cancelled`` propagates)."""
    from route.safety.verify import VerifySettings, run_verify

    started = clock()
    command = command_line(settings.command, sorted(files))
    owned_set = frozenset(owned)
    before = _Snapshot.take(root)
    verify = run_verify(
        root,
        VerifySettings(
            command=command,
            timeout_seconds=settings.timeout_seconds,
            keep_env=settings.keep_env,
            sandbox=settings.sandbox,
            extra_secret_patterns=settings.extra_secret_patterns,
            protected=settings.protected,
        ),
        environment=environment,
        clock=clock,
        cancel=cancel,
    )
    after = _Snapshot.take(root)
    outside = sorted(path for path in before.differences(after) if path not in owned_set)
    changes, broken = _owned_changes(root, before, owned_set)
    problem = None
    if verify.skipped_reason:
        problem = f"not run: {verify.skipped_reason}"
    elif verify.timed_out:
        problem = f"timed out after {settings.timeout_seconds:g} s"
    if outside or broken:
        listed = ", ".join(outside[:5]) + (" ..." if len(outside) > 5 else "")
        why = (
            f"it changed files route did not write ({listed})"
            if outside
            else f"it left {', '.join(broken)} not a regular UTF-8 text file"
        )
        unrestored = [*before.restore(root, outside), *_undo(root, before, owned_set)]
        restored = (
            "they were put back and its changes to route's files undone"
            if not unrestored
            else "could not put back: " + "; ".join(unrestored) + " — restore them by hand"
        )
        problem = f"`{command}` was refused: {why}; {restored}"
        changes = ()
    return FixResult(
        command=command,
        exit_code=verify.exit_code,
        changes=changes,
        output_tail=verify.output_tail,
        duration_seconds=clock() - started,
        problem=problem,
    )


def _owned_changes(
    root: Path, before: _Snapshot, owned: frozenset[str]
) -> tuple[tuple[FileChange, ...], list[str]]:
    """Route's files the fix changed (as changes from route's bytes to the fixed ones), and those
    it broke (deleted, replaced by a link or a folder, made binary)."""
    changes: list[FileChange] = []
    broken: list[str] = []
    for path in sorted(owned):
        old = before.contents.get(path)
        if old is None:
            continue
        target = root / path
        try:
            info = target.lstat()
            new = target.read_bytes() if stat.S_ISREG(info.st_mode) else None
        except OSError:
            new = None
        if new is None or not _is_text(new):
            broken.append(path)
        elif new != old:
            changes.append(FileChange(path, "modify", old, new))
    return tuple(changes), broken


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _undo(root: Path, before: _Snapshot, owned: frozenset[str]) -> list[str]:
    """Put route's files back as route wrote them; the paths that could not be."""
    return before.restore(root, sorted(owned & before.contents.keys()))


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What the project held before the fix ran: each watched file's identity, and a copy of
    its bytes (within the backup limits)."""

    signatures: Mapping[str, tuple[int, int, int, int]]  # path -> (mode, size, mtime_ns, inode)
    contents: Mapping[str, bytes]

    @classmethod
    def take(cls, root: Path) -> _Snapshot:
        signatures: dict[str, tuple[int, int, int, int]] = {}
        contents: dict[str, bytes] = {}
        total = 0
        for relative, info in _walk(root):
            signatures[relative] = (info.st_mode, info.st_size, info.st_mtime_ns, info.st_ino)
            fits = total + info.st_size <= MAX_BACKUP_TOTAL_BYTES
            if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_BACKUP_FILE_BYTES and fits:
                try:
                    contents[relative] = (root / relative).read_bytes()
                except OSError:
                    continue
                total += info.st_size
        return cls(signatures, contents)

    def differences(self, after: _Snapshot) -> set[str]:
        """Paths created, deleted or changed between this snapshot and ``after``."""
        paths = set(self.signatures) | set(after.signatures)
        return {path for path in paths if self.signatures.get(path) != after.signatures.get(path)}

    def restore(self, root: Path, paths: Sequence[str]) -> list[str]:
        """Put ``paths`` back as they were (created ones removed); the ones that could not be."""
        problems: list[str] = []
        for path in paths:
            target = root / path
            try:
                if path not in self.signatures:
                    if target.is_symlink() or target.is_file():
                        target.unlink()
                    continue
                data = self.contents.get(path)
                if data is None:
                    problems.append(f"{path} (no copy was kept)")
                    continue
                if target.is_symlink() or (target.exists() and not target.is_file()):
                    _remove(target)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                os.chmod(target, stat.S_IMODE(self.signatures[path][0]))
            except OSError as error:
                problems.append(f"{path} ({error.strerror or error})")
        return problems


def _remove(target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        target.rmdir()
    else:
        target.unlink()


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """Every file and link under ``root`` outside the unwatched folders (links not followed)."""
    count = 0
    for directory, folders, names in os.walk(root):
        folders[:] = sorted(name for name in folders if name not in UNWATCHED_FOLDERS)
        base = Path(directory)
        for name in sorted(names):
            path = base / name
            try:
                info = path.lstat()
            except OSError:
                continue
            count += 1
            if count > MAX_WATCHED_FILES:
                return
            yield path.relative_to(root).as_posix(), info
