"""Confined, all-or-nothing writes of a model's answer; dry-run diffs; rollback.

``plan_writes`` turns a ``ParsedAnswer`` into a ``WritePlan`` and only *reads* the disk: every
path is validated and every edit applied in memory before the first byte is written.
``apply_plan`` then writes the whole plan atomically per file (temporary file in the same
directory, fsync, rename) and puts everything back if any write fails. ``rollback`` undoes an
applied plan later (``--rollback``).

Path rules (``normalize_path``, protected patterns, symbolic links) live in
``route.safety.path_rules``; every path goes through them before anything is planned.

Content rules: a whole-file block replaces, and a SEARCH/REPLACE block edits, an existing file
only when its path is in ``modifiable`` (context files, targets, files route wrote earlier in
the run) or with ``force``. A SEARCH text that does not occur exactly once is tried with the
tolerant rules of ``route.safety.edit_match`` (copied line numbers, trailing whitespace, a
shifted indentation), each accepted only where it finds exactly one place. A new file may not
shadow what verify runs: a top-level module named like a tool or standard-library module
(``pytest.py``; ``--allow`` overrides) or a module beside a package of the same name (``x.py``
and ``x/__init__.py``; ``--force`` overrides). The ``[tool.route]`` table of a
``pyproject.toml`` is route's own configuration: a change to it is refused even when
``pyproject.toml`` is allowed. Content with a NUL byte, text that is not valid UTF-8, or above
``max_file_bytes`` is refused. Whole-file content is kept as written except that a final newline
is added when missing (an empty file stays empty), and an existing file that uses CRLF line ends
keeps them. Content identical to the disk is no change.

Order and duplicates: whole-file blocks are planned first, in answer order, then edits in
answer order (an edit to a file that a block of the same answer writes applies to that block's
text). The same path twice: the later whole-file block wins. Two paths that differ only by
case, or a file path that another path of the answer uses as a directory, fail the attempt.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import stat
import tempfile
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from route.errors import UsageError, WriteConflict, WriteFailed
from route.safety.edit_match import Tolerant, tolerant_apply
from route.safety.path_rules import (
    DEFAULT_PROTECTED,
    Target,
    clean_entries,
    inspect_target,
    is_allowed,
    normalize_path,
    package_shadow_reason,
    prefixes,
    protection_reason,
    safe_target,
    tool_shadow_reason,
)
from route.values import (
    ChangeKind,
    EditBlock,
    FileBlock,
    FileChange,
    ParsedAnswer,
    Refusal,
    WritePlan,
)

__all__ = ["apply_plan", "plan_writes", "render_diff", "rollback"]

_TEMPORARY_PREFIX = ".route-"


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True, slots=True)
class _Rules:
    root: Path
    allow: tuple[str, ...]
    modifiable: frozenset[str]
    force: bool
    protected: tuple[str, ...]
    max_file_bytes: int
    tool_names: frozenset[str]

    def allow_entry(self, relative: str) -> bool:
        return is_allowed(relative, self.allow)


class _Planner:
    """Accumulates the outcome of one ``plan_writes`` call."""

    def __init__(self, rules: _Rules) -> None:
        self.rules = rules
        self.targets: dict[str, Target] = {}  # relative -> what is on disk
        self.texts: dict[str, str] = {}  # relative -> planned text (files, then edits)
        self.refusals: list[Refusal] = []
        self.failures: list[str] = []
        self.refused_paths: dict[str, str] = {}  # relative -> reason

    def refuse(self, path: str, reason: str) -> None:
        refusal = Refusal(path, reason)
        if refusal not in self.refusals:
            self.refusals.append(refusal)

    def target(self, raw: str) -> Target | None:
        """Validate ``raw``; record a refusal and return None when it cannot be written."""
        try:
            relative = normalize_path(raw)
        except ValueError as error:
            self.refuse(raw, str(error))
            return None
        if relative in self.targets:
            return self.targets[relative]
        if relative in self.refused_paths:
            self.refuse(raw, self.refused_paths[relative])
            return None
        reason = self._protection(relative)
        target: Target | None = None
        if reason is None:
            try:
                target = inspect_target(relative, self.rules.root)
            except ValueError as error:
                reason = str(error)
        if target is not None and target.resolved != relative:
            reason = self._protection(target.resolved)
        if reason is not None or target is None:
            reason = reason or "cannot be written"
            self.refused_paths[relative] = reason
            self.refuse(raw, reason)
            return None
        self.targets[relative] = target
        return target

    def _protection(self, relative: str) -> str | None:
        return protection_reason(relative, self.rules.protected, self.rules.allow)

    def creation_reason(self, target: Target) -> str | None:
        """Why a new file at ``target`` would shadow something verify runs, or None."""
        if target.before is not None:
            return None
        reason = tool_shadow_reason(target.relative, self.rules.tool_names)
        if reason is not None and not self.rules.allow_entry(target.relative):
            return reason
        if not self.rules.force:
            return package_shadow_reason(target.relative, self.rules.root)
        return None

    def content_reason(self, text: str) -> str | None:
        if "\x00" in text:
            return "binary-looking content (NUL bytes): route writes text files only"
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            return "content is not valid UTF-8 text"
        if size > self.rules.max_file_bytes:
            return (
                f"content is {size} bytes, above the {self.rules.max_file_bytes}-byte limit; "
                "split the file or raise the limit"
            )
        return None


def plan_writes(
    parsed: ParsedAnswer,
    root: Path,
    *,
    allow: Sequence[str] = (),
    modifiable: Collection[str] = (),
    force: bool = False,
    protected: Sequence[str] = DEFAULT_PROTECTED,
    max_file_bytes: int = 1_000_000,
    tool_names: Collection[str] = (),
) -> WritePlan:
    """Validate every path and apply every edit in memory; write nothing. ``tool_names``
    (``route.safety.tool_names.verify_tool_names``) are the module names a new top-level module
    may not take.

    Raises ``UsageError`` only when ``root`` is not a directory; everything the model got wrong
    becomes a refusal or a failure in the plan.
    """
    root_real = _project_root(root)
    rules = _Rules(
        root=root_real,
        allow=clean_entries(allow, root_real),
        modifiable=frozenset(clean_entries(modifiable, root_real)),
        force=force,
        protected=tuple(protected),
        max_file_bytes=max_file_bytes,
        tool_names=frozenset(tool_names),
    )
    planner = _Planner(rules)
    for block in _last_blocks(parsed.files):
        _plan_file(block, planner)
    edit_numbers: dict[str, int] = {}
    for edit in parsed.edits:
        _plan_edit(edit, planner, edit_numbers)
    _check_names(planner)
    return WritePlan(_changes(planner), tuple(planner.refusals), tuple(planner.failures))


def _project_root(root: Path) -> Path:
    real = Path(os.path.realpath(root))
    if not real.is_dir():
        raise UsageError(f"project root {root} is not a directory — run route inside a project")
    return real


def _check_names(planner: _Planner) -> None:
    """Fail the attempt on case-only collisions, two names for one file (through a link), and
    a file used as a directory."""
    names: dict[str, str] = {}
    for relative in planner.texts:
        other = names.setdefault(relative.casefold(), relative)
        if other != relative:
            planner.failures.append(
                f"{other} and {relative} differ only by case: use one name for one file"
            )
    real_names: dict[str, str] = {}
    for relative in planner.texts:
        other = real_names.setdefault(planner.targets[relative].resolved, relative)
        if other != relative:
            planner.failures.append(
                f"{other} and {relative} are the same file (through a symbolic link): use one name"
            )
    for folded, relative in names.items():
        for prefix in prefixes(folded)[1:]:
            if prefix in names:
                planner.failures.append(
                    f"{names[prefix]} is written as a file but {relative} uses it as a directory"
                )


def _last_blocks(blocks: Sequence[FileBlock]) -> list[FileBlock]:
    """One block per path: the later whole-file block wins (kept at its first position)."""
    chosen: dict[str, FileBlock] = {}
    for block in blocks:
        try:
            key = normalize_path(block.path)
        except ValueError:
            key = f"\x00{len(chosen)}"  # invalid: keep each one, it will be refused
        chosen[key] = block
    return list(chosen.values())


def _plan_file(block: FileBlock, planner: _Planner) -> None:
    target = planner.target(block.path)
    if target is None:
        return
    text = block.content
    if text and not text.endswith("\n"):
        text += "\n"
    reason = planner.content_reason(text)
    if reason is not None:
        planner.refuse(block.path, reason)
        return
    collision = _case_collision(target.relative, planner.rules.root)
    if target.before is None and collision is not None:
        planner.refuse(
            block.path,
            f"differs only by case from the existing {collision}: use that name",
        )
        return
    if target.before is not None:
        text = _match_line_ends(text, target.before)
        if text.encode("utf-8") != target.before and not _may_replace(target, planner.rules):
            planner.refuse(
                block.path,
                "exists; pass it with -c/--context or use --force to let the model replace it",
            )
            return
    reason = planner.creation_reason(target) or _route_config_reason(target, text)
    if reason is not None:
        planner.refuse(block.path, reason)
        return
    planner.texts[target.relative] = text


def _may_replace(target: Target, rules: _Rules) -> bool:
    return rules.force or target.relative in rules.modifiable or target.resolved in rules.modifiable


def _case_collision(relative: str, root: Path) -> str | None:
    parent_relative, _, name = relative.rpartition("/")
    parent = root / parent_relative if parent_relative else root
    try:
        entries = os.listdir(parent)
    except OSError:
        return None
    folded = name.casefold()
    for entry in entries:
        if entry != name and entry.casefold() == folded:
            return f"{parent_relative}/{entry}" if parent_relative else entry
    return None


def _match_line_ends(text: str, before: bytes) -> str:
    """Keep CRLF line ends when the existing file uses them throughout."""
    if b"\r\n" in before and before.count(b"\n") == before.count(b"\r\n") and "\r" not in text:
        return text.replace("\n", "\r\n")
    return text


def _plan_edit(edit: EditBlock, planner: _Planner, numbers: dict[str, int]) -> None:
    target = planner.target(edit.path)
    if target is None:
        return
    relative = target.relative
    numbers[relative] = numbers.get(relative, 0) + 1
    label = f"{relative}: SEARCH/REPLACE block {numbers[relative]}"
    current = planner.texts.get(relative)
    if current is None and target.before is not None and not _may_replace(target, planner.rules):
        planner.refuse(
            edit.path,
            "exists and was neither given with -c/--context nor named as a target: "
            "SEARCH/REPLACE edits apply only to those (or use --force)",
        )
        return
    if current is None and target.before is not None:
        try:
            current = target.before.decode("utf-8")
        except UnicodeDecodeError:
            planner.failures.append(f"{label}: the file is not UTF-8 text, it cannot be edited")
            return
    result, problem = _apply_edit(current, edit.search, edit.replace)
    if problem is not None:
        planner.failures.append(f"{label} {problem}")
        return
    reason = planner.content_reason(result) or _route_config_reason(target, result)
    if reason is None and current is None:
        reason = planner.creation_reason(target)
    if reason is not None:
        planner.refuse(edit.path, reason)
        return
    planner.texts[relative] = result


def _route_config_reason(target: Target, text: str) -> str | None:
    """A change to the ``[tool.route]`` table of a ``pyproject.toml`` (route's own settings:
    the verify command, the API key variable, ...) is refused, whatever ``--allow`` says."""
    if target.relative.rsplit("/", 1)[-1].casefold() != "pyproject.toml":
        return None
    before = _route_table(target.before.decode("utf-8", errors="replace") if target.before else "")
    after = _route_table(text)
    if after == before:
        return None
    return "changes [tool.route], route's own configuration: the model never writes it"


def _route_table(text: str) -> object:
    """The ``[tool.route]`` table of a pyproject text; None when absent or when the text is not
    valid TOML (route then reads no settings from it)."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    tool = data.get("tool")
    return tool.get("route") if isinstance(tool, dict) else None


