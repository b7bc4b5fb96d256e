"""The names the project defines that new code may import: module -> its top-level classes,
functions and constants, read from the folders the task's files live in.

Small models invent imports (``from app.db import session``) or use a name without importing it;
a short index of what really exists, in the first prompt, and "``X`` is defined in ``m``" in a
repair for an undefined name, give them the facts instead. Python is read with ``ast``;
JavaScript and TypeScript with tree-sitter grammars (the ``index`` extra: ``tree-sitter``,
``tree-sitter-javascript``, ``tree-sitter-typescript``), imported only when such a file is
indexed; without them those files are left out. Nothing is executed, and a file that does not
parse is left out.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from route.prompting.tokens import LOCAL_CHARS_PER_TOKEN

# The index's share of the first prompt.
DEFAULT_BUDGET_TOKENS = 500
MAX_FILES = 200
MAX_FILE_BYTES = 200_000
MAX_NAMES_PER_MODULE = 40
MAX_METHODS = 12
PYTHON_SUFFIXES = frozenset({".py"})
SCRIPT_SUFFIXES = frozenset({".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts"})
# Test modules define nothing to import (a conftest's fixtures are used by name: kept).
_TEST_FILE = re.compile(r"^(test_.*\.py|.*_test\.py|.*\.(test|spec)\.[cm]?[jt]sx?)$")
# A path named in a skill's text: `app/services/<resource>_service.py`, `src/components/`.
_SKILL_PATH = re.compile(r"`([A-Za-z0-9_.<>{}\-]+(?:/[A-Za-z0-9_.<>{}\-]*)+)`")
# Tool messages that name a name that is not defined (ruff/pyflakes, mypy, Python, tsc, eslint,
# go, rustc) or that cannot be imported.
_UNDEFINED = (
    re.compile(r"[Uu]ndefined name [`'\"](?P<name>[A-Za-z_$][\w$]*)[`'\"]"),
    re.compile(r"[Nn]ame [`'\"](?P<name>[A-Za-z_][\w]*)[`'\"] is not defined"),
    re.compile(r"[Cc]annot find name '(?P<name>[A-Za-z_$][\w$]*)'"),
    re.compile(r"'(?P<name>[A-Za-z_$][\w$]*)' is not defined"),
    re.compile(r"\bundefined: (?P<name>[A-Za-z_]\w*)"),
    re.compile(r"cannot find (?:value|type|function|struct|macro) `(?P<name>[A-Za-z_]\w*)`"),
    re.compile(r"cannot import name '(?P<name>[A-Za-z_]\w*)'"),
)


@dataclass(frozen=True, slots=True)
class ModuleNames:
    path: str  # relative to the project root, POSIX
    module: str  # how it is imported: app.models.user, or web/api/client for scripts
    names: tuple[str, ...]  # "class User", "def get_user(user_id)", "MAX_USERS"

    @property
    def plain_names(self) -> tuple[str, ...]:
        return tuple(_plain(name) for name in self.names)


@dataclass(frozen=True, slots=True)
class NameIndex:
    modules: tuple[ModuleNames, ...] = ()

    def defined_in(self, name: str) -> tuple[ModuleNames, ...]:
        return tuple(module for module in self.modules if name in module.plain_names)


def _plain(entry: str) -> str:
    words = entry.split(" ", 1)
    name = words[-1] if len(words) == 2 and words[0] in _KEYWORDS else entry
    return name.split("(", 1)[0].split(" [", 1)[0]


_KEYWORDS = frozenset({"class", "def", "function", "interface", "type", "enum", "const", "let",
                       "var", "async"})  # fmt: skip


# --------------------------------------------------------------------------- which folders


def index_folders(root: Path, skill_texts: Iterable[str], paths: Iterable[str]) -> tuple[str, ...]:
    """The project folders to index: those of ``paths`` (targets, context files) first, then
    those the skill texts name (``app/services/<resource>_service.py`` -> ``app/services``),
    each once, only folders that exist."""
    folders: list[str] = [str(PurePosixPath(path).parent) for path in paths]
    for text in skill_texts:
        for match in _SKILL_PATH.finditer(text):
            folders.append(_folder_of(match.group(1)))
    found: list[str] = []
    for folder in folders:
        if folder and folder not in found and _is_project_folder(root, folder):
            found.append(folder)
    return tuple(found)


def _folder_of(path: str) -> str:
    """The fixed folder part of a path pattern: up to the first segment with a placeholder."""
    parts = PurePosixPath(path).parts
    kept: list[str] = []
    last = len(parts) - (0 if path.endswith("/") else 1)
    for part in parts[:last]:
        if any(mark in part for mark in "<>{}*"):
            break
        kept.append(part)
    return "/".join(kept) or "."


def _is_project_folder(root: Path, folder: str) -> bool:
    if folder.startswith("/") or ".." in PurePosixPath(folder).parts:
        return False
    try:
        resolved = (root / folder).resolve()
        return resolved.is_dir() and resolved.is_relative_to(root.resolve())
    except OSError:
        return False


# --------------------------------------------------------------------------- reading


def project_folders(root: Path, *, max_depth: int = 4) -> tuple[str, ...]:
    """Every folder of the project down to ``max_depth``, shallow first, hidden folders,
    environments and caches left out (for looking up where a name is defined)."""
    found: list[str] = ["."]
    level = [root]
    for _ in range(max_depth):
        below: list[Path] = []
        for folder in level:
            try:
                children = sorted(child for child in folder.iterdir() if child.is_dir())
            except OSError:
                continue
            for child in children:
                if child.name.startswith(".") or child.name in _SKIPPED_FOLDERS:
                    continue
                if child.is_symlink():
                    continue
                below.append(child)
                found.append(child.relative_to(root).as_posix())
        level = below
    return tuple(found)


_SKIPPED_FOLDERS = frozenset({"node_modules", "venv", "env", "__pycache__", "build", "dist",
                              "target", "site-packages"})  # fmt: skip


def build_index(
    root: Path,
    folders: Sequence[str],
    *,
    skip: Collection[str] = (),
    max_files: int = MAX_FILES,
) -> NameIndex:
    """The names defined by the source files directly in ``folders`` (not ``skip``, not tests),
    in folder order then path order, at most ``max_files`` of them."""
    modules: list[ModuleNames] = []
    seen: set[str] = set(skip)
    for folder in folders:
        base = root / folder
        try:
            entries = sorted(base.iterdir())
        except OSError:
            continue
        for entry in entries:
            relative = entry.relative_to(root).as_posix()
            if relative in seen or not _indexable(entry) or len(modules) >= max_files:
                continue
            seen.add(relative)
            module = read_module(entry, relative)
            if module is not None and module.names:
                modules.append(module)
    return NameIndex(tuple(modules))


def _indexable(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix not in PYTHON_SUFFIXES and suffix not in SCRIPT_SUFFIXES:
        return False
    if _TEST_FILE.match(path.name) or path.name.endswith(".d.ts"):
        return False
    try:
        return path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_FILE_BYTES
    except OSError:
        return False


def read_module(path: Path, relative: str) -> ModuleNames | None:
    """The top-level names of one source file, or None when it cannot be read or parsed."""
    try:
        source = path.read_bytes()
    except OSError:
        return None
    suffix = path.suffix.lower()
    if suffix in PYTHON_SUFFIXES:
        names = python_names(source)
        module = _python_module(relative)
    else:
        names = script_names(source, suffix)
        module = str(PurePosixPath(relative).with_suffix(""))
    if names is None:
        return None
    return ModuleNames(relative, module, tuple(names[:MAX_NAMES_PER_MODULE]))


def _python_module(relative: str) -> str:
    parts = list(PurePosixPath(relative).with_suffix("").parts)
    if parts and parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def python_names(source: bytes) -> list[str] | None:
    """Top-level public classes, functions (with their parameter names) and assigned names of
    a Python module, in file order; ``__all__`` (a literal list) limits them. None: no parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    names: list[str] = []
    exported: set[str] | None = None
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.append(f"class {node.name}{_methods(node)}")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.append(f"def {node.name}({_parameters(node.args)})")
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    if target.id == "__all__":
                        exported = _literal_names(node.value)
                    names.append(target.id)
    public = [name for name in dict.fromkeys(names) if not _plain(name).startswith("_")]
    if exported is not None:
        public = [name for name in public if _plain(name) in exported]
    return public


