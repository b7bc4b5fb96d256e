"""The import step: a name the checks call undefined, in a Python file route wrote, that exactly
one module of the project defines, is imported from there by route itself, without a model.

A forgotten import is the commonest fault of small models' answers (BENCHMARKS.md: ``read_int``
used and not imported, repeated word for word by every repair round). It is mechanical, like the
fixes a formatter makes: the checks name the file and the name, and the name index knows the one
module that defines it. Anything less certain is left to the model: a name two modules define, a
name the file already binds (a wrong import: "cannot import name"), a name only a test module or
``conftest.py`` defines (a fixture is a parameter, not an import), a file that does not parse.

``import_texts`` returns the new text of each file; the pipeline writes them through the same
planner as a model's answer (the same path rules; only files route wrote in this run).
"""

from __future__ import annotations

import ast
import keyword
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from route.prompting.locations import Location
from route.prompting.name_index import NameIndex, undefined_names

if TYPE_CHECKING:
    from route.repair.rounds import NameLookup


@dataclass(frozen=True, slots=True)
class AddedImport:
    path: str  # the file that gets the import
    module: str  # dotted
    name: str

    @property
    def line(self) -> str:
        return f"from {self.module} import {self.name}"


def planned_imports(
    locations: Sequence[Location], texts: dict[str, str], index: NameIndex
) -> tuple[AddedImport, ...]:
    """The imports to add: per Python file of ``texts``, each name its located errors call
    undefined that one non-test project module defines and the file does not bind already."""
    added: list[AddedImport] = []
    for path in dict.fromkeys(location.path for location in locations):
        text = texts.get(path)
        if text is None or not path.endswith(".py"):
            continue
        bound = _bound_names(text)
        if bound is None:
            continue
        messages = (location.message for location in locations if location.path == path)
        for name in undefined_names(messages):
            if name in bound:
                continue
            module = _only_module(index, name, path)
            if module is not None:
                added.append(AddedImport(path, module, name))
    return tuple(added)


def _only_module(index: NameIndex, name: str, path: str) -> str | None:
    candidates = {
        module.module
        for module in index.defined_in(name)
        if module.path.endswith(".py") and module.path != path and not _is_test(module.path)
    }
    if len(candidates) != 1:
        return None
    module = candidates.pop()
    return module if _importable_name(module) else None


def _importable_name(module: str) -> bool:
    """A dotted name an import statement can spell (``scripts/my-tool.py`` cannot be)."""
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in module.split("."))


def _is_test(path: str) -> bool:
    pure = PurePosixPath(path)
    return (
        pure.name == "conftest.py"
        or pure.name.startswith("test_")
        or pure.name.endswith("_test.py")
        or "tests" in pure.parts[:-1]
    )


def _bound_names(text: str) -> set[str] | None:
    """The names the module binds at its top level (imports, definitions, assignments); None
    when it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                bound.update(item.id for item in ast.walk(target) if isinstance(item, ast.Name))
    return bound


def with_imports(text: str, imports: Sequence[AddedImport]) -> str:
    """``text`` with ``imports`` added: a name joins an existing one-line ``from module import
    ...`` of the same module, else a new line follows the last top-level import (or the module
    docstring, or opens the file)."""
    for item in imports:
        text = _with_import(text, item)
    return text


def _with_import(text: str, item: AddedImport) -> str:
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    ending = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    for node in tree.body:
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module == item.module
            and node.lineno == node.end_lineno
            and all(alias.name != "*" for alias in node.names)
        ):
            line = lines[node.lineno - 1]
            if "(" not in line and "#" not in line and ";" not in line:
                body = line.rstrip("\r\n")
                lines[node.lineno - 1] = f"{body}, {item.name}{ending}"
                return "".join(lines)
    imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    if imports:
        after = max(node.end_lineno or node.lineno for node in imports)
    elif tree.body and _is_docstring(tree.body[0]):
        after = tree.body[0].end_lineno or tree.body[0].lineno
    else:
        after = 0
    if after and not lines[after - 1].endswith(("\n", "\r")):
        lines[after - 1] += ending
    lines.insert(after, item.line + ending)
    return "".join(lines)


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def import_texts(
    locations: Sequence[Location], root: Path, lookup: NameLookup
) -> tuple[dict[str, str], tuple[AddedImport, ...]]:
    """The new text of each file that gets imports, and the imports; ({}, ()) when none."""
    from route.prompting.locations import read_texts

    names = undefined_names(location.message for location in locations)
    if not names:
        return {}, ()
    texts = read_texts(sorted({location.path for location in locations}), root)
    planned = planned_imports(locations, texts, lookup.index_for(names))
    if not planned:
        return {}, ()
    new: dict[str, str] = {}
    for path in dict.fromkeys(item.path for item in planned):
        new[path] = with_imports(texts[path], [item for item in planned if item.path == path])
    return new, planned