def _apply_edit(current: str | None, search: str, replace: str) -> tuple[str, str | None]:
    """(new text, None) or (unchanged, why the block does not apply)."""
    if current is None:
        if search:
            return "", "cannot apply: the file does not exist (use an empty SEARCH to create it)"
        return replace, None
    if not search:
        if current:
            return current, (
                "has an empty SEARCH but the file is not empty: copy the exact lines to change"
            )
        return replace, None
    candidates = [(search, replace)]
    if "\r\n" in current and "\r" not in search:
        candidates.append((search.replace("\n", "\r\n"), replace.replace("\n", "\r\n")))
    for wanted, replacement in candidates:
        count = _occurrences(current, wanted)
        if count == 1:
            return current.replace(wanted, replacement, 1), None
        if count > 1:
            return current, (
                f"matches {count} times; the SEARCH text must match the current file exactly "
                "once (add lines of context to make it unique)"
            )
    if current and not current.endswith("\n"):
        # A file without a final newline: the SEARCH text usually ends with one.
        widened = current + ("\r\n" if "\r\n" in current else "\n")
        for wanted, replacement in candidates:
            if _occurrences(widened, wanted) == 1:
                return widened.replace(wanted, replacement, 1), None
    tolerant = tolerant_apply(current, search, replace)
    if isinstance(tolerant, Tolerant):
        return tolerant.text, None
    if tolerant > 1:
        return current, (
            "matches several places once whitespace is ignored; the SEARCH text must match the "
            "current file exactly once (add lines of context to make it unique)"
        )
    return current, (
        "matches 0 times; the SEARCH text must match the current file exactly once "
        "(copy the exact current lines, whitespace included)"
    )