def _methods(node: ast.ClassDef) -> str:
    """`` [a, b]``: the public methods a class defines (at most ``MAX_METHODS``), or ""."""
    methods = [
        item.name
        for item in node.body
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
        and not item.name.startswith("_")
    ]
    if not methods:
        return ""
    shown = methods[:MAX_METHODS] + (["…"] if len(methods) > MAX_METHODS else [])
    return f" [{', '.join(shown)}]"


def _parameters(arguments: ast.arguments) -> str:
    names = [a.arg for a in (*arguments.posonlyargs, *arguments.args)]
    if arguments.vararg:
        names.append(f"*{arguments.vararg.arg}")
    names.extend(a.arg for a in arguments.kwonlyargs)
    if arguments.kwarg:
        names.append(f"**{arguments.kwarg.arg}")
    return ", ".join(names)


def _literal_names(value: ast.expr | None) -> set[str] | None:
    if isinstance(value, ast.List | ast.Tuple):
        items = [item.value for item in value.elts if isinstance(item, ast.Constant)]
        return {item for item in items if isinstance(item, str)}
    return None


# --------------------------------------------------------------------------- scripts


def script_names(source: bytes, suffix: str) -> list[str] | None:
    """The exported names of a JavaScript or TypeScript module (tree-sitter), in file order;
    None when no grammar is installed or the file does not parse."""
    parser = script_parser(suffix)
    if parser is None:
        return None
    tree = parser.parse(source)
    if tree.root_node.has_error:
        return None
    names: list[str] = []
    for node in tree.root_node.children:
        if node.type == "export_statement":
            names.extend(_exported(node))
    return list(dict.fromkeys(names))


