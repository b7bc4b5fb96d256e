"""``route init``'s proposal for the fix step: a ``fix_command`` built from the fixers the project
already uses (ruff, black, prettier, gofmt, rustfmt), read from its configuration files only."""

from __future__ import annotations

import json
from pathlib import Path

from route.claude_code.project_setup import Check

RUFF = "ruff check --fix --exit-zero {files} && ruff format {files}"
RUFF_THEN_BLACK = "ruff check --fix --exit-zero {files} && black -q {files}"
BLACK = "black -q {files}"
PRETTIER = "npx --no-install prettier --write --ignore-unknown {files}"
GOFMT = "gofmt -w {files}"
RUSTFMT = "rustfmt {files}"


def propose_fix_command(root: Path) -> str | None:
    """A fix command for the project in ``root``, or None when it uses none of the fixers."""
    python = _read(root / "pyproject.toml") + _read(root / "setup.cfg")
    requirements = "".join(
        _read(path).lower() for path in sorted(root.glob("requirements*.txt"))
    ) + _read(root / "Makefile")
    uses_ruff = (
        "[tool.ruff" in python
        or (root / "ruff.toml").is_file()
        or (root / ".ruff.toml").is_file()
        or "ruff" in requirements
    )
    uses_black = "[tool.black" in python or "black" in requirements
    if uses_ruff:
        return RUFF_THEN_BLACK if uses_black else RUFF
    if uses_black:
        return BLACK
    if _uses_prettier(root):
        return PRETTIER
    if (root / "go.mod").is_file():
        return GOFMT
    if (root / "Cargo.toml").is_file():
        return RUSTFMT
    return None


def _uses_prettier(root: Path) -> bool:
    if any(root.glob(".prettierrc*")) or any(root.glob("prettier.config.*")):
        return True
    try:
        package = json.loads(_read(root / "package.json") or "{}")
    except ValueError:
        return False
    if not isinstance(package, dict):
        return False
    sections = [package.get(key) for key in ("dependencies", "devDependencies")]
    return "prettier" in package or any(
        isinstance(section, dict) and "prettier" in section for section in sections
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    except OSError:
        return ""


def check_fix(root: Path, fix_command: str | None) -> Check:
    """What ``route init`` says about the fix step: the configured command, or a proposal."""
    if fix_command:
        return Check("fix", True, f"fix command from the config: {fix_command}")
    proposal = propose_fix_command(root)
    if proposal is None:
        return Check(
            "fix",
            True,
            "no fix command: verify failures that a formatter or `--fix` linter could mend cost "
            "a repair round (set fix_command in route.yaml if the project has such a tool)",
        )
    return Check(
        "fix",
        True,
        "no fix command yet: route can run the project's fixers on the files it writes, before "
        "verify — add this line to route.yaml",
        f"fix_command: {json.dumps(proposal)}",
    )
