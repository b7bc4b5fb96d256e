"""The focused round: when the model answers a repair with its last answer word for word, the
question changes instead of the run stopping at once.

One more round, in a fresh conversation (the long one is what the model keeps copying): the
failing file alone, numbered; what the checks reported about it, located and marked; the project
files it imports; and a request for a SEARCH/REPLACE edit to that file.

The answer is prefilled up to the replacement: the path, the fence, ``<<<<<<< SEARCH``, the lines
to rewrite exactly as they are on disk, and ``=======``. So the model never has to copy lines
(small models copy them wrongly, or copy the instructions' example instead), only to write the
corrected version of a span route chose (``focused_span``): for Python the definition (function,
method, or top-level statement) around each located error, elsewhere a few lines around it, the
whole file when nothing was located. Small models that repeat a whole file often still manage to
rewrite one function.
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
# The task as shown, at most (a task file can be long; the file and errors matter more here).
MAX_TASK_CHARACTERS = 2_000
# The longest span the answer is prefilled with; a longer one is cut to the first error's.
MAX_SPAN_LINES = 200
# Lines around an error outside Python (or in Python that does not parse).
WINDOW_LINES = 4
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


Span = tuple[int, int]  # first and last line, 1-based, inclusive


def focused_prefill(path: str, text: str = "", span: Span | None = None) -> str:
    """The start of the answer: the path, the fence, the SEARCH marker and, with a span, its
    lines as they are in ``text`` and the divider (the model writes the replacement)."""
    start = f"{path}\n```{language_for(path)}\n<<<<<<< SEARCH\n"
    if span is None:
        return start
    return start + span_text(text, span) + "=======\n"


def span_text(text: str, span: Span) -> str:
    """Lines ``span`` of ``text``, each ending with a newline."""
    lines = text.splitlines()[span[0] - 1 : span[1]]
    return "".join(line + "\n" for line in lines)


def build_focused_messages(
    *,
    path: str,
    text: str,
    errors: str,
    imports: Sequence[ContextFile],
    span: Span | None = None,
    task: str = "",
    max_import_characters: int = MAX_IMPORT_CHARACTERS,
) -> tuple[Message, ...]:
    """The system and user messages of the focused round (deterministic). ``task``: what the
    run was asked for, shown first (cut to ``MAX_TASK_CHARACTERS``), so the fix keeps to it."""
    language = language_for(path)
    if span is None:
        answer = render_template(
            load_template("focused-answer-edits"), {"path": path, "language": language}
        )
    else:
        answer = render_template(
            load_template("focused-answer-span"),
            {"path": path, "first": str(span[0]), "last": str(span[1])},
        )
    user = render_template(
        load_template("focused-repair"),
        {
            "task": _task_section(task),
            "path": path,
            "file": fenced(numbered_file(text), language),
            "errors": errors.strip() or "The checks failed without pointing to a line.",
            "imports": _render_imports(imports, max_import_characters),
            "answer": answer,
        },
    )
    return (
        Message("system", load_template("focused-system")),
        Message("user", user),
    )


def _task_section(task: str) -> str:
    task = task.strip()
    if not task:
        return ""
    if len(task) > MAX_TASK_CHARACTERS:
        task = task[:MAX_TASK_CHARACTERS].rstrip() + " […]"
    return f"# The task the file is for\n\n{task}\n\n"


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


# --------------------------------------------------------------------------- the span


def focused_span(
    path: str, text: str, lines: Sequence[int], *, with_imports: bool = False
) -> Span | None:
    """The lines the focused answer rewrites: around each located line (``lines``), the Python
    definition or top-level statement holding it, else a few lines around it; the whole file
    when nothing was located. ``with_imports`` (an undefined name the project defines
    elsewhere): a Python file's top-level imports too, where the missing import goes. Widened
    until its text occurs once in the file; None when that cannot be (or the file is empty)."""
    count = len(text.splitlines())
    if count == 0:
        return None
    located = sorted({line for line in lines if 1 <= line <= count})
    if not located:
        span: Span = (1, count)
    else:
        tree = _python_tree(path, text)
        spans = [_span_around(tree, line, count) for line in located]
        imports = _imports_span(tree) if with_imports and tree is not None else None
        if imports is not None:
            spans.append(imports)
        span = (min(first for first, _ in spans), max(last for _, last in spans))
        if span[1] - span[0] + 1 > MAX_SPAN_LINES:
            span = spans[0]
    if span[1] - span[0] + 1 > MAX_SPAN_LINES:
        return None
    return _unique(text, span, count)


def _python_tree(path: str, text: str) -> ast.Module | None:
    """The module of a Python file that parses; None otherwise (other languages included)."""
    if not path.endswith(".py"):
        return None
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def _span_around(tree: ast.Module | None, line: int, count: int) -> Span:
    """In Python, the top-level statement holding ``line``, or inside a class, the method or
    statement of the class body holding it; else (or when no statement holds it) a window."""
    node = _holding(tree.body, line) if tree is not None else None
    if node is None:
        return max(1, line - WINDOW_LINES), min(count, line + WINDOW_LINES)
    if isinstance(node, ast.ClassDef):
        node = _holding(node.body, line) or node  # the class line itself: the whole class
    return _first_line(node), _last_line(node)


def _imports_span(tree: ast.Module) -> Span | None:
    """From the first to the last top-level import statement; None without any."""
    found = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    if not found:
        return None
    return _first_line(found[0]), max(_last_line(node) for node in found)


def _holding(body: Sequence[ast.stmt], line: int) -> ast.stmt | None:
    return next((item for item in body if _first_line(item) <= line <= _last_line(item)), None)


def _first_line(node: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(node, "decorator_list", None) or []
    return min([node.lineno, *(item.lineno for item in decorators)])


def _last_line(node: ast.stmt) -> int:
    return node.end_lineno or node.lineno


def _unique(text: str, span: Span, count: int) -> Span | None:
    """``span``, widened a line at a time on each side until its text occurs once in ``text``."""
    first, last = span
    while True:
        if text.count(span_text(text, (first, last))) == 1:
            return first, last
        if first == 1 and last == count:
            return None
        first, last = max(1, first - 1), min(count, last + 1)


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