def _occurrences(text: str, search: str) -> int:
    """How many times ``search`` occurs; at least 2 when two occurrences overlap."""
    first = text.find(search)
    if first < 0:
        return 0
    second = text.find(search, first + 1)
    if second < 0:
        return 1
    return max(2, text.count(search))


def _changes(planner: _Planner) -> tuple[FileChange, ...]:
    changes: list[FileChange] = []
    for relative, text in planner.texts.items():
        before = planner.targets[relative].before
        after = text.encode("utf-8")
        if after == before:
            continue
        kind: ChangeKind = "create" if before is None else "modify"
        changes.append(FileChange(relative, kind, before, after))
    return tuple(changes)


# --------------------------------------------------------------------------- applying


def apply_plan(plan: WritePlan, root: Path) -> None:
    """Write every change of ``plan`` or none of them. A plan with refusals writes nothing
    (``UsageError``): an answer is applied whole or not at all.

    Raises ``WriteConflict`` (nothing written) when a file changed since the plan was made, and
    ``WriteFailed`` when a write failed: the files already written are restored first.
    """
    if plan.failures:
        raise UsageError(
            "the write plan has failures, so nothing was written: " + "; ".join(plan.failures)
        )
    if plan.refusals:
        refused = "; ".join(f"{refusal.path}: {refusal.reason}" for refusal in plan.refusals)
        raise UsageError(f"part of the answer was refused, so nothing was written: {refused}")
    root_real = _project_root(root)
    for change in plan.changes:
        _recheck(change, root_real)
    mode_mask = _new_file_mode()
    applied: list[FileChange] = []
    created_directories: list[Path] = []
    current = "a file"
    try:
        for change in plan.changes:
            current = change.path
            target = safe_target(change.path, root_real)
            created_directories.extend(_make_parents(target.parent, root_real))
            _write_atomic(target, change.after, _mode_for(target, mode_mask))
            applied.append(change)
    except BaseException as error:
        problems = _undo(applied, root_real, created_directories)
        if not isinstance(error, Exception):
            raise  # KeyboardInterrupt and friends: undone, now let them through
        detail = getattr(error, "strerror", None) or str(error)
        restored = (
            f"the {len(applied)} file(s) already written were put back"
            if not problems
            else "restoring also failed: " + "; ".join(problems)
        )
        raise WriteFailed(
            f"could not write {current}: {detail}; {restored} — fix the problem and run again"
        ) from error