_DECLARATIONS = {
    "function_declaration": "function",
    "generator_function_declaration": "function",
    "class_declaration": "class",
    "abstract_class_declaration": "class",
    "interface_declaration": "interface",
    "type_alias_declaration": "type",
    "enum_declaration": "enum",
}


def _exported(statement: Any) -> Iterable[str]:
    for child in statement.named_children:
        kind = _DECLARATIONS.get(child.type)
        if kind is not None:
            name = child.child_by_field_name("name")
            if name is not None:
                yield f"{kind} {_text(name)}{_script_parameters(child)}"
        elif child.type in ("lexical_declaration", "variable_declaration"):
            for declarator in child.named_children:
                name = declarator.child_by_field_name("name")
                is_name = name is not None and name.type == "identifier"
                if declarator.type == "variable_declarator" and is_name:
                    yield f"const {_text(name)}"
        elif child.type == "export_clause":
            for specifier in child.named_children:
                alias = specifier.child_by_field_name("alias")
                name = alias or specifier.child_by_field_name("name")
                if name is not None:
                    yield _text(name)
    if any(child.type == "default" for child in statement.children):
        yield "default"


def _script_parameters(declaration: Any) -> str:
    parameters = declaration.child_by_field_name("parameters")
    if parameters is None:
        return ""
    names = []
    for parameter in parameters.named_children:
        pattern = parameter.child_by_field_name("pattern") or parameter
        names.append(_text(pattern) if pattern.type == "identifier" else "…")
    return f"({', '.join(names)})"


def _text(node: Any) -> str:
    text: bytes = node.text
    return text.decode("utf-8", errors="replace")


@cache
def script_parser(suffix: str) -> Any | None:
    """A tree-sitter parser for the suffix's language, or None without the grammar packages."""
    try:
        import tree_sitter
    except ImportError:
        return None
    language = _grammar(suffix)
    if language is None:
        return None
    return tree_sitter.Parser(tree_sitter.Language(language()))


def _grammar(suffix: str) -> Callable[[], Any] | None:
    try:
        if suffix in (".ts", ".mts", ".cts"):
            import tree_sitter_typescript

            return tree_sitter_typescript.language_typescript
        if suffix == ".tsx":
            import tree_sitter_typescript

            return tree_sitter_typescript.language_tsx
        import tree_sitter_javascript

        return tree_sitter_javascript.language
    except ImportError:
        return None


# --------------------------------------------------------------------------- showing it


def render_index(
    index: NameIndex,
    *,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    leave_out: Collection[str] = (),
) -> str:
    """One line per module (``- app.models.user (app/models/user.py): class User, ...``) within
    ``budget_tokens``, modules in ``leave_out`` (shown whole elsewhere) left out; a last line
    counts the modules that did not fit. "" when nothing is listed."""
    budget = int(budget_tokens * LOCAL_CHARS_PER_TOKEN)
    lines: list[str] = []
    used = 0
    modules = [module for module in index.modules if module.path not in leave_out]
    for position, module in enumerate(modules):
        label = module.path if module.module == str(PurePosixPath(module.path).with_suffix(
            "")) else f"{module.module} ({module.path})"  # fmt: skip
        line = f"- {label}: {', '.join(module.names)}"
        if used + len(line) + 1 > budget:
            left = len(modules) - position
            if lines:
                lines.append(f"- ({left} more module(s) not listed)")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def undefined_names(messages: Iterable[str]) -> tuple[str, ...]:
    """The names the messages say are not defined (or cannot be imported), each once."""
    found: list[str] = []
    for message in messages:
        for pattern in _UNDEFINED:
            match = pattern.search(message)
            if match:
                found.append(match["name"])
                break
    return tuple(dict.fromkeys(found))


def where_defined(index: NameIndex, names: Sequence[str]) -> str:
    """A line per name the index defines: where it is and how to import it (Python), one
    line saying it is defined nowhere indexed otherwise; "" when ``names`` is empty."""
    lines = []
    for name in names:
        modules = index.defined_in(name)
        if not modules:
            lines.append(f"- `{name}` is not defined in the project files route indexed: define "
                         "it where it is used, or write the code without it.")  # fmt: skip
            continue
        places = "; ".join(_import_hint(module, name) for module in modules[:3])
        lines.append(f"- `{name}` is defined in {places}.")
    return "\n".join(lines)


def _import_hint(module: ModuleNames, name: str) -> str:
    if PurePosixPath(module.path).name == "conftest.py":
        return f"`{module.path}` (a pytest fixture: take `{name}` as a parameter of the test)"
    if module.path.endswith(".py"):
        return f"`{module.path}` (`from {module.module} import {name}`)"
    return f"`{module.path}`"
