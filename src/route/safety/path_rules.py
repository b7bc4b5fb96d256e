"""Which paths route may write: text checks of a path the model named, the protected-path
patterns, and what the disk says about a target (symbolic links, parents, file kinds).

Path rules (each refusal says why, and how to allow it when that is possible):

- refused: empty paths, absolute paths (``/x``, ``C:\\x``, ``C:x``, ``\\\\server\\x``), ``~``,
  ``..`` components, components made only of dots or ending with a dot or space, NUL and other
  control or invisible characters, ``:``, URL-encoded bytes (``%2e``, ``%2f``), non-ASCII
  look-alikes of ``/``, ``.`` and ``\\`` (fullwidth stop, division slash, ...), a component
  over 255 bytes or a path over 4096 bytes;
- a backslash is read as a separator (``src\\app.py`` is ``src/app.py``); ``./`` and doubled
  slashes are dropped; result paths are POSIX, relative and normalized;
- refused: paths whose existing parent is a file, paths through a symbolic link that resolves
  outside the root, a symbolic link as the target itself (route never writes through links),
  directories and special files as targets;
- ``.git`` (any component, any case) and route's own configuration (``route.yaml``) are refused
  always, even when named in ``allow``;
- protected paths (``DEFAULT_PROTECTED`` plus the caller's) are refused unless named in
  ``allow``, because ``make verify`` runs project code and the model must not be able to
  rewrite what verify executes;
- shadowing (checked by the writer for new files): a top-level module named like a tool or
  standard-library module verify may run (``tool_shadow_reason``; ``allow`` overrides), and a
  module beside a package of the same name (``package_shadow_reason``; ``--force`` overrides).
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PROTECTED: tuple[str, ...] = (
    # The verify entry point and what it includes.
    "Makefile*",
    "GNUmakefile",
    "*.mk",
    "Justfile",
    ".justfile",
    "Taskfile*",
    # What configures or replaces the checks verify runs.
    "pyproject.toml",
    "setup.cfg",
    "setup.py",
    "tox.ini",
    "pytest.ini",
    "conftest.py",
    "noxfile.py",
    "mypy.ini",
    ".mypy.ini",
    "ruff.toml",
    ".ruff.toml",
    ".flake8",
    ".pylintrc",
    "pylintrc",
    ".coveragerc",
    ".pre-commit-config.yaml",
    "sitecustomize.py",
    "usercustomize.py",
    "*.pth",
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "pnpm-lock.yaml",
    "*.lock",
    "tsconfig*.json",
    "jest.config.*",
    "vitest.config.*",
    ".eslintrc*",
    "eslint.config.*",
    "Cargo.toml",
    "build.rs",
    "go.mod",
    "go.sum",
    # Virtual environments and installed packages (what verify imports and runs).
    ".venv/**",
    "venv/**",
    "node_modules/**",
    # Continuous integration.
    ".ci/**",
    ".github/**",
    ".gitlab/**",
    ".gitlab-ci.yml",
    ".circleci/**",
    ".buildkite/**",
    ".travis.yml",
    "azure-pipelines.yml",
    "Jenkinsfile",
    # Secrets and keys.
    ".env*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    # What steers the calling agent, its editor and git.
    "CLAUDE.md",
    "AGENTS.md",
    "GEMINI.md",
    ".cursorrules",
    ".cursor/**",
    ".windsurfrules",
    ".clinerules",
    ".vscode/**",
    ".idea/**",
    ".gitattributes",
    ".gitmodules",
    ".skills/**",
    ".claude/**",
    ".mcp.json",
)
"""Glob patterns refused unless named with ``--allow``, matched case-insensitively.