def _recheck(change: FileChange, root: Path) -> None:
    """Make sure the disk still holds what the plan was made against."""
    try:
        target = safe_target(change.path, root)
        try:
            info: os.stat_result | None = target.lstat()
        except (FileNotFoundError, NotADirectoryError):
            info = None
        if change.before is None:
            if info is not None:
                raise ValueError("now exists")
            return
        if info is None or not stat.S_ISREG(info.st_mode):
            raise ValueError("is no longer a regular file")
        if target.read_bytes() != change.before:
            raise ValueError("changed on disk")
    except (ValueError, OSError) as error:
        raise WriteConflict(
            f"{change.path} {error} since the answer was checked; nothing was written — "
            "run route again"
        ) from error


def _new_file_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _mode_for(target: Path, new_file_mode: int) -> int:
    try:
        return stat.S_IMODE(target.lstat().st_mode)
    except OSError:
        return new_file_mode


def _make_parents(directory: Path, root: Path) -> list[Path]:
    """Create the missing directories down to ``directory``; return those created, in order."""
    missing: list[Path] = []
    current = directory
    while current != root and not current.exists():
        missing.append(current)
        current = current.parent
    created: list[Path] = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except BaseException:
            _remove_directories(created)
            raise
        created.append(path)
    return created


def _write_atomic(target: Path, data: bytes, mode: int) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=_TEMPORARY_PREFIX, dir=target.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(target.parent)


