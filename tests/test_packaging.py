"""The distribution as ``pipx install .`` builds it from a clone: its name, its commands, and
``python -m route``. The wheel is built offline (no build isolation) from a copy of the tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("clone")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(
        ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    out = tmp_path_factory.mktemp("wheels")
    built = subprocess.run(
        [
            sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
            "--no-index", "--quiet", "--wheel-dir", str(out), str(tree),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (found,) = out.glob("*.whl")
    return found


def _member(wheel: Path, suffix: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(suffix)]
        return archive.read(name).decode()


def test_the_distribution_is_named_model_route(wheel: Path) -> None:
    assert wheel.name.startswith("model_route-")
    metadata = Parser().parsestr(_member(wheel, ".dist-info/METADATA"))
    assert metadata["Name"] == "model-route"
    assert metadata["Version"]
    assert metadata["Summary"]
    assert "mcp" in (metadata.get_all("Provides-Extra") or [])


def test_the_commands_are_route_and_model_route(wheel: Path) -> None:
    entry_points = _member(wheel, ".dist-info/entry_points.txt")
    assert "route = route.cli.main:run" in entry_points
    assert "model-route = route.cli.main:run" in entry_points


def test_the_wheel_carries_the_package_data(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"route/__main__.py", "route/data/models.yaml", "route/data/prices.yaml"} <= names
    assert any(name.startswith("route/data/prompts/") for name in names)


def test_python_dash_m_route_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "route", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("route ")
