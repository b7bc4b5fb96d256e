"""The import rules of docs/architecture.md, checked on the source (every import statement,
also those inside functions and under ``TYPE_CHECKING``), and the checker itself checked on a
planted tree so a broken checker cannot pass silently.

    errors, values, yamlio        import no other route module
    settings, prompting, backends,
    safety, accounting,
    local_models, repair          never import run, batch, mcp, claude_code, cli or ui
    backends                      never import run
    run                           never imports batch, mcp, claude_code, cli or ui
    anything but cli, __main__    never imports cli
    anything but ui               never imports rich
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src"
PYPROJECT = SOURCE.parent / "pyproject.toml"

BASE = frozenset({"errors", "values", "yamlio"})
LOWER = frozenset(
    {"settings", "prompting", "backends", "safety", "accounting", "local_models", "repair"}
)
UPPER = frozenset({"run", "batch", "mcp", "claude_code", "cli", "ui"})


@dataclass(frozen=True, slots=True)
class Import:
    """One imported name, seen from the module that imports it."""

    module: str  # the importing module, e.g. route.backends.ollama
    line: int
    target: str  # the imported module or name, absolute, e.g. route.run.pipeline.GenOptions


def module_name(path: Path, source: Path) -> str:
    parts = list(path.relative_to(source).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module an ``ImportFrom`` names, relative imports resolved against ``module``."""
    if node.level == 0:
        return node.module or ""
    parts = module.split(".")
    package = parts if is_package else parts[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path, source: Path) -> Iterator[Import]:
    """Every import in ``path``, wherever it stands in the file."""
    module = module_name(path, source)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, path.name == "__init__.py")
            for alias in node.names:
                yield Import(module, node.lineno, f"{base}.{alias.name}" if base else alias.name)


def layer(name: str) -> str | None:
    """The part of route a dotted name belongs to (``route.run.pipeline`` -> ``run``), None
    for a name outside route; ``route`` itself (its ``__version__``) is the root, ``""``."""
    parts = name.split(".")
    if parts[0] != "route":
        return None
    return parts[1] if len(parts) > 1 and not parts[1].startswith("__version") else ""


def _broken_rule(importer: str, target: str) -> str | None:
    """Which rule importing ``target`` from module ``importer`` breaks, if any."""
    source_layer = layer(importer)
    if target.split(".", maxsplit=1)[0] == "rich" and source_layer != "ui":
        return "only route.ui imports rich"
    target_layer = layer(target)
    if target_layer is None or target_layer == source_layer:
        return None
    if target_layer == "cli" and source_layer != "__main__":
        return "nothing imports route.cli (only route.__main__ starts it)"
    if source_layer in BASE and target_layer not in {*BASE, ""}:
        return f"route.{source_layer} imports no other route module"
    if source_layer == "backends" and target_layer == "run":
        return "backends never import run"
    if source_layer in LOWER and target_layer in UPPER:
        return f"{source_layer} (a lower layer) never imports {target_layer}"
    if source_layer == "run" and target_layer in UPPER:
        return f"run never imports {target_layer}"
    return None


def violations(source: Path) -> list[str]:
    """``path:line: module imports target: rule`` for every import that breaks a rule."""
    found: list[str] = []
    for path in sorted((source / "route").rglob("*.py")):
        for item in imports_of(path, source):
            rule = _broken_rule(item.module, item.target)
            if rule is not None:
                where = path.relative_to(source)
                found.append(f"{where}:{item.line}: {item.module} imports {item.target}: {rule}")
    return found


def test_route_follows_its_import_rules() -> None:
    assert violations(SOURCE) == []


def test_the_rules_cover_every_package_of_route() -> None:
    """A new package must be placed in a layer (else no rule would ever apply to it)."""
    packages = {
        path.name
        for path in (SOURCE / "route").iterdir()
        if path.is_dir() and (path / "__init__.py").is_file()
    }
    assert packages <= BASE | LOWER | UPPER


def test_ruff_lets_only_ui_import_rich() -> None:
    """The per-file exception to ruff's ban on rich (TID251) names ui.py, and ui.py exists."""
    settings = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["ruff"]["lint"]
    assert "rich" in settings["flake8-tidy-imports"]["banned-api"]
    exempt = [
        pattern
        for pattern, rules in settings["per-file-ignores"].items()
        if "TID251" in rules and pattern.startswith("src/")
    ]
    assert exempt == ["src/route/ui.py"]
    assert (SOURCE.parent / exempt[0]).is_file()


# ----------------------------------------------------------------- the checker on a planted tree


def plant(source: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = source / "route" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for folder in [source / "route", *(source / "route").rglob("*")]:
        if folder.is_dir() and not (folder / "__init__.py").exists():
            (folder / "__init__.py").write_text("", encoding="utf-8")
    return source


CLEAN = {
    "errors.py": "class RouteError(Exception): ...\n",
    "values.py": "from dataclasses import dataclass\n",
    "ui.py": "import rich\nfrom route.run.report import RunReport\n",
    "backends/ollama.py": "from route.errors import RouteError\nfrom . import common\n",
    "backends/common.py": "from route.prompting.tokens import estimate_tokens\n",
    "prompting/tokens.py": "",
    "run/report.py": "from route import __version__\nfrom route.safety import writer\n",
    "safety/writer.py": "",
    "batch/runner.py": "from route.run.pipeline import run_generation\n",
    "cli/main.py": "from route import ui\nfrom route.cli import options\n",
    "cli/options.py": "",
    "__main__.py": "from route.cli.main import run\n",
}


def test_the_checker_passes_a_tree_that_follows_the_rules(tmp_path: Path) -> None:
    assert violations(plant(tmp_path, CLEAN)) == []


@pytest.mark.parametrize(
    ("relative", "text", "rule"),
    [
        ("prompting/prompt.py", "import rich.console\n", "only route.ui imports rich"),
        (
            "run/finish.py",
            "def show():\n    from rich import print\n",
            "only route.ui imports rich",
        ),
        ("backends/ollama.py", "from route.run.pipeline import GenOptions\n", "never import run"),
        (
            "backends/ollama.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..run import options\n",
            "never import run",
        ),
        ("mcp/server.py", "from route.cli.options import options\n", "nothing imports route.cli"),
        ("batch/runner.py", "import route.cli.main\n", "nothing imports route.cli"),
        ("safety/writer.py", "from route.batch import plan\n", "safety (a lower layer)"),
        ("settings/resolve.py", "from route import ui\n", "settings (a lower layer)"),
        ("accounting/ledger.py", "from route.mcp import server\n", "accounting (a lower layer)"),
        ("local_models/catalog.py", "from route.claude_code import x\n", "local_models (a lower"),
        ("run/pipeline.py", "from route.batch.runner import run_batch\n", "run never imports"),
        ("run/pipeline.py", "from route import ui\n", "run never imports ui"),
        ("values.py", "from route.settings.config import Config\n", "imports no other route"),
    ],
)
def test_the_checker_finds_a_planted_violation(
    tmp_path: Path, relative: str, text: str, rule: str
) -> None:
    found = violations(plant(tmp_path, {**CLEAN, relative: text}))
    assert len(found) == 1, found
    assert found[0].startswith(f"route/{relative}:")
    assert rule in found[0]
