"""The focused round: when the model answers a repair with its last answer word for word, the
question changes instead of the run stopping at once.

One more round, in a fresh conversation (the long one is what the model keeps copying): the
failing file alone, numbered; what the checks reported about it, located and marked; the project
files it imports; and a request for SEARCH/REPLACE edits to that file, whose answer is prefilled
with the file's path, fence and the first ``SEARCH`` marker. Small models that repeat a whole
file often still manage a one-line edit.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from route.prompting.locations import Location, numbered_file
from route.prompting.prompt import fenced, language_for, load_template, render_template
from route.prompting.tokens import LOCAL_CHARS_PER_TOKEN
from route.values import ContextFile, Message

# The imported files shown whole, at most (the rest are named only).
MAX_IMPORT_CHARACTERS = 12_000
_SCRIPT_SUFFIXES = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs")


def failing_file(
    locations: Sequence[Location], targets: Sequence[str], written: Sequence[str]
) -> str | None:
    """The file the focused round works on: the first located one, else the first target, else
    the first file written."""
    for location in locations:
        return location.path
    for path in (*targets, *written):
        return path
    return None


def focused_prefill(path: str) -> str:
    """The start of the answer: the path, the fence and the first SEARCH marker."""
    return f"{path}\n```{language_for(path)}\n<<<<<<< SEARCH\n"


def build_focused_messages(
    *,
    path: str,
    text: str,
    errors: str,
    imports: Sequence[ContextFile],
    max_import_characters: int = MAX_IMPORT_CHARACTERS,
) -> tuple[Message, ...]:
    """The system and user messages of the focused round (deterministic)."""
    language = language_for(path)
    user = render_template(
        load_template("focused-repair"),
        {
            "path": path,
            "file": fenced(numbered_file(text), language),
            "errors": errors.strip() or "The checks failed without pointing to a line.",
            "imports": _render_imports(imports, max_import_characters),
            "language": language,
        },
    )
    return (
        Message("system", load_template("focused-system")),
        Message("user", user),
    )


def _render_imports(imports: Sequence[ContextFile], limit: int) -> str:
    if not imports:
        return ""
    shown: list[str] = []
    named: list[str] = []
    used = 0
    for item in imports:
        block = f"`{item.path}`:\n{fenced(item.text, language_for(item.path))}"
        if used + len(block) > limit:
            named.append(f"`{item.path}`")
            continue
        shown.append(block)
        used += len(block)
    text = "# Project files it imports\n\n" + "\n\n".join(shown)
    if named:
        text += "\n\nAlso imported, not shown: " + ", ".join(named) + "."
    return text + "\n\n"


def errors_budget(max_output_tokens: int) -> int:
    """Characters of verify output a focused round may show when nothing was located."""
    return int(max_output_tokens * LOCAL_CHARS_PER_TOKEN)


# --------------------------------------------------------------------------- imports


def project_imports(path: str, text: str, root: Path) -> tuple[str, ...]:
    """The project files (relative, POSIX) that ``path`` imports, in import order, each once:
    Python through ``ast``, JavaScript and TypeScript relative imports through tree-sitter."""
    if path.endswith(".py"):
        candidates = _python_candidates(path, text)
    elif path.endswith(_SCRIPT_SUFFIXES):
        candidates = _script_candidates(path, text)
    else:
        return ()
    found: list[str] = []
    base = root.resolve()
    for candidate in candidates:
        if candidate == path or candidate in found:
            continue
        try:
            resolved = (root / candidate).resolve()
        except OSError:
            continue
        if resolved.is_relative_to(base) and resolved.is_file():
            found.append(candidate)
    return tuple(found)


def _python_candidates(path: str, text: str) -> list[str]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    package = list(PurePosixPath(path).parent.parts)
    modules: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            prefix = package[: len(package) - (node.level - 1)] if node.level else []
            if node.level and node.level - 1 > len(package):
                continue
            base = [*prefix, *(node.module.split(".") if node.module else [])]
            modules.append(".".join(base))
            modules.extend(".".join([*base, alias.name]) for alias in node.names)
    candidates: list[str] = []
    for module in modules:
        parts = [part for part in module.split(".") if part]
        if not parts:
            continue
        for source_root in ("", "src/"):
            stem = source_root + "/".join(parts)
            candidates.extend((f"{stem}.py", f"{stem}/__init__.py"))
    return candidates


def _script_candidates(path: str, text: str) -> list[str]:
    from route.prompting.name_index import script_parser

    parser = script_parser(PurePosixPath(path).suffix.lower())
    if parser is None:
        return []
    tree = parser.parse(text.encode("utf-8"))
    folder = PurePosixPath(path).parent
    candidates: list[str] = []
    for node in tree.root_node.children:
        source = node.child_by_field_name("source") if node.type in (
            "import_statement", "export_statement") else None  # fmt: skip
        if source is None:
            continue
        raw = source.text.decode("utf-8", errors="replace").strip("'\"`")
        if not raw.startswith("."):
            continue
        target = _normalize(folder / raw)
        if target is None:
            continue
        stem = target.removesuffix(PurePosixPath(target).suffix) if target.endswith(
            (".js", ".mjs", ".cjs")) else target  # fmt: skip
        candidates.append(target)
        candidates.extend(f"{stem}{suffix}" for suffix in _SCRIPT_SUFFIXES)
        candidates.extend(f"{target}/index{suffix}" for suffix in _SCRIPT_SUFFIXES)
    return candidates


def _normalize(path: PurePosixPath) -> str | None:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts) or None