A pattern without ``/`` matches the name of the file or of any parent directory, at any depth
(``*.pem`` protects ``certs/server.pem``, ``conftest.py`` protects ``tests/conftest.py``); a
pattern with ``/`` is anchored at the root; a trailing ``/**`` means the directory and everything
below it. Everything that decides what verify runs and how is here (the Makefile, tool
configuration such as ``pyproject.toml`` and ``pytest.ini``, ``conftest.py``, startup hooks such
as ``*.pth`` and ``sitecustomize.py``, virtual environments), because a model that can change
them can make a failing check report success. So are the files that steer the calling agent
(``CLAUDE.md``, ``AGENTS.md``, editor settings) and git (``.gitattributes``, ``.gitmodules``).
"""

ROUTE_CONFIG_NAMES = frozenset({"route.yaml"})
"""route's own configuration files: never written by the model, even with ``--allow`` (the
``[tool.route]`` table of a ``pyproject.toml`` is guarded by the writer the same way)."""

MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 4096
_GIT_NAMES = frozenset({".git", "git~1"})
_LOOKALIKE_WORDS = ("SOLIDUS", "SLASH", "FULL STOP", "DOT LEADER", "DOT OPERATOR", "ONE DOT")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


# --------------------------------------------------------------------------- path text


def normalize_path(raw: str) -> str:
    """The POSIX relative form of ``raw``, or raise ``ValueError`` with the reason (one line).

    Only the text is checked here; the disk is looked at by ``inspect_target``.
    """
    if not raw or not raw.strip():
        raise ValueError("empty path")
    for character in raw:
        reason = _bad_character(character)
        if reason:
            raise ValueError(reason)
    if _has_percent_escape(raw):
        raise ValueError("URL-encoded characters (%XX) in the path")
    text = raw.replace("\\", "/")
    if text.startswith("/"):
        raise ValueError("absolute path: give a path relative to the project root")
    if len(text) >= 2 and text[1] == ":" and text[0].isascii() and text[0].isalpha():
        raise ValueError("absolute Windows path: give a path relative to the project root")
    if ":" in text:
        raise ValueError("':' in the path (drive letters and alternate streams are refused)")
    if len(text.encode("utf-8")) > MAX_PATH_BYTES:
        raise ValueError(f"path longer than {MAX_PATH_BYTES} bytes")
    components = [part for part in text.split("/") if part not in ("", ".")]
    if not components:
        raise ValueError("the path names the project root, not a file")
    if raw.replace("\\", "/").endswith("/"):
        raise ValueError("the path ends with '/', it names a directory")
    for part in components:
        _check_component(part)
    if [part.lower() for part in components[:2]] == ["path", "to"]:
        raise ValueError("a placeholder path (path/to/...): use the real path the conventions give")
    return "/".join(components)


def _bad_character(character: str) -> str:
    if character == "\x00":
        return "NUL byte in the path"
    if character == " ":
        return ""
    category = unicodedata.category(character)
    if category[0] in "CZ":
        return f"control or invisible character U+{ord(character):04X} in the path"
    if not character.isascii():
        folded = unicodedata.normalize("NFKC", character)
        name = unicodedata.name(character, "")
        if any(mark in folded for mark in "/.\\:") or any(
            word in name for word in _LOOKALIKE_WORDS
        ):
            return f"look-alike of '/', '.' or '\\' (U+{ord(character):04X}) in the path"
    return ""


def _has_percent_escape(text: str) -> bool:
    return any(
        text[index] == "%" and text[index + 1] in _HEX_DIGITS and text[index + 2] in _HEX_DIGITS
        for index in range(len(text) - 2)
    )


def _check_component(part: str) -> None:
    if part.strip(".") == "":
        raise ValueError("'..' or a name made only of dots: the path must stay inside the project")
    if part.startswith("~"):
        raise ValueError("'~' in the path: give a path relative to the project root")
    if part != part.strip(" ") or part.endswith("."):
        raise ValueError(f"the name {part!r} starts or ends with a space or ends with a dot")
    if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
        raise ValueError(f"a name in the path is longer than {MAX_COMPONENT_BYTES} bytes")


def prefixes(relative: str) -> list[str]:
    """``a/b/c`` -> ``["a/b/c", "a/b", "a"]``."""
    parts = relative.split("/")
    return ["/".join(parts[:count]) for count in range(len(parts), 0, -1)]


def _is_git(relative: str) -> bool:
    return any(part.casefold() in _GIT_NAMES for part in relative.split("/"))


def _pattern_matches(pattern: str, relative: str) -> bool:
    base = _base(pattern)
    if not base:
        return False
    for candidate in prefixes(relative):
        target = candidate if "/" in base else candidate.rsplit("/", 1)[-1]
        if fnmatch.fnmatchcase(target.casefold(), base):
            return True
    return False


def name_pattern(patterns: Sequence[str]) -> re.Pattern[str]:
    """One regular expression for the patterns that match a single name at any depth (those
    without ``/``), to be matched against a casefolded file or directory name: a fast path for
    walking a whole project tree (``route.safety.tamper``)."""
    bases = [_base(pattern) for pattern in patterns]
    alternatives = [fnmatch.translate(base) for base in bases if base and "/" not in base]
    return re.compile("|".join(alternatives) or r"(?!)")


def anchored_patterns(patterns: Sequence[str]) -> tuple[str, ...]:
    """The patterns ``name_pattern`` leaves out (anchored at the root: they hold ``/``)."""
    return tuple(pattern for pattern in patterns if "/" in _base(pattern))


def pattern_matches(pattern: str, relative: str) -> bool:
    """Whether one protected pattern matches ``relative`` (see ``DEFAULT_PROTECTED``)."""
    return _pattern_matches(pattern, relative)


def _base(pattern: str) -> str:
    base = pattern[:-3] if pattern.endswith("/**") else pattern
    return base.strip("/").casefold()


def is_allowed(relative: str, allow: Sequence[str]) -> bool:
    """Whether ``relative`` is named (or matched) by an ``--allow`` entry."""
    return any(_pattern_matches(entry, relative) for entry in allow)


def clean_entries(entries: Collection[str], root: Path) -> tuple[str, ...]:
    """Normalize user-given paths (``--allow``, ``-c``) to the relative POSIX form."""
    cleaned: list[str] = []
    for entry in entries:
        text = entry.replace("\\", "/")
        if text.startswith("/"):
            try:
                text = Path(text).resolve().relative_to(root).as_posix()
            except ValueError:
                continue
        parts = [part for part in text.split("/") if part not in ("", ".")]
        if parts:
            cleaned.append("/".join(parts))
    return tuple(cleaned)


def target_paths(
    raw: Sequence[str], root: Path, cwd: Path, *, protected: Sequence[str], allow: Sequence[str]
) -> tuple[str, ...]:
    """The ``--target`` files as project-relative POSIX paths (given relative to ``cwd`` or
    absolute), each once; ``ValueError`` names the first one that is outside the project,
    malformed or protected, since no answer could write it."""
    resolved_root = root.resolve()
    targets: list[str] = []
    for entry in raw:
        path = (cwd / entry).resolve()
        try:
            relative = path.relative_to(resolved_root).as_posix()
        except ValueError:
            raise ValueError(f"--target {entry} is outside the project root {root}") from None
        if path.is_dir() or entry.endswith(("/", "\\")):
            raise ValueError(f"--target {entry} names a directory: name the file to write")
        try:
            relative = normalize_path(relative)
        except ValueError as exc:
            raise ValueError(f"--target {entry}: {exc}") from None
        reason = protection_reason(relative, protected, allow)
        if reason:
            raise ValueError(f"--target {entry}: {reason}")
        if relative not in targets:
            targets.append(relative)
    return tuple(targets)


def protection_reason(relative: str, protected: Sequence[str], allow: Sequence[str]) -> str | None:
    """Why ``relative`` may not be written whatever the model says (``.git``, route's own
    configuration, or a protected pattern not named in ``allow``), or None when the rules let it
    through."""
    if _is_git(relative):
        return "inside .git/: route never writes there"
    if relative.rsplit("/", 1)[-1].casefold() in ROUTE_CONFIG_NAMES:
        return "route's own configuration: the model never writes it"
    matched = next((pattern for pattern in protected if _pattern_matches(pattern, relative)), None)
    if matched is not None and not is_allowed(relative, allow):
        return (
            f"protected (matches {matched!r}); pass --allow {relative} to let the model change it"
        )
    return None


# --------------------------------------------------------------------------- disk inspection


@dataclass(frozen=True, slots=True)
class Target:
    relative: str  # normalized path as the model named it
    resolved: str  # relative path after following symbolic links in its parents
    before: bytes | None  # current bytes, None when the file does not exist


def inspect_target(relative: str, root: Path) -> Target:
    """Look at the disk for ``relative``; raise ``ValueError`` with the reason if unusable."""
    parts = relative.split("/")
    current = root
    for index, part in enumerate(parts[:-1]):
        current = current / part
        shown = "/".join(parts[: index + 1])
        try:
            info = current.lstat()
        except FileNotFoundError:
            break
        except OSError as error:
            raise ValueError(f"cannot inspect {shown}: {error.strerror}") from error
        if stat.S_ISLNK(info.st_mode):
            real = Path(os.path.realpath(current))
            if not real.is_relative_to(root):
                raise ValueError(
                    f"goes through the symbolic link {shown}, which points outside the project"
                )
            if not real.is_dir():
                raise ValueError(f"the parent {shown} is not a directory")
        elif not stat.S_ISDIR(info.st_mode):
            raise ValueError(f"the parent {shown} is a file, not a directory")
    parent = Path(os.path.realpath(root.joinpath(*parts[:-1])))
    if not parent.is_relative_to(root):
        raise ValueError("resolves outside the project through a symbolic link")
    resolved = (parent / parts[-1]).relative_to(root).as_posix()
    target = root.joinpath(*parts)
    try:
        info = target.lstat()
    except FileNotFoundError:
        return Target(relative, resolved, None)
    except OSError as error:
        raise ValueError(f"cannot inspect the file: {error.strerror}") from error
    if stat.S_ISLNK(info.st_mode):
        raise ValueError("is a symbolic link; route does not write through links")
    if stat.S_ISDIR(info.st_mode):
        raise ValueError("is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("is not a regular file")
    try:
        before = target.read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read the existing file: {error.strerror}") from error
    return Target(relative, resolved, before)


def safe_target(relative: str, root: Path) -> Path:
    """The path to write ``relative`` at, refusing any route out of ``root``."""
    normalized = normalize_path(relative)
    parts = normalized.split("/")
    parent = Path(os.path.realpath(root.joinpath(*parts[:-1])))
    if not parent.is_relative_to(root):
        raise ValueError("resolves outside the project through a symbolic link")
    target = parent / parts[-1]
    if target.is_symlink():
        raise ValueError("is a symbolic link")
    return target


# --------------------------------------------------------------------------- shadowing


def top_level_module(relative: str) -> str | None:
    """The module name ``relative`` defines at the top of an import path (the project root or
    ``src/``): ``pytest.py`` and ``pytest/__init__.py`` both give ``pytest``; else None."""
    parts = relative.split("/")
    if len(parts) > 1 and parts[0] == "src":
        parts = parts[1:]
    if len(parts) == 1 and parts[0].endswith(".py"):
        return parts[0][:-3]
    if len(parts) == 2 and parts[1] == "__init__.py":
        return parts[0]
    return None


def tool_shadow_reason(relative: str, tool_names: Collection[str]) -> str | None:
    """Why ``relative`` may not be created: a top-level module named like a tool or
    standard-library module verify may run (``pytest.py`` replaces pytest under ``python -m``)."""
    name = top_level_module(relative)
    if name is None or name not in tool_names:
        return None
    return (
        f"a top-level module named {name!r} would replace the tool or standard-library module "
        f"verify may run; pass --allow {relative} if that is intended"
    )


def package_shadow_reason(relative: str, root: Path) -> str | None:
    """Why creating ``relative`` would hide or replace an existing module: ``x/__init__.py``
    beside an existing ``x.py``, or ``x.py`` beside an existing ``x/__init__.py``."""
    if relative.endswith("/__init__.py"):
        sibling = relative[: -len("/__init__.py")] + ".py"
    elif relative.endswith(".py"):
        sibling = relative[:-3] + "/__init__.py"
    else:
        return None
    if not (root / sibling).is_file():
        return None
    return (
        f"would shadow the existing {sibling} (a module and a package of the same name); "
        "pass --force to let the model do that"
    )