def _sync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _undo(applied: Sequence[FileChange], root: Path, directories: Sequence[Path]) -> list[str]:
    """Put back ``applied`` (newest first) and remove ``directories``; return what failed."""
    problems = list(_restore_files(applied, root))
    problems.extend(_remove_directories(directories))
    return problems


def _restore_files(changes: Sequence[FileChange], root: Path) -> Iterator[str]:
    for change in reversed(changes):
        try:
            target = safe_target(change.path, root)
            if change.before is None:
                if target.is_file():
                    target.unlink()
            else:
                mode = _mode_for(target, _new_file_mode())
                target.parent.mkdir(parents=True, exist_ok=True)
                _write_atomic(target, change.before, mode)
        except (OSError, ValueError) as error:
            yield f"{change.path}: {getattr(error, 'strerror', None) or error}"


def _remove_directories(directories: Sequence[Path]) -> list[str]:
    problems: list[str] = []
    for directory in reversed(directories):
        try:
            directory.rmdir()
        except FileNotFoundError:
            continue
        except OSError as error:
            if directory.is_dir() and any(directory.iterdir()):
                continue  # something else lives there now: keep it
            problems.append(f"{directory}: {error.strerror}")
    return problems


def rollback(changes: Sequence[FileChange], root: Path) -> None:
    """Undo applied ``changes``: restore the exact previous bytes, delete created files and the
    directories above them that are left empty (up to, not including, the root).

    Raises ``WriteFailed`` naming every file that could not be restored (the others are).
    """
    root_real = _project_root(root)
    problems = list(_restore_files(changes, root_real))
    for change in changes:
        if change.kind == "create":
            _prune_empty_parents(change.path, root_real)
    if problems:
        raise WriteFailed(
            "rollback could not restore: " + "; ".join(problems) + " — restore them by hand"
        )


def _prune_empty_parents(relative: str, root: Path) -> None:
    parts = relative.split("/")[:-1]
    while parts:
        directory = root.joinpath(*parts)
        if directory.is_symlink() or not directory.is_dir():
            return
        try:
            directory.rmdir()
        except OSError:
            return
        parts.pop()


# --------------------------------------------------------------------------- dry run


def render_diff(plan: WritePlan, root_label: str = "") -> str:
    """A unified diff of every change, then one line per refusal and failure (``--dry-run``)."""
    prefix = f"{root_label.rstrip('/')}/" if root_label else ""
    pieces: list[str] = []
    for change in plan.changes:
        before = _text(change.before)
        after = _text(change.after)
        source = "/dev/null" if change.before is None else f"a/{prefix}{change.path}"
        lines = difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=source,
            tofile=f"b/{prefix}{change.path}",
        )
        for line in lines:
            pieces.append(
                line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
            )
    for refusal in plan.refusals:
        pieces.append(f"refused: {refusal.path}: {refusal.reason}\n")
    for failure in plan.failures:
        pieces.append(f"failed: {failure}\n")
    return "".join(pieces)


def _text(data: bytes | None) -> str:
    return "" if data is None else data.decode("utf-8", errors="replace")
