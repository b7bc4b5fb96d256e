"""The module names a model may not create at the top of the project: the tools and modules
verify may run.

Derived, not hand-picked: the running Python's standard library (``sys.stdlib_module_names``),
the top-level modules and console scripts of every distribution installed in a virtual
environment inside the project (``.venv/``, ``venv/``: the one ``make verify`` usually runs),
and the package data file ``verify_tools.yaml`` for tools installed elsewhere. Folder names that
projects commonly use for their own code (``app``, ``tests``, ...) are never counted, even when
a badly packaged distribution ships a top-level package of that name.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

VIRTUAL_ENVIRONMENT_NAMES = (".venv", "venv")


def verify_tool_names(root: Path) -> frozenset[str]:
    """Every name a new top-level module in ``root`` must not take."""
    from route.settings.locations import PACKAGE_DATA
    from route.yamlio import load_yaml

    data = load_yaml((PACKAGE_DATA / "verify_tools.yaml").read_text(encoding="utf-8"))
    names = set(sys.stdlib_module_names) | set(data["tools"])
    for site_packages in project_site_packages(root):
        names.update(installed_names(site_packages))
    return frozenset(names - set(data["ordinary"]))


def project_virtual_environments(root: Path) -> list[Path]:
    """The virtual environments directly inside ``root`` (a folder with ``pyvenv.cfg``)."""
    return [
        root / name for name in VIRTUAL_ENVIRONMENT_NAMES if (root / name / "pyvenv.cfg").is_file()
    ]


def project_site_packages(root: Path) -> list[Path]:
    """The ``site-packages`` folders of the project's virtual environments."""
    folders: list[Path] = []
    for environment in project_virtual_environments(root):
        folders.extend(sorted(environment.glob("lib/python*/site-packages")))
        folders.extend(sorted(environment.glob("Lib/site-packages")))
    return [folder for folder in folders if folder.is_dir()]


def installed_names(site_packages: Path) -> set[str]:
    """Top-level module names and console-script names of the distributions in
    ``site-packages`` (read from their ``.dist-info`` files; nothing is imported)."""
    names: set[str] = set()
    for info in site_packages.glob("*.dist-info"):
        names.update(_top_level(info))
        names.update(_console_scripts(info))
    return {name for name in names if name.isidentifier()}


def _top_level(info: Path) -> Iterator[str]:
    listed = _read(info / "top_level.txt")
    if listed:
        yield from (line.strip().replace("/", ".").split(".")[0] for line in listed.splitlines())
        return
    for line in _read(info / "RECORD").splitlines():
        path = line.split(",", 1)[0]
        first, _, rest = path.partition("/")
        if first.endswith((".dist-info", ".data")) or first in ("..", "__pycache__"):
            continue
        if not rest and first.endswith(".py"):
            yield first[:-3]
        elif rest:
            yield first


def _console_scripts(info: Path) -> Iterator[str]:
    section = ""
    for line in _read(info / "entry_points.txt").splitlines():
        text = line.strip()
        if text.startswith("["):
            section = text
        elif section == "[console_scripts]" and "=" in text:
            yield text.split("=", 1)[0].strip().replace("-", "_")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
