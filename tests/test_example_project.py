"""The example project route is demonstrated on: its verify works, and its scaffold skill's
numbered sections name their files and hold templates that are the real Users code.

The skill is parsed here with small regular expressions on purpose (not with
``route.prompting.skills``), so these tests check the example itself,
whatever the skill reader does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "projects-api"
SKILL = EXAMPLE / ".skills" / "scaffold" / "SKILL.md"
CACHES = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache")
LAYER_SECTIONS = (1, 2, 3, 4, 5)
FRONT_MATTER = re.compile(r"\A---\n(?P<body>.*?)\n---\n", re.DOTALL)
NUMBERED_HEADING = re.compile(r"^## (?P<number>\d+)\. (?P<title>\S.*)$")
# A path pattern such as `app/services/<resource>_service.py` or `tests/test_<resources>_x.py`.
PATH_PATTERN = re.compile(r"`(?:app|tests)/[\w/]*<resources?>[\w<>/]*\.py`")
# A template: a line ending with a backticked path and a colon, then a python code block.
LABELLED_BLOCK = re.compile(
    r"`(?P<path>[\w./]+\.py)`:\n```python\n(?P<code>.*?)^```$", re.DOTALL | re.MULTILINE
)
RENAMES = (("Users", "Projects"), ("users", "projects"), ("USER", "PROJECT"))
RENAMES += (("User", "Project"), ("user", "project"))


def copy_example(destination: Path) -> Path:
    return Path(shutil.copytree(EXAMPLE, destination / "projects-api", ignore=CACHES))


def run_verify(project: Path) -> subprocess.CompletedProcess[str]:
    """``make verify`` in ``project`` with this interpreter, isolated from any calling make.

    PYTHONDONTWRITEBYTECODE is dropped too: keeping the tree clean is the Makefile's job.
    """
    dropped = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTEST_ADDOPTS", "PYTHONDONTWRITEBYTECODE"}
    environment = {key: value for key, value in os.environ.items() if key not in dropped}
    return subprocess.run(
        ["make", "-C", str(project), "verify", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        check=False,
    )


def count_tests(project: Path) -> int:
    return sum(
        len(re.findall(r"^def test_", path.read_text(), re.MULTILINE))
        for path in (project / "tests").glob("test_*.py")
    )


def outside_fences(skill_text: str) -> list[tuple[str, bool]]:
    """Each line with whether it is outside fenced code (where a heading can be a heading)."""
    lines: list[tuple[str, bool]] = []
    in_fence = False
    for line in skill_text.splitlines():
        if line.startswith(("```", "~~~")):
            in_fence = not in_fence
        lines.append((line, not in_fence))
    return lines


def sections(skill_text: str) -> dict[int, str]:
    """Numbered ``## N. Title`` sections (heading line included), in file order."""
    found: dict[int, list[str]] = {}
    current: list[str] | None = None
    for line, outside in outside_fences(skill_text):
        if outside and re.match(r"^#{1,2} ", line):
            match = NUMBERED_HEADING.match(line)
            current = found.setdefault(int(match["number"]), []) if match else None
        if current is not None:
            current.append(line)
    return {number: "\n".join(lines) + "\n" for number, lines in found.items()}


def templates(section_text: str) -> list[tuple[str, str]]:
    return [(match["path"], match["code"]) for match in LABELLED_BLOCK.finditer(section_text)]


def rename(text: str) -> str:
    for old, new in RENAMES:
        text = text.replace(old, new)
    return text


def assert_verify_passed(project: Path) -> None:
    result = run_verify(project)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Every test function in the project ran and passed: nothing was skipped or left out.
    assert f"{count_tests(project)} passed" in output, output


def test_example_verify_passes_in_a_copy_and_leaves_no_caches(tmp_path: Path) -> None:
    project = copy_example(tmp_path)

    assert_verify_passed(project)

    leftovers = [
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.name in {"__pycache__", ".pytest_cache", ".ruff_cache"}
    ]
    assert leftovers == []


@pytest.mark.parametrize(
    ("relative_path", "content", "expected"),
    [
        ("app/services/broken_service.py", '"""Broken."""\n\nimport os\n', "F401"),
        ("tests/test_broken.py", "def test_broken() -> None:\n    assert [] == [1]\n", "1 failed"),
    ],
)
def test_example_verify_fails_on_lint_errors_and_failing_tests(
    tmp_path: Path, relative_path: str, content: str, expected: str
) -> None:
    project = copy_example(tmp_path)
    (project / relative_path).write_text(content)

    result = run_verify(project)

    assert result.returncode != 0
    assert expected in result.stdout + result.stderr


def test_skill_has_front_matter_with_name_and_description() -> None:
    match = FRONT_MATTER.match(SKILL.read_text())

    assert match is not None
    fields = dict(line.split(": ", 1) for line in match["body"].splitlines())
    assert fields["name"] == "scaffold"
    assert len(fields["description"]) > 40


def test_skill_sections_are_numbered_from_one_and_name_their_target_paths() -> None:
    text = SKILL.read_text()
    found = sections(text)
    titled = [line for line, outside in outside_fences(text) if outside and line.startswith("## ")]

    assert list(found)[: len(LAYER_SECTIONS)] == list(LAYER_SECTIONS)
    assert list(found) == list(range(1, len(found) + 1))
    assert len(titled) == len(found), "every ## heading is a numbered section"
    for number in LAYER_SECTIONS:
        assert PATH_PATTERN.search(found[number]), f"section {number} names no target path"
    preamble = text.split("## 1.", 1)[0]
    assert "section 5" in preamble, "the preamble says that tests for a new layer follow section 5"


def test_skill_templates_are_the_users_code() -> None:
    found = sections(SKILL.read_text())

    for number, section_text in found.items():
        blocks = templates(section_text)
        assert blocks, f"section {number} has no labelled template"
        for relative_path, code in blocks:
            real = (EXAMPLE / relative_path).read_text()
            if number in LAYER_SECTIONS:
                assert code == real, f"section {number}: template differs from {relative_path}"
            else:
                assert code in real, f"section {number}: template is not part of {relative_path}"
            for class_name in re.findall(r"^class (\w+)", code, re.MULTILINE):
                assert f"class {class_name}" in real


def test_templates_renamed_for_a_new_resource_pass_verify(tmp_path: Path) -> None:
    """What a model following sections 1-5 writes for "Projects" fits the project."""
    project = copy_example(tmp_path)
    found = sections(SKILL.read_text())
    written = []
    for number in LAYER_SECTIONS:
        for relative_path, code in templates(found[number]):
            target = project / rename(relative_path)
            assert not target.exists()
            target.write_text(rename(code))
            written.append(rename(relative_path))

    assert "app/services/project_service.py" in written
    assert "tests/test_projects_service.py" in written
    assert_verify_passed(project)
